//! The audit log as admins read it (the page and `GET /api/v1/audit`).

use serde::{Deserialize, Serialize};

/// One thing a person, a token or GitHub did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub id: i64,
    /// Unix milliseconds.
    pub at: i64,
    pub actor_id: Option<String>,
    /// The username then (for a sign-in, the name that was tried).
    pub actor: Option<String>,
    /// `browser`, `token` (a session token sent as a bearer), `api_key`,
    /// `github` (a webhook) or `anonymous`.
    pub source: String,
    /// What was done: `agents.save`, `executions.cancel`, `auth.login`…
    pub action: String,
    /// What it was done to, e.g. `agents/4f0c…`.
    pub target: Option<String>,
    /// `ok` or `failed`.
    pub outcome: String,
    /// The fields sent, secrets replaced by `•••`.
    pub detail: Option<serde_json::Value>,
    pub client: Option<String>,
}

/// A filter over the audit log; every field left out matches all.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema, utoipa::IntoParams))]
#[cfg_attr(feature = "ssr", into_params(parameter_in = Query))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditQuery {
    /// A username (exact, ignoring case).
    #[serde(default)]
    pub actor: Option<String>,
    /// An action, or the start of one (`agents` matches `agents.save`).
    #[serde(default)]
    pub action: Option<String>,
    /// Text the target contains (an id, say).
    #[serde(default)]
    pub target: Option<String>,
    /// From this time on (Unix ms).
    #[serde(default)]
    pub since: Option<i64>,
    /// Before this time (Unix ms).
    #[serde(default)]
    pub until: Option<i64>,
    /// Entries older than this id (the previous page's `nextBefore`).
    #[serde(default)]
    pub before: Option<i64>,
    /// 1–500 (default 100).
    #[cfg_attr(feature = "ssr", param(minimum = 1, maximum = 500))]
    #[serde(default)]
    pub limit: Option<u32>,
}

/// A page of the audit log, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next (older) page; None at the end.
    pub next_before: Option<i64>,
}

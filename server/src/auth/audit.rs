//! Audit entries for changes that do not come over HTTP (the WebSocket
//! dialects' commands: Team Dashboard's `agent:create`, nospace's run):
//! the HTTP ones are written by `crate::http::audit`'s layer.

use std::collections::BTreeMap;

use super::Principal;
use crate::db::{self, audit as store, Db};

/// Records that `who` did `action` to `target`; `detail` must hold no
/// secret. A failure to write is logged, never passed on.
pub async fn note(
    db: &Db,
    who: &Principal,
    action: &str,
    target: Option<String>,
    detail: BTreeMap<String, String>,
) {
    let row = store::AuditRow {
        id: 0,
        at: db::now_ms(),
        actor_id: Some(who.user.id.to_string()),
        actor_name: Some(who.user.username.clone()),
        source: if who.api_key.is_some() {
            "api_key"
        } else {
            "token"
        }
        .into(),
        action: action.into(),
        target,
        outcome: "ok".into(),
        detail: (!detail.is_empty())
            .then(|| serde_json::to_string(&detail).ok())
            .flatten(),
        client: None,
    };
    if let Err(e) = store::insert(db, &row).await {
        tracing::error!(error = %e, action, "audit entry not written");
    }
}

use serde::{Deserialize, Serialize};

/// A remote runner as the Runners page shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Runner {
    pub id: String,
    pub name: String,
    pub online: bool,
    pub capabilities: Vec<String>,
    pub version: String,
    pub concurrency: u32,
    /// Executions it holds that have not ended.
    pub running_tasks: u32,
    pub connected_at: Option<i64>,
    pub last_heartbeat_at: Option<i64>,
    /// Name of the token it authenticated with.
    pub token_name: String,
}

/// A runner token (the secret itself is shown once, at creation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RunnerToken {
    pub id: String,
    pub name: String,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// Answer to creating a token: the only time the secret is shown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct NewRunnerToken {
    #[serde(flatten)]
    pub info: RunnerToken,
    pub token: String,
}

/// Everything the Runners page shows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RunnersOverview {
    pub runners: Vec<Runner>,
    /// Admins only (empty for others).
    pub tokens: Vec<RunnerToken>,
    /// Whether the viewer may manage tokens.
    pub admin: bool,
    /// Seconds a runner may go without a heartbeat.
    pub lease_secs: u64,
    /// This server as a runner dials it (`ws://host:port`, from the
    /// request's Host header).
    pub server_url: String,
}

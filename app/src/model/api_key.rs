use serde::{Deserialize, Serialize};

use super::UserId;

/// An API key as lists show it (the key itself is shown once, at creation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    /// The key's first characters (`yak_1a2b3c4d`), to tell keys apart.
    pub prefix: String,
    pub user_id: UserId,
    pub username: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// Answer to creating a key: the only time the secret is shown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct NewApiKey {
    #[serde(flatten)]
    pub info: ApiKey,
    pub key: String,
}

/// The API keys page: one's own keys, or everyone's for an admin.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ApiKeysOverview {
    pub keys: Vec<ApiKey>,
    /// Whether the list holds everyone's keys (an admin's view).
    pub all_users: bool,
}

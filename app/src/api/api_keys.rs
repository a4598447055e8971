//! API keys: credentials for scripts and seed clients (`X-API-Key`,
//! `Authorization: Bearer`, CC-Anywhere's `auth`). A member manages their
//! own, an admin everyone's (the backend checks).

use leptos::prelude::*;

use super::ApiError;
use crate::model::{ApiKeysOverview, NewApiKey};

#[server(endpoint = "api-keys/overview")]
pub async fn get_api_keys() -> Result<ApiKeysOverview, ApiError> {
    super::backend()?
        .api_keys_overview(&super::request_parts()?)
        .await
}

/// Makes a key; the answer is the only time the key itself is shown.
#[server(endpoint = "api-keys/create")]
pub async fn create_api_key(name: String) -> Result<NewApiKey, ApiError> {
    super::backend()?
        .create_api_key(&super::request_parts()?, name)
        .await
}

/// Revokes a key; sockets opened with it are closed at once.
#[server(endpoint = "api-keys/revoke")]
pub async fn revoke_api_key(id: String) -> Result<(), ApiError> {
    super::backend()?
        .revoke_api_key(&super::request_parts()?, id)
        .await
}

//! Remote runners and their tokens. Seeing runners needs a signed-in user;
//! tokens are for admins (the backend checks).

use leptos::prelude::*;

use super::ApiError;
use crate::model::{NewRunnerToken, RunnersOverview};

#[server(endpoint = "runners/overview")]
pub async fn get_runners() -> Result<RunnersOverview, ApiError> {
    super::backend()?
        .runners_overview(&super::request_parts()?)
        .await
}

#[server(endpoint = "runners/tokens/create")]
pub async fn create_runner_token(name: String) -> Result<NewRunnerToken, ApiError> {
    super::backend()?
        .create_runner_token(&super::request_parts()?, name)
        .await
}

/// Revokes a token; runners connected with it are disconnected at once.
#[server(endpoint = "runners/tokens/revoke")]
pub async fn revoke_runner_token(id: String) -> Result<(), ApiError> {
    super::backend()?
        .revoke_runner_token(&super::request_parts()?, id)
        .await
}

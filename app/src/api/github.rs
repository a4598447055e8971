//! GitHub: the settings page's data, connecting repositories, testing and
//! syncing them, and the GitHub link of the signed-in user. Connecting and
//! settings need an admin; the backend checks.

use leptos::prelude::*;

use super::ApiError;
use crate::model::{
    ConnectionCheck, GithubConnectForm, GithubOverview, GithubSettings, GithubSettingsForm,
    Repository, RepositoryId, SyncReport,
};

#[server(endpoint = "github/overview")]
pub async fn get_github_overview() -> Result<GithubOverview, ApiError> {
    super::backend()?
        .github_overview(&super::request_parts()?)
        .await
}

/// Saves the settings form. Empty secret fields leave the stored secret
/// as it is; `clear_webhook_secret` removes it.
#[server(endpoint = "github/settings")]
pub async fn save_github_settings(form: GithubSettingsForm) -> Result<GithubSettings, ApiError> {
    let parts = super::request_parts()?;
    let saved = super::backend()?
        .save_github_settings(&parts, form.into_input())
        .await?;
    super::redirect_plain_form(&parts, "/settings");
    Ok(saved)
}

/// Connects a GitHub repository: a new one, or `id`.
#[server(endpoint = "github/connect")]
pub async fn connect_github_repository(
    #[server(default)] id: Option<RepositoryId>,
    form: GithubConnectForm,
) -> Result<Repository, ApiError> {
    let (name, input) = form.into_input().map_err(ApiError::Invalid)?;
    let parts = super::request_parts()?;
    let repository = super::backend()?
        .connect_repository(&parts, id, name, input)
        .await?;
    super::redirect_plain_form(&parts, "/settings");
    Ok(repository)
}

#[server(endpoint = "github/test")]
pub async fn test_github_connection(id: RepositoryId) -> Result<ConnectionCheck, ApiError> {
    super::backend()?
        .test_repository(&super::request_parts()?, id)
        .await
}

#[server(endpoint = "github/sync")]
pub async fn sync_github_repository(id: RepositoryId) -> Result<SyncReport, ApiError> {
    let parts = super::request_parts()?;
    let report = super::backend()?.sync_repository(&parts, id).await?;
    super::redirect_plain_form(&parts, "/settings");
    Ok(report)
}

#[server(endpoint = "github/keep-worktrees")]
pub async fn set_keep_worktrees(
    id: RepositoryId,
    #[server(default)] keep: Option<String>,
) -> Result<(), ApiError> {
    let parts = super::request_parts()?;
    let keep = matches!(keep.as_deref(), Some("on" | "true" | "1"));
    super::backend()?
        .set_keep_worktrees(&parts, id, keep)
        .await?;
    super::redirect_plain_form(&parts, "/settings");
    Ok(())
}

/// Whether the sign-in page offers "Sign in with GitHub".
#[server(endpoint = "github/sign-in-enabled")]
pub async fn github_sign_in_enabled() -> Result<bool, ApiError> {
    super::backend()?.github_sign_in_enabled().await
}

#[server(endpoint = "github/unlink")]
pub async fn unlink_github() -> Result<(), ApiError> {
    let parts = super::request_parts()?;
    super::backend()?.unlink_github(&parts).await?;
    super::redirect_plain_form(&parts, "/settings");
    Ok(())
}

//! GitHub: the settings page's data, connecting repositories, testing and
//! syncing them, and the GitHub link of the signed-in user. Connecting and
//! settings need an admin; the backend checks.

use leptos::prelude::*;

use super::ApiError;
use crate::model::{
    ConnectionCheck, GithubConnect, GithubOverview, GithubSettings, GithubSettingsInput,
    Repository, RepositoryId, StatusLabels, SyncReport,
};

#[server(endpoint = "github/overview")]
pub async fn get_github_overview() -> Result<GithubOverview, ApiError> {
    super::backend()?
        .github_overview(&super::request_parts()?)
        .await
}

/// Saves the settings form. Empty secret fields leave the stored secret
/// as it is; `clear_*` removes it.
#[allow(clippy::too_many_arguments)]
#[server(endpoint = "github/settings")]
pub async fn save_github_settings(
    #[server(default)] webhook_secret: String,
    #[server(default)] clear_webhook_secret: Option<String>,
    #[server(default)] public_url: String,
    #[server(default)] label_in_progress: String,
    #[server(default)] label_done: String,
    #[server(default)] label_failed: String,
    #[server(default)] oauth_client_id: String,
    #[server(default)] oauth_client_secret: String,
    #[server(default)] oauth_web_url: String,
) -> Result<GithubSettings, ApiError> {
    let input = GithubSettingsInput {
        webhook_secret: if clear_webhook_secret.is_some() {
            Some(String::new())
        } else {
            Some(webhook_secret).filter(|s| !s.trim().is_empty())
        },
        public_url: Some(public_url),
        labels: Some(StatusLabels {
            in_progress: label_in_progress,
            done: label_done,
            failed: label_failed,
        }),
        oauth_client_id: Some(oauth_client_id),
        oauth_client_secret: Some(oauth_client_secret).filter(|s| !s.trim().is_empty()),
        oauth_web_url: Some(oauth_web_url),
    };
    let parts = super::request_parts()?;
    let saved = super::backend()?
        .save_github_settings(&parts, input)
        .await?;
    super::redirect_plain_form(&parts, "/settings");
    Ok(saved)
}

/// Connects a GitHub repository: a new one named `name`, or `id`.
#[allow(clippy::too_many_arguments)]
#[server(endpoint = "github/connect")]
pub async fn connect_github_repository(
    #[server(default)] id: Option<RepositoryId>,
    #[server(default)] name: String,
    owner: String,
    repo: String,
    #[server(default)] token: String,
    #[server(default)] app_id: String,
    #[server(default)] private_key: String,
    #[server(default)] installation_id: String,
    #[server(default)] api_base_url: String,
) -> Result<Repository, ApiError> {
    let number = |field: &str, value: &str| -> Result<Option<u64>, ApiError> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(None);
        }
        value
            .parse()
            .map(Some)
            .map_err(|_| ApiError::Invalid(format!("{field} must be a number")))
    };
    let text = |v: String| Some(v.trim().to_string()).filter(|v| !v.is_empty());
    let input = GithubConnect {
        owner: owner.trim().to_string(),
        repo: repo.trim().to_string(),
        token: text(token),
        app_id: number("the App id", &app_id)?,
        private_key: text(private_key),
        installation_id: number("the installation id", &installation_id)?,
        api_base_url: text(api_base_url),
    };
    let name = if name.trim().is_empty() {
        input.repo.clone()
    } else {
        name.trim().to_string()
    };
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

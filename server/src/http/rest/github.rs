//! `/api/v1/repositories/{id}/github|test|sync`, `PATCH /repositories/{id}`
//! and `/api/v1/settings/github`. Connecting and settings need an admin
//! (they carry secrets); syncing needs a member.

use app::api::ApiError;
use app::model::{
    ConnectionCheck, GithubConnect, GithubSettings, GithubSettingsInput, Repository, RepositoryId,
    SyncReport,
};
use axum::{
    extract::{rejection::JsonRejection, Path, State},
    Json,
};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{body, openapi::ErrorBody, AuthUser, IdParam};
use crate::auth::policy::Op;
use crate::{http::error::HttpError, state::AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(read, update))
        .routes(routes!(connect))
        .routes(routes!(test))
        .routes(routes!(sync))
        .routes(routes!(settings, save_settings))
}

fn parse_id(id: &str) -> Result<RepositoryId, HttpError> {
    id.parse().map_err(|_| HttpError(ApiError::NotFound))
}

/// One repository, with the disk its checkout and worktrees use.
#[utoipa::path(get, path = "/repositories/{id}", tag = "github", params(IdParam),
    responses((status = 200, body = Repository)))]
async fn read(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Repository>, HttpError> {
    user.allow(Op::ReadGithub)?;
    Ok(Json(
        state.repositories.with_disk_usage(parse_id(&id)?).await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RepositoryPatch {
    /// Keep each execution's worktree after it ends (to look at).
    keep_worktrees: Option<bool>,
}

/// Changes a repository's settings (admins).
#[utoipa::path(patch, path = "/repositories/{id}", tag = "github", params(IdParam),
    request_body = RepositoryPatch, responses((status = 200, body = Repository)))]
async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    payload: Result<Json<RepositoryPatch>, JsonRejection>,
) -> Result<Json<Repository>, HttpError> {
    user.allow(Op::ManageGithub)?;
    let id = parse_id(&id)?;
    let patch = body(payload)?;
    if let Some(keep) = patch.keep_worktrees {
        state.repositories.set_keep_worktrees(id, keep).await?;
    }
    Ok(Json(state.repositories.with_disk_usage(id).await?))
}

/// Connects a repository to GitHub (admins): issues sync, webhooks, pull requests.
#[utoipa::path(post, path = "/repositories/{id}/github", tag = "github", params(IdParam),
    request_body = GithubConnect,
    responses((status = 200, body = Repository),
        (status = 409, description = "It mirrors another GitHub repository already, another repository mirrors that one, or it has issues of its own", body = ErrorBody)))]
async fn connect(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    payload: Result<Json<GithubConnect>, JsonRejection>,
) -> Result<Json<Repository>, HttpError> {
    user.allow(Op::ManageGithub)?;
    let id = parse_id(&id)?;
    Ok(Json(state.repositories.connect(id, body(payload)?).await?))
}

/// Checks the connection to GitHub (admins).
#[utoipa::path(post, path = "/repositories/{id}/test", tag = "github", params(IdParam),
    responses((status = 200, body = ConnectionCheck),
        (status = 409, description = "Not connected to GitHub", body = ErrorBody)))]
async fn test(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<ConnectionCheck>, HttpError> {
    user.allow(Op::ManageGithub)?;
    Ok(Json(state.repositories.test(parse_id(&id)?).await?))
}

/// Reads the repository's issues from GitHub now.
#[utoipa::path(post, path = "/repositories/{id}/sync", tag = "github", params(IdParam),
    responses((status = 200, body = SyncReport),
        (status = 409, description = "Not connected to GitHub", body = ErrorBody),
        (status = 502, description = "GitHub refused or failed", body = ErrorBody)))]
async fn sync(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<SyncReport>, HttpError> {
    user.allow(Op::SyncRepository)?;
    let id = parse_id(&id)?;
    Ok(Json(state.repositories.sync_now(id).await?))
}

/// The GitHub App / OAuth settings (admins; secrets are never shown).
#[utoipa::path(get, path = "/settings/github", tag = "github",
    responses((status = 200, body = GithubSettings)))]
async fn settings(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<GithubSettings>, HttpError> {
    user.allow(Op::ManageGithub)?;
    Ok(Json(state.github.settings().await?))
}

/// Saves the GitHub settings (admins).
#[utoipa::path(put, path = "/settings/github", tag = "github", request_body = GithubSettingsInput,
    responses((status = 200, body = GithubSettings)))]
async fn save_settings(
    State(state): State<AppState>,
    user: AuthUser,
    payload: Result<Json<GithubSettingsInput>, JsonRejection>,
) -> Result<Json<GithubSettings>, HttpError> {
    user.allow(Op::ManageGithub)?;
    Ok(Json(state.github.save_settings(body(payload)?).await?))
}

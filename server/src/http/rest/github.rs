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
    routing::{get, post},
    Json, Router,
};
use serde::Deserialize;

use super::{body, AuthUser};
use crate::auth::policy::Op;
use crate::{http::error::HttpError, state::AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/repositories/{id}", get(read).patch(update))
        .route("/repositories/{id}/github", post(connect))
        .route("/repositories/{id}/test", post(test))
        .route("/repositories/{id}/sync", post(sync))
        .route("/settings/github", get(settings).put(save_settings))
}

fn parse_id(id: &str) -> Result<RepositoryId, HttpError> {
    id.parse().map_err(|_| HttpError(ApiError::NotFound))
}

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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RepositoryPatch {
    keep_worktrees: Option<bool>,
}

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

async fn test(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<ConnectionCheck>, HttpError> {
    user.allow(Op::ManageGithub)?;
    Ok(Json(state.repositories.test(parse_id(&id)?).await?))
}

async fn sync(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<SyncReport>, HttpError> {
    user.allow(Op::SyncRepository)?;
    let id = parse_id(&id)?;
    Ok(Json(state.repositories.sync_now(id).await?))
}

async fn settings(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<GithubSettings>, HttpError> {
    user.allow(Op::ManageGithub)?;
    Ok(Json(state.github.settings().await?))
}

async fn save_settings(
    State(state): State<AppState>,
    user: AuthUser,
    payload: Result<Json<GithubSettingsInput>, JsonRejection>,
) -> Result<Json<GithubSettings>, HttpError> {
    user.allow(Op::ManageGithub)?;
    Ok(Json(state.github.save_settings(body(payload)?).await?))
}

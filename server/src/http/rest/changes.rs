//! `/api/v1/{executions,workflow-runs}/{id}/changes`: the agent's work
//! before it becomes a pull request, and discarding it.

use app::api::ApiError;
use app::model::{Changes, ChangesOf};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{openapi::ErrorBody, ApiQuery, AuthUser, IdParam};
use crate::auth::policy::Op;
use crate::worktrees::changes::ChangesError;
use crate::{http::error::HttpError, state::AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(of_execution))
        .routes(routes!(discard_execution))
        .routes(routes!(of_run))
        .routes(routes!(discard_run))
        .routes(routes!(propose_execution))
        .routes(routes!(propose_run))
}

/// What `…/changes/pull-request` answers: the pull request's address.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct Proposed {
    /// The pull request on GitHub.
    pr_url: String,
}

async fn propose(
    state: &AppState,
    of: ChangesOf,
) -> Result<(StatusCode, Json<Proposed>), HttpError> {
    let pr_url = state
        .github
        .propose(&state.worktrees, of)
        .await
        .map_err(api_error)?;
    Ok((StatusCode::CREATED, Json(Proposed { pr_url })))
}

/// Opens a pull request from a run's branch (connected repositories).
#[utoipa::path(post, path = "/executions/{id}/changes/pull-request", tag = "changes",
    params(IdParam),
    responses((status = 201, body = Proposed),
        (status = 409, description = "The run is going, has no commits, or has a pull request already", body = ErrorBody),
        (status = 502, description = "GitHub refused or failed", body = ErrorBody)))]
async fn propose_execution(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Proposed>), HttpError> {
    user.allow(Op::ControlExecution)?;
    let id = id.parse().map_err(|_| HttpError(ApiError::NotFound))?;
    propose(&state, ChangesOf::Execution(id)).await
}

/// Opens a pull request from a workflow run's branch (connected repositories).
#[utoipa::path(post, path = "/workflow-runs/{id}/changes/pull-request", tag = "changes",
    params(IdParam),
    responses((status = 201, body = Proposed),
        (status = 409, description = "The run is going, has no commits, or has a pull request already", body = ErrorBody),
        (status = 502, description = "GitHub refused or failed", body = ErrorBody)))]
async fn propose_run(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Proposed>), HttpError> {
    user.allow(Op::ControlExecution)?;
    let id = id.parse().map_err(|_| HttpError(ApiError::NotFound))?;
    propose(&state, ChangesOf::Run(id)).await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    /// Which page of file diffs (from 1; 1 if left out).
    #[param(minimum = 1)]
    page: Option<u32>,
}

fn checked(id: &str) -> Result<String, HttpError> {
    uuid::Uuid::parse_str(id)
        .map(|u| u.to_string())
        .map_err(|_| HttpError(ApiError::NotFound))
}

pub fn api_error(e: ChangesError) -> ApiError {
    match e {
        ChangesError::NotFound => ApiError::NotFound,
        ChangesError::Conflict(m) => ApiError::Conflict(m),
        ChangesError::Upstream(m) => ApiError::Upstream(m),
        ChangesError::Failed(e) => crate::error::internal("reading a branch", e),
    }
}

/// What an execution changed: its branch's commits, files and diffs.
#[utoipa::path(get, path = "/executions/{id}/changes", tag = "changes",
    params(IdParam, PageQuery), responses((status = 200, body = Changes)))]
async fn of_execution(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Changes>, HttpError> {
    user.allow(Op::ReadExecutions)?;
    let id = checked(&id)?;
    let changes = state
        .worktrees
        .changes_of_execution(&id, super::page_size("page", q.page, 1, u32::MAX)?)
        .await
        .map_err(api_error)?;
    Ok(Json(changes))
}

/// What a workflow run changed: its branch's commits, files and diffs.
#[utoipa::path(get, path = "/workflow-runs/{id}/changes", tag = "changes",
    params(IdParam, PageQuery), responses((status = 200, body = Changes)))]
async fn of_run(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Changes>, HttpError> {
    user.allow(Op::ReadExecutions)?;
    let id = checked(&id)?;
    let changes = state
        .worktrees
        .changes_of_run(&id, super::page_size("page", q.page, 1, u32::MAX)?)
        .await
        .map_err(api_error)?;
    Ok(Json(changes))
}

/// Deletes an execution's branch and kept worktree.
#[utoipa::path(post, path = "/executions/{id}/changes/discard", tag = "changes",
    params(IdParam),
    responses((status = 204, description = "Discarded"),
        (status = 409, description = "The run is going, a pull request was opened, or the branch is gone", body = ErrorBody)))]
async fn discard_execution(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, HttpError> {
    user.allow(Op::ControlExecution)?;
    let id = checked(&id)?;
    state
        .worktrees
        .discard_execution(&id)
        .await
        .map_err(api_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a workflow run's branch.
#[utoipa::path(post, path = "/workflow-runs/{id}/changes/discard", tag = "changes",
    params(IdParam),
    responses((status = 204, description = "Discarded"),
        (status = 409, description = "The run is going, a pull request was opened, or the branch is gone", body = ErrorBody)))]
async fn discard_run(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, HttpError> {
    user.allow(Op::ControlExecution)?;
    let id = checked(&id)?;
    state.worktrees.discard_run(&id).await.map_err(api_error)?;
    Ok(StatusCode::NO_CONTENT)
}

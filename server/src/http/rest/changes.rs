//! `/api/v1/{executions,workflow-runs}/{id}/changes`: the agent's work
//! before it becomes a pull request, and discarding it.

use app::api::ApiError;
use app::model::{Changes, ChangesOf};
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    routing::{get, post},
    Json, Router,
};
use serde::Deserialize;

use super::AuthUser;
use crate::auth::policy::Op;
use crate::worktrees::changes::ChangesError;
use crate::{http::error::HttpError, state::AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/executions/{id}/changes", get(of_execution))
        .route("/executions/{id}/changes/discard", post(discard_execution))
        .route("/workflow-runs/{id}/changes", get(of_run))
        .route("/workflow-runs/{id}/changes/discard", post(discard_run))
        .route(
            "/executions/{id}/changes/pull-request",
            post(propose_execution),
        )
        .route(
            "/workflow-runs/{id}/changes/pull-request",
            post(propose_run),
        )
}

/// What `…/changes/pull-request` answers: the pull request's address.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Proposed {
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

async fn propose_execution(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Proposed>), HttpError> {
    user.allow(Op::ControlExecution)?;
    let id = id.parse().map_err(|_| HttpError(ApiError::NotFound))?;
    propose(&state, ChangesOf::Execution(id)).await
}

async fn propose_run(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Proposed>), HttpError> {
    user.allow(Op::ControlExecution)?;
    let id = id.parse().map_err(|_| HttpError(ApiError::NotFound))?;
    propose(&state, ChangesOf::Run(id)).await
}

#[derive(Debug, Deserialize)]
struct PageQuery {
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

async fn of_execution(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Changes>, HttpError> {
    user.allow(Op::ReadExecutions)?;
    let id = checked(&id)?;
    let changes = state
        .worktrees
        .changes_of_execution(&id, q.page.unwrap_or(1))
        .await
        .map_err(api_error)?;
    Ok(Json(changes))
}

async fn of_run(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Changes>, HttpError> {
    user.allow(Op::ReadExecutions)?;
    let id = checked(&id)?;
    let changes = state
        .worktrees
        .changes_of_run(&id, q.page.unwrap_or(1))
        .await
        .map_err(api_error)?;
    Ok(Json(changes))
}

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

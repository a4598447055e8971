//! `/api/v1/workflows` and `/api/v1/workflow-runs`. Reading needs a
//! signed-in user; defining workflows needs an admin; starting, approving,
//! rejecting, cancelling and re-running needs a member.

use app::api::ApiError;
use app::model::{
    RunAction, StepRef, Workflow, WorkflowEvent, WorkflowId, WorkflowInput, WorkflowRun,
    WorkflowRunId, WorkflowRunSummary,
};
use axum::{
    extract::{rejection::JsonRejection, Path, Query, State},
    http::StatusCode,
    routing::{get, post},
    Json, Router,
};
use serde::Deserialize;

use super::{body, AuthUser};
use crate::auth::policy::Op;
use crate::{db::workflows::RunFilter, http::error::HttpError, state::AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/workflows", get(list).post(create))
        .route("/workflows/{id}", get(read).put(update).delete(remove))
        .route("/workflows/{id}/runs", post(start))
        .route("/workflow-runs", get(list_runs))
        .route("/workflow-runs/{id}", get(read_run))
        .route("/workflow-runs/{id}/events", get(history))
        .route("/workflow-runs/{id}/approve", post(approve))
        .route("/workflow-runs/{id}/reject", post(reject))
        .route("/workflow-runs/{id}/cancel", post(cancel))
        .route("/workflow-runs/{id}/rerun", post(rerun))
}

fn workflow_id(id: &str) -> Result<WorkflowId, HttpError> {
    id.parse().map_err(|_| HttpError(ApiError::NotFound))
}

fn run_id(id: &str) -> Result<WorkflowRunId, HttpError> {
    id.parse().map_err(|_| HttpError(ApiError::NotFound))
}

async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<Workflow>>, HttpError> {
    user.allow(Op::ReadWorkflows)?;
    Ok(Json(state.workflows.list().await?))
}

async fn read(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Workflow>, HttpError> {
    user.allow(Op::ReadWorkflows)?;
    Ok(Json(state.workflows.get(workflow_id(&id)?).await?))
}

async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    payload: Result<Json<WorkflowInput>, JsonRejection>,
) -> Result<(StatusCode, Json<Workflow>), HttpError> {
    user.allow(Op::ManageWorkflows)?;
    let input = body(payload)?;
    Ok((
        StatusCode::CREATED,
        Json(state.workflows.save(None, input).await?),
    ))
}

async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    payload: Result<Json<WorkflowInput>, JsonRejection>,
) -> Result<Json<Workflow>, HttpError> {
    user.allow(Op::ManageWorkflows)?;
    let input = body(payload)?;
    Ok(Json(
        state.workflows.save(Some(workflow_id(&id)?), input).await?,
    ))
}

async fn remove(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, HttpError> {
    user.allow(Op::ManageWorkflows)?;
    state.workflows.delete(workflow_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartRun {
    #[serde(default)]
    issue_id: Option<String>,
}

async fn start(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    payload: Option<Json<StartRun>>,
) -> Result<(StatusCode, Json<WorkflowRun>), HttpError> {
    let me = user.allow(Op::StartWorkflow)?;
    let input = payload.map(|Json(p)| p).unwrap_or_default();
    let workflow = state.workflows.get(workflow_id(&id)?).await?;
    let issue = match input.issue_id.as_deref() {
        Some(issue) => {
            let issue = issue.parse().map_err(|_| {
                HttpError(ApiError::Invalid(format!("{issue:?} is not an issue id")))
            })?;
            match state.issues.find_row(issue).await {
                Err(ApiError::NotFound) => {
                    return Err(HttpError(ApiError::Invalid(
                        "there is no issue with that id".into(),
                    )))
                }
                other => Some(other?),
            }
        }
        None => None,
    };
    let run = state
        .workflows
        .start_run(&workflow, issue, &me.username)
        .await?;
    Ok((StatusCode::CREATED, Json(run)))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RunQuery {
    workflow_id: Option<String>,
    issue_id: Option<String>,
    #[serde(default)]
    active: bool,
}

async fn list_runs(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<RunQuery>,
) -> Result<Json<Vec<WorkflowRunSummary>>, HttpError> {
    user.allow(Op::ReadWorkflows)?;
    Ok(Json(
        state
            .workflows
            .list_runs(&RunFilter {
                workflow_id: q.workflow_id,
                issue_id: q.issue_id,
                active: q.active,
            })
            .await?,
    ))
}

async fn read_run(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<WorkflowRun>, HttpError> {
    user.allow(Op::ReadWorkflows)?;
    Ok(Json(state.workflows.get_run(run_id(&id)?).await?))
}

#[derive(Debug, Deserialize)]
struct Since {
    since: Option<u64>,
}

/// The run's history (its event stream), after `since` if given.
async fn history(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    Query(q): Query<Since>,
) -> Result<Json<Vec<WorkflowEvent>>, HttpError> {
    user.allow(Op::ReadWorkflows)?;
    let since = q.since.unwrap_or(0);
    let events = state.workflows.history(run_id(&id)?).await?;
    Ok(Json(events.into_iter().filter(|e| e.seq > since).collect()))
}

async fn act(
    state: &AppState,
    user: &AuthUser,
    id: &str,
    action: RunAction,
) -> Result<WorkflowRun, HttpError> {
    let me = user.allow(Op::ActOnRun)?;
    Ok(state
        .workflows
        .act(run_id(id)?, action, &me.username)
        .await?)
}

async fn approve(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    payload: Result<Json<StepRef>, JsonRejection>,
) -> Result<Json<WorkflowRun>, HttpError> {
    let StepRef { stage, index } = body(payload)?;
    let run = act(&state, &user, &id, RunAction::Approve { stage, index }).await?;
    Ok(Json(run))
}

async fn reject(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    payload: Result<Json<StepRef>, JsonRejection>,
) -> Result<Json<WorkflowRun>, HttpError> {
    let StepRef { stage, index } = body(payload)?;
    let run = act(&state, &user, &id, RunAction::Reject { stage, index }).await?;
    Ok(Json(run))
}

async fn cancel(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<WorkflowRun>, HttpError> {
    Ok(Json(act(&state, &user, &id, RunAction::Cancel).await?))
}

/// Starts a new run that reuses the results of the steps before this one.
async fn rerun(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    payload: Result<Json<StepRef>, JsonRejection>,
) -> Result<(StatusCode, Json<WorkflowRun>), HttpError> {
    let step = body(payload)?;
    let action = RunAction::RerunFrom {
        stage: step.stage,
        index: step.index,
    };
    Ok((
        StatusCode::CREATED,
        Json(act(&state, &user, &id, action).await?),
    ))
}

//! `/api/v1/workflows` and `/api/v1/workflow-runs`. Reading needs a
//! signed-in user; defining workflows needs an admin; starting, approving,
//! rejecting, cancelling and re-running needs a member.

use app::api::ApiError;
use app::model::{
    RunAction, StepRef, Workflow, WorkflowEvent, WorkflowId, WorkflowInput, WorkflowRun,
    WorkflowRunId, WorkflowRunSummary,
};
use axum::{
    extract::{rejection::JsonRejection, Path, State},
    http::StatusCode,
    Json,
};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{body, openapi::ErrorBody, ApiQuery, AuthUser, IdParam};
use crate::auth::policy::Op;
use crate::{db::workflows::RunFilter, http::error::HttpError, state::AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
        .routes(routes!(start))
        .routes(routes!(list_runs))
        .routes(routes!(read_run))
        .routes(routes!(history))
        .routes(routes!(approve))
        .routes(routes!(reject))
        .routes(routes!(cancel))
        .routes(routes!(rerun))
}

fn workflow_id(id: &str) -> Result<WorkflowId, HttpError> {
    id.parse().map_err(|_| HttpError(ApiError::NotFound))
}

fn run_id(id: &str) -> Result<WorkflowRunId, HttpError> {
    id.parse().map_err(|_| HttpError(ApiError::NotFound))
}

/// Every workflow.
#[utoipa::path(get, path = "/workflows", tag = "workflows",
    responses((status = 200, body = Vec<Workflow>)))]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<Workflow>>, HttpError> {
    user.allow(Op::ReadWorkflows)?;
    Ok(Json(state.workflows.list().await?))
}

/// One workflow.
#[utoipa::path(get, path = "/workflows/{id}", tag = "workflows", params(IdParam),
    responses((status = 200, body = Workflow)))]
async fn read(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Workflow>, HttpError> {
    user.allow(Op::ReadWorkflows)?;
    Ok(Json(state.workflows.get(workflow_id(&id)?).await?))
}

/// Defines a workflow (admins).
#[utoipa::path(post, path = "/workflows", tag = "workflows", request_body = WorkflowInput,
    responses((status = 201, body = Workflow),
        (status = 409, description = "The name is taken", body = ErrorBody)))]
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

/// Replaces a workflow's definition (admins); runs going keep the old one.
#[utoipa::path(put, path = "/workflows/{id}", tag = "workflows", params(IdParam),
    request_body = WorkflowInput,
    responses((status = 200, body = Workflow),
        (status = 409, description = "The name is taken", body = ErrorBody)))]
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

/// Deletes a workflow (admins).
#[utoipa::path(delete, path = "/workflows/{id}", tag = "workflows", params(IdParam),
    responses((status = 204, description = "Deleted")))]
async fn remove(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, HttpError> {
    user.allow(Op::ManageWorkflows)?;
    state.workflows.delete(workflow_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct StartRun {
    /// The issue to run on (its title and body fill the prompts).
    #[schema(format = Uuid)]
    #[serde(default)]
    issue_id: Option<String>,
}

/// Starts a run of a workflow, on an issue or on none (the body is optional).
#[utoipa::path(post, path = "/workflows/{id}/runs", tag = "workflows", params(IdParam),
    request_body = Option<StartRun>,
    responses((status = 201, body = WorkflowRun),
        (status = 409, description = "The server is shutting down", body = ErrorBody)))]
async fn start(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    payload: Result<Option<Json<StartRun>>, JsonRejection>,
) -> Result<(StatusCode, Json<WorkflowRun>), HttpError> {
    let me = user.allow(Op::StartWorkflow)?;
    let input = match payload {
        Ok(p) => p.map(|Json(p)| p).unwrap_or_default(),
        Err(e) => return Err(HttpError(ApiError::Invalid(e.body_text()))),
    };
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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
struct RunQuery {
    /// Only runs of this workflow (its id; empty: all).
    #[param(
        pattern = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"
    )]
    workflow_id: Option<String>,
    /// Only runs on this issue (its id; empty: all).
    #[param(
        pattern = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"
    )]
    issue_id: Option<String>,
    /// Only runs that have not ended.
    #[serde(default)]
    active: bool,
}

/// Workflow runs, newest first.
#[utoipa::path(get, path = "/workflow-runs", tag = "workflows", params(RunQuery),
    responses((status = 200, body = Vec<WorkflowRunSummary>)))]
async fn list_runs(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<RunQuery>,
) -> Result<Json<Vec<WorkflowRunSummary>>, HttpError> {
    user.allow(Op::ReadWorkflows)?;
    Ok(Json(
        state
            .workflows
            .list_runs(&RunFilter {
                workflow_id: super::uuid_filter("workflowId", q.workflow_id.as_deref())?,
                issue_id: super::uuid_filter("issueId", q.issue_id.as_deref())?,
                active: q.active,
            })
            .await?,
    ))
}

/// One workflow run, with its steps.
#[utoipa::path(get, path = "/workflow-runs/{id}", tag = "workflows", params(IdParam),
    responses((status = 200, body = WorkflowRun)))]
async fn read_run(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<WorkflowRun>, HttpError> {
    user.allow(Op::ReadWorkflows)?;
    Ok(Json(state.workflows.get_run(run_id(&id)?).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct Since {
    /// Events after this `seq` (all if left out).
    since: Option<u64>,
}

/// The run's history (its event stream), after `since` if given.
#[utoipa::path(get, path = "/workflow-runs/{id}/events", tag = "workflows",
    params(IdParam, Since), responses((status = 200, body = Vec<WorkflowEvent>)))]
async fn history(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<Since>,
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

/// Approves a step that waits for approval.
#[utoipa::path(post, path = "/workflow-runs/{id}/approve", tag = "workflows", params(IdParam),
    request_body = StepRef,
    responses((status = 200, body = WorkflowRun),
        (status = 409, description = "That step does not wait for approval", body = ErrorBody)))]
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

/// Rejects a step that waits for approval; the run ends rejected.
#[utoipa::path(post, path = "/workflow-runs/{id}/reject", tag = "workflows", params(IdParam),
    request_body = StepRef,
    responses((status = 200, body = WorkflowRun),
        (status = 409, description = "That step does not wait for approval", body = ErrorBody)))]
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

/// Cancels a run and its steps going.
#[utoipa::path(post, path = "/workflow-runs/{id}/cancel", tag = "workflows", params(IdParam),
    responses((status = 200, body = WorkflowRun),
        (status = 409, description = "The run has ended", body = ErrorBody)))]
async fn cancel(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<WorkflowRun>, HttpError> {
    Ok(Json(act(&state, &user, &id, RunAction::Cancel).await?))
}

/// Starts a new run that reuses the results of the steps before this one.
#[utoipa::path(post, path = "/workflow-runs/{id}/rerun", tag = "workflows", params(IdParam),
    request_body = StepRef,
    responses((status = 201, body = WorkflowRun),
        (status = 409, description = "The run has not ended", body = ErrorBody)))]
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

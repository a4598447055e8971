//! Workflow definitions and runs. Reading needs a signed-in user; defining
//! workflows needs an admin; starting, approving and cancelling runs needs
//! a member (the backend checks).

use leptos::prelude::*;

use super::ApiError;
use crate::model::{
    RunAction, Workflow, WorkflowEvent, WorkflowId, WorkflowInput, WorkflowRun, WorkflowRunId,
    WorkflowRunSummary,
};

#[server(endpoint = "workflows/list")]
pub async fn list_workflows() -> Result<Vec<Workflow>, ApiError> {
    super::backend()?
        .list_workflows(&super::request_parts()?)
        .await
}

#[server(endpoint = "workflows/get")]
pub async fn get_workflow(id: WorkflowId) -> Result<Workflow, ApiError> {
    super::backend()?
        .get_workflow(&super::request_parts()?, id)
        .await
}

/// Creates (no `id`) or replaces a workflow.
#[server(endpoint = "workflows/save")]
pub async fn save_workflow(
    id: Option<WorkflowId>,
    input: WorkflowInput,
) -> Result<Workflow, ApiError> {
    super::backend()?
        .save_workflow(&super::request_parts()?, id, input)
        .await
}

#[server(endpoint = "workflows/delete")]
pub async fn delete_workflow(id: WorkflowId) -> Result<(), ApiError> {
    super::backend()?
        .delete_workflow(&super::request_parts()?, id)
        .await
}

/// Starts a run of a workflow, on an issue or on none (`issue_id` absent
/// or empty: a form's "No issue").
#[server(endpoint = "workflows/run")]
pub async fn start_workflow(
    workflow_id: WorkflowId,
    issue_id: Option<String>,
) -> Result<WorkflowRun, ApiError> {
    let issue_id = match issue_id.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(id) => Some(
            id.parse::<crate::model::IssueId>()
                .map_err(|_| ApiError::Invalid(format!("{id:?} is not an issue id")))?,
        ),
    };
    let parts = super::request_parts()?;
    let run = super::backend()?
        .start_workflow(&parts, workflow_id, issue_id)
        .await?;
    super::redirect_plain_form(&parts, &format!("/workflow-runs/{}", run.id));
    Ok(run)
}

/// Runs, newest first; only those of one workflow when given.
#[server(endpoint = "workflow-runs/list")]
pub async fn list_workflow_runs(
    workflow_id: Option<WorkflowId>,
) -> Result<Vec<WorkflowRunSummary>, ApiError> {
    super::backend()?
        .list_workflow_runs(&super::request_parts()?, workflow_id)
        .await
}

#[server(endpoint = "workflow-runs/get")]
pub async fn get_workflow_run(id: WorkflowRunId) -> Result<WorkflowRun, ApiError> {
    super::backend()?
        .get_workflow_run(&super::request_parts()?, id)
        .await
}

/// The run's history: every state change with time and actor.
#[server(endpoint = "workflow-runs/history")]
pub async fn workflow_run_history(id: WorkflowRunId) -> Result<Vec<WorkflowEvent>, ApiError> {
    super::backend()?
        .workflow_run_history(&super::request_parts()?, id)
        .await
}

/// Approve, reject, cancel, or re-run from a step (which answers with the
/// new run).
#[server(endpoint = "workflow-runs/act")]
pub async fn act_on_run(id: WorkflowRunId, action: RunAction) -> Result<WorkflowRun, ApiError> {
    let parts = super::request_parts()?;
    let run = super::backend()?.act_on_run(&parts, id, action).await?;
    super::redirect_plain_form(&parts, &format!("/workflow-runs/{}", run.id));
    Ok(run)
}

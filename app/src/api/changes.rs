//! The agent's work before it becomes a pull request: a run's branch,
//! its files and diffs, opening a pull request from it, and discarding it.

use leptos::prelude::*;

use super::ApiError;
use crate::model::{Changes, ExecutionId, WorkflowRunId};

#[server(endpoint = "changes/execution")]
pub async fn execution_changes(id: ExecutionId, page: u32) -> Result<Changes, ApiError> {
    super::backend()?
        .changes(
            &super::request_parts()?,
            crate::model::ChangesOf::Execution(id),
            page,
        )
        .await
}

#[server(endpoint = "changes/run")]
pub async fn run_changes(id: WorkflowRunId, page: u32) -> Result<Changes, ApiError> {
    super::backend()?
        .changes(
            &super::request_parts()?,
            crate::model::ChangesOf::Run(id),
            page,
        )
        .await
}

/// Deletes an ended execution's branch (a plain form comes back to the page).
#[server(endpoint = "changes/execution/discard")]
pub async fn discard_execution_changes(id: ExecutionId) -> Result<(), ApiError> {
    let of = crate::model::ChangesOf::Execution(id);
    let parts = super::request_parts()?;
    super::backend()?.discard_changes(&parts, of).await?;
    super::redirect_plain_form(&parts, &of.href(1));
    Ok(())
}

/// Deletes an ended workflow run's branch.
#[server(endpoint = "changes/run/discard")]
pub async fn discard_run_changes(id: WorkflowRunId) -> Result<(), ApiError> {
    let of = crate::model::ChangesOf::Run(id);
    let parts = super::request_parts()?;
    super::backend()?.discard_changes(&parts, of).await?;
    super::redirect_plain_form(&parts, &of.href(1));
    Ok(())
}

/// Opens a pull request from an ended agent run's branch (a plain form
/// comes back to the page, which links it).
#[server(endpoint = "changes/execution/pull-request")]
pub async fn open_execution_pull_request(id: ExecutionId) -> Result<String, ApiError> {
    let of = crate::model::ChangesOf::Execution(id);
    let parts = super::request_parts()?;
    let url = super::backend()?.open_pull_request(&parts, of).await?;
    super::redirect_plain_form(&parts, &of.href(1));
    Ok(url)
}

/// Opens a pull request from an ended workflow run's branch.
#[server(endpoint = "changes/run/pull-request")]
pub async fn open_run_pull_request(id: WorkflowRunId) -> Result<String, ApiError> {
    let of = crate::model::ChangesOf::Run(id);
    let parts = super::request_parts()?;
    let url = super::backend()?.open_pull_request(&parts, of).await?;
    super::redirect_plain_form(&parts, &of.href(1));
    Ok(url)
}

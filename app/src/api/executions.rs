//! Executions: start, list, read, control, stdin, and the dashboard.

use leptos::prelude::*;

use super::ApiError;
use crate::model::{
    AgentId, Dashboard, Execution, ExecutionAction, ExecutionId, ExecutionPage, ExecutionQuery,
    IssueId,
};

#[server(endpoint = "executions/start")]
pub async fn start_execution(
    agent_id: AgentId,
    prompt: String,
    #[server(default)] issue_id: Option<IssueId>,
) -> Result<Execution, ApiError> {
    let parts = super::request_parts()?;
    let execution = super::backend()?
        .start_execution(&parts, agent_id, prompt, issue_id)
        .await?;
    super::redirect_plain_form(&parts, &format!("/executions/{}", execution.id));
    Ok(execution)
}

#[server(endpoint = "executions/list")]
pub async fn list_executions(query: ExecutionQuery) -> Result<ExecutionPage, ApiError> {
    super::backend()?
        .list_executions(&super::request_parts()?, query)
        .await
}

#[server(endpoint = "executions/get")]
pub async fn get_execution(id: ExecutionId) -> Result<Execution, ApiError> {
    super::backend()?
        .get_execution(&super::request_parts()?, id)
        .await
}

#[server(endpoint = "executions/control")]
pub async fn control_execution(id: ExecutionId, action: ExecutionAction) -> Result<(), ApiError> {
    super::backend()?
        .control_execution(&super::request_parts()?, id, action)
        .await
}

/// Writes to a running process's input; `echo`: shown in its log too.
#[server(endpoint = "executions/stdin")]
pub async fn send_stdin(id: ExecutionId, data: String, echo: bool) -> Result<(), ApiError> {
    super::backend()?
        .send_stdin(&super::request_parts()?, id, data, echo)
        .await
}

#[server(endpoint = "dashboard")]
pub async fn get_dashboard() -> Result<Dashboard, ApiError> {
    super::backend()?.dashboard(&super::request_parts()?).await
}

/// The last `limit` output lines of an execution (at most 1,000 lines and
/// 256 KiB), and whether they are all of it.
#[server(endpoint = "executions/log-tail")]
pub async fn execution_log_tail(
    id: ExecutionId,
    limit: u32,
) -> Result<crate::model::LogTail, ApiError> {
    super::backend()?
        .execution_log_tail(&super::request_parts()?, id, limit)
        .await
}

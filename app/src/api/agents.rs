//! Agent definitions. Reading needs a signed-in user; defining what the
//! server runs needs an admin (the backend checks).

use leptos::prelude::*;

use super::ApiError;
use crate::model::{Agent, AgentId, AgentInput, AgentStats, ProgramCheck};

#[server(endpoint = "agents/list")]
pub async fn list_agents() -> Result<Vec<Agent>, ApiError> {
    super::backend()?
        .list_agents(&super::request_parts()?)
        .await
}

#[server(endpoint = "agents/get")]
pub async fn get_agent(id: AgentId) -> Result<Agent, ApiError> {
    super::backend()?
        .get_agent(&super::request_parts()?, id)
        .await
}

/// Creates (no `id`) or replaces an agent. The form sends the command one
/// argument per line and the environment as `KEY=VALUE` lines.
#[server(endpoint = "agents/save")]
pub async fn save_agent(id: Option<AgentId>, input: AgentInput) -> Result<Agent, ApiError> {
    super::backend()?
        .save_agent(&super::request_parts()?, id, input)
        .await
}

#[server(endpoint = "agents/delete")]
pub async fn delete_agent(id: AgentId) -> Result<(), ApiError> {
    super::backend()?
        .delete_agent(&super::request_parts()?, id)
        .await
}

/// Whether the command's program can start on this server: found on the
/// agent's `PATH` (its environment's, else the server's) and executable.
#[server(endpoint = "agents/check-program")]
pub async fn check_program(
    command: Vec<String>,
    path: Option<String>,
) -> Result<ProgramCheck, ApiError> {
    super::backend()?
        .check_program(&super::request_parts()?, command, path)
        .await
}

/// Each agent's runs, success rate, mean duration and latest status.
#[server(endpoint = "agents/stats")]
pub async fn get_agent_stats() -> Result<Vec<AgentStats>, ApiError> {
    super::backend()?
        .agent_stats(&super::request_parts()?)
        .await
}

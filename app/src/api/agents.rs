//! Agent definitions. Reading needs a signed-in user; defining what the
//! server runs needs an admin (the backend checks).

use leptos::prelude::*;

use super::ApiError;
use crate::model::{Agent, AgentId, AgentInput};

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

//! `/api/v1/agents`: agent definitions. Reading needs a signed-in user;
//! defining what the server runs needs an admin.

use app::model::{Agent, AgentId, AgentInput};
use axum::{
    extract::{rejection::JsonRejection, Path, State},
    http::StatusCode,
    Json,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{body, AuthUser};
use crate::auth::policy::Op;
use crate::{agents, http::error::HttpError, state::AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
}

fn parse_id(id: &str) -> Result<AgentId, HttpError> {
    id.parse()
        .map_err(|_| HttpError(app::api::ApiError::NotFound))
}

/// Every agent definition.
#[utoipa::path(get, path = "/agents", tag = "agents",
    responses((status = 200, body = Vec<Agent>)))]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<Agent>>, HttpError> {
    user.allow(Op::ReadAgents)?;
    Ok(Json(agents::list(&state.db).await?))
}

/// One agent definition.
#[utoipa::path(get, path = "/agents/{id}", tag = "agents", params(super::IdParam),
    responses((status = 200, body = Agent)))]
async fn read(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Agent>, HttpError> {
    user.allow(Op::ReadAgents)?;
    Ok(Json(agents::view(&state.db, parse_id(&id)?).await?))
}

/// Defines an agent (admins).
#[utoipa::path(post, path = "/agents", tag = "agents", request_body = AgentInput,
    responses((status = 201, body = Agent),
        (status = 409, description = "The name is taken", body = super::openapi::ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    payload: Result<Json<AgentInput>, JsonRejection>,
) -> Result<(StatusCode, Json<Agent>), HttpError> {
    user.allow(Op::ManageAgents)?;
    let input = body(payload)?;
    Ok((
        StatusCode::CREATED,
        Json(agents::create(&state.db, &state.sealer, &input).await?),
    ))
}

/// Replaces an agent's definition (admins).
#[utoipa::path(put, path = "/agents/{id}", tag = "agents", params(super::IdParam),
    request_body = AgentInput,
    responses((status = 200, body = Agent),
        (status = 409, description = "The name is taken", body = super::openapi::ErrorBody)))]
async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    payload: Result<Json<AgentInput>, JsonRejection>,
) -> Result<Json<Agent>, HttpError> {
    user.allow(Op::ManageAgents)?;
    let input = body(payload)?;
    Ok(Json(
        agents::update(&state.db, &state.sealer, parse_id(&id)?, &input).await?,
    ))
}

/// Deletes an agent definition (admins); its runs are kept.
#[utoipa::path(delete, path = "/agents/{id}", tag = "agents", params(super::IdParam),
    responses((status = 204, description = "Deleted")))]
async fn remove(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, HttpError> {
    user.allow(Op::ManageAgents)?;
    agents::delete(&state.db, parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

//! `/api/v1/agents`: agent definitions. Reading needs a signed-in user;
//! defining what the server runs needs an admin.

use app::model::{Agent, AgentId, AgentInput};
use axum::{
    extract::{rejection::JsonRejection, Path, State},
    http::StatusCode,
    routing::get,
    Json, Router,
};

use super::{body, AuthUser};
use crate::auth::policy::Op;
use crate::{agents, http::error::HttpError, state::AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/agents", get(list).post(create))
        .route("/agents/{id}", get(read).put(update).delete(remove))
}

fn parse_id(id: &str) -> Result<AgentId, HttpError> {
    id.parse()
        .map_err(|_| HttpError(app::api::ApiError::NotFound))
}

async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<Agent>>, HttpError> {
    user.allow(Op::ReadAgents)?;
    Ok(Json(agents::list(&state.db).await?))
}

async fn read(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Agent>, HttpError> {
    user.allow(Op::ReadAgents)?;
    Ok(Json(agents::view(&state.db, parse_id(&id)?).await?))
}

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

async fn remove(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, HttpError> {
    user.allow(Op::ManageAgents)?;
    agents::delete(&state.db, parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

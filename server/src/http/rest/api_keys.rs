//! `/api/v1/api-keys`: a member's own keys (an admin's: everyone's).
//! Creating answers the key once; revoking closes the sockets it opened.

use app::model::{ApiKey, NewApiKey};
use axum::{
    extract::{rejection::JsonRejection, Path, State},
    http::StatusCode,
    routing::{delete, get},
    Json, Router,
};
use serde::Deserialize;

use super::{body, AuthUser};
use crate::auth::{api_keys, policy::Op};
use crate::{http::error::HttpError, state::AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api-keys", get(list).post(create))
        .route("/api-keys/{id}", delete(revoke))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateKey {
    name: String,
}

async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<ApiKey>>, HttpError> {
    let me = user.allow(Op::ManageApiKeys)?;
    Ok(Json(api_keys::list(&state.db, me).await?))
}

async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    payload: Result<Json<CreateKey>, JsonRejection>,
) -> Result<(StatusCode, Json<NewApiKey>), HttpError> {
    let me = user.allow(Op::ManageApiKeys)?;
    let input = body(payload)?;
    Ok((
        StatusCode::CREATED,
        Json(api_keys::create(&state.db, me, &input.name).await?),
    ))
}

async fn revoke(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, HttpError> {
    let me = user.allow(Op::ManageApiKeys)?;
    api_keys::revoke(&state.db, me, &id).await?;
    state.auth.connections.end_api_key(&id);
    Ok(StatusCode::NO_CONTENT)
}

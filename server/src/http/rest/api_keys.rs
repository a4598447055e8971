//! `/api/v1/api-keys`: a member's own keys (an admin's: everyone's).
//! Creating answers the key once; revoking closes the sockets it opened.

use app::model::{ApiKey, NewApiKey};
use axum::{
    extract::{rejection::JsonRejection, Path, State},
    http::StatusCode,
    Json,
};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{body, AuthUser};
use crate::auth::{api_keys, policy::Op};
use crate::{http::error::HttpError, state::AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(revoke))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct CreateKey {
    /// What the key is for, shown in the list.
    name: String,
}

/// Your API keys (an admin sees everyone's); never the secrets.
#[utoipa::path(get, path = "/api-keys", tag = "team",
    responses((status = 200, body = Vec<ApiKey>)))]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<ApiKey>>, HttpError> {
    let me = user.allow(Op::ManageApiKeys)?;
    Ok(Json(api_keys::list(&state.db, me).await?))
}

/// Makes an API key; the answer holds the key, shown only this once.
#[utoipa::path(post, path = "/api-keys", tag = "team", request_body = CreateKey,
    responses((status = 201, body = NewApiKey)))]
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

/// Revokes a key; the sockets it opened close.
#[utoipa::path(delete, path = "/api-keys/{id}", tag = "team", params(super::IdParam),
    responses((status = 204, description = "Revoked"),
        (status = 409, description = "Revoked already", body = super::openapi::ErrorBody)))]
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

//! `/api/v1/runners` and `/api/v1/runner-tokens`. Seeing runners needs a
//! signed-in user; tokens are for admins.

use app::api::ApiError;
use app::model::{NewRunnerToken, Runner, RunnerToken};
use axum::{
    extract::{rejection::JsonRejection, Path, State},
    http::StatusCode,
    Json,
};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{body, AuthUser, IdParam};
use crate::auth::policy::Op;
use crate::{http::error::HttpError, state::AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(tokens, create_token))
        .routes(routes!(revoke))
}

/// Remote runners that have connected, online or not.
#[utoipa::path(get, path = "/runners", tag = "runners",
    responses((status = 200, body = Vec<Runner>)))]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<Runner>>, HttpError> {
    user.allow(Op::ReadRunners)?;
    Ok(Json(state.runners.list().await?))
}

/// Runner tokens (admins); never the secrets.
#[utoipa::path(get, path = "/runner-tokens", tag = "runners",
    responses((status = 200, body = Vec<RunnerToken>)))]
async fn tokens(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<RunnerToken>>, HttpError> {
    user.allow(Op::ManageRunnerTokens)?;
    Ok(Json(state.runners.tokens().await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct NewToken {
    /// What the token is for, shown in the list.
    name: String,
}

/// Makes a runner token (admins); 201 with the token: the only time it is shown.
#[utoipa::path(post, path = "/runner-tokens", tag = "runners", request_body = NewToken,
    responses((status = 201, body = NewRunnerToken)))]
async fn create_token(
    State(state): State<AppState>,
    user: AuthUser,
    payload: Result<Json<NewToken>, JsonRejection>,
) -> Result<(StatusCode, Json<NewRunnerToken>), HttpError> {
    let me = user.allow(Op::ManageRunnerTokens)?;
    let input = body(payload)?;
    Ok((
        StatusCode::CREATED,
        Json(
            state
                .runners
                .create_token(&input.name, &me.username)
                .await?,
        ),
    ))
}

/// Revokes the token; runners using it are disconnected at once.
#[utoipa::path(delete, path = "/runner-tokens/{id}", tag = "runners", params(IdParam),
    responses((status = 204, description = "Revoked")))]
async fn revoke(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, HttpError> {
    user.allow(Op::ManageRunnerTokens)?;
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(HttpError(ApiError::NotFound));
    }
    state.runners.revoke_token(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

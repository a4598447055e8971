//! `/api/v1/runners` and `/api/v1/runner-tokens`. Seeing runners needs a
//! signed-in user; tokens are for admins.

use app::api::ApiError;
use app::model::{NewRunnerToken, Runner, RunnerToken};
use axum::{
    extract::{rejection::JsonRejection, Path, State},
    http::StatusCode,
    routing::{delete, get},
    Json, Router,
};
use serde::Deserialize;

use super::{body, AuthUser};
use crate::auth::policy::Op;
use crate::{http::error::HttpError, state::AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/runners", get(list))
        .route("/runner-tokens", get(tokens).post(create_token))
        .route("/runner-tokens/{id}", delete(revoke))
}

async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<Runner>>, HttpError> {
    user.allow(Op::ReadRunners)?;
    Ok(Json(state.runners.list().await?))
}

async fn tokens(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<RunnerToken>>, HttpError> {
    user.allow(Op::ManageRunnerTokens)?;
    Ok(Json(state.runners.tokens().await?))
}

#[derive(Debug, Deserialize)]
struct NewToken {
    name: String,
}

/// 201 with the token: the only time it is shown.
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

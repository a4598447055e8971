//! `/api/v1/notifications`: the signed-in user's notifications.

use app::model::NotificationList;
use axum::{
    extract::{Path, State},
    http::StatusCode,
    routing::{get, post},
    Json, Router,
};

use super::AuthUser;
use crate::auth::policy::Op;
use crate::{http::error::HttpError, state::AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/notifications", get(list))
        .route("/notifications/read-all", post(read_all))
        .route("/notifications/{id}/read", post(read_one))
}

async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<NotificationList>, HttpError> {
    let me = user.allow(Op::OwnAccount)?;
    Ok(Json(state.notifier.list(me.id).await?))
}

async fn read_one(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, HttpError> {
    let me = user.allow(Op::OwnAccount)?;
    let id = id
        .parse()
        .map_err(|_| HttpError(app::api::ApiError::NotFound))?;
    state.notifier.mark_read(me.id, Some(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn read_all(State(state): State<AppState>, user: AuthUser) -> Result<StatusCode, HttpError> {
    let me = user.allow(Op::OwnAccount)?;
    state.notifier.mark_read(me.id, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

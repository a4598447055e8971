//! `/api/v1/notifications`: the signed-in user's notifications.

use app::model::NotificationList;
use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{AuthUser, IdParam};
use crate::auth::policy::Op;
use crate::{http::error::HttpError, state::AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(read_all))
        .routes(routes!(read_one))
}

/// Your notifications, newest first, with the unread count.
#[utoipa::path(get, path = "/notifications", tag = "notifications",
    responses((status = 200, body = NotificationList)))]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<NotificationList>, HttpError> {
    let me = user.allow(Op::OwnAccount)?;
    Ok(Json(state.notifier.list(me.id).await?))
}

/// Marks one notification read.
#[utoipa::path(post, path = "/notifications/{id}/read", tag = "notifications", params(IdParam),
    responses((status = 204, description = "Marked read")))]
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

/// Marks all your notifications read.
#[utoipa::path(post, path = "/notifications/read-all", tag = "notifications",
    responses((status = 204, description = "Marked read")))]
async fn read_all(State(state): State<AppState>, user: AuthUser) -> Result<StatusCode, HttpError> {
    let me = user.allow(Op::OwnAccount)?;
    state.notifier.mark_read(me.id, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

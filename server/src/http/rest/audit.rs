//! `GET /api/v1/audit` (admins): the audit log, newest first, filtered by
//! `actor`, `action` (or its start: `agents`), `target` (contains),
//! `since`/`until` (Unix ms), paged with `before` (an id) and `limit`.

use app::model::{AuditPage, AuditQuery};
use axum::{
    extract::{rejection::QueryRejection, Query, State},
    routing::get,
    Json, Router,
};

use super::AuthUser;
use crate::auth::policy::Op;
use crate::{http::error::HttpError, state::AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/audit", get(list))
}

async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<AuditPage>, HttpError> {
    user.allow(Op::ManageUsers)?;
    let Query(q) = query.map_err(|e| HttpError(app::api::ApiError::Invalid(e.body_text())))?;
    Ok(Json(crate::http::audit::list(&state.db, &q).await?))
}

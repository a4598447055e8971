//! `GET /api/v1/audit` (admins): the audit log, newest first, filtered by
//! `actor`, `action` (or its start: `agents`), `target` (contains),
//! `since`/`until` (Unix ms), paged with `before` (an id) and `limit`.
//! Beside it, `GET /api/v1/insights`: the team's figures.

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

/// `GET /api/v1/insights?days=` (any signed-in user): what the Insights
/// page shows, for the last `days` days (1–90, default 30), without the
/// host's load.
pub fn insights_router() -> Router<AppState> {
    Router::new().route("/insights", get(insights))
}

#[derive(serde::Deserialize)]
struct InsightsQuery {
    #[serde(default)]
    days: Option<u32>,
}

async fn insights(
    State(state): State<AppState>,
    _user: AuthUser,
    query: Result<Query<InsightsQuery>, QueryRejection>,
) -> Result<Json<app::model::Insights>, HttpError> {
    let Query(q) = query.map_err(|e| HttpError(app::api::ApiError::Invalid(e.body_text())))?;
    let days = q.days.unwrap_or(30);
    if !(1..=crate::executions::insights::MAX_DAYS).contains(&days) {
        return Err(HttpError(app::api::ApiError::Invalid(format!(
            "days is 1 to {}",
            crate::executions::insights::MAX_DAYS
        ))));
    }
    Ok(Json(
        crate::executions::insights::figures(&state.db, days, crate::db::now_ms()).await?,
    ))
}

//! `GET /api/v1/audit` (admins): the audit log, newest first, filtered by
//! `actor`, `action` (or its start: `agents`), `target` (contains),
//! `since`/`until` (Unix ms), paged with `before` (an id) and `limit`.
//! Beside it, `GET /api/v1/insights`: the team's figures.

use app::model::{AuditPage, AuditQuery};
use axum::{extract::State, Json};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{ApiQuery, AuthUser};
use crate::auth::policy::Op;
use crate::{http::error::HttpError, state::AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// The audit log (admins), newest first.
#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = AuditPage)))]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, HttpError> {
    user.allow(Op::ManageUsers)?;
    super::page_size("limit", q.limit, 100, 500)?;
    Ok(Json(crate::http::audit::list(&state.db, &q).await?))
}

/// `GET /api/v1/insights?days=` (any signed-in user): what the Insights
/// page shows, for the last `days` days (1–90, default 30), without the
/// host's load.
pub fn insights_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(insights))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct InsightsQuery {
    /// How many days back (1 to 90; 30 if left out).
    #[param(minimum = 1, maximum = 90)]
    #[serde(default)]
    days: Option<u32>,
}

/// The team's figures for the last `days` days (what the Insights page shows).
#[utoipa::path(get, path = "/insights", tag = "audit", params(InsightsQuery),
    responses((status = 200, body = app::model::Insights)))]
async fn insights(
    State(state): State<AppState>,
    _user: AuthUser,
    ApiQuery(q): ApiQuery<InsightsQuery>,
) -> Result<Json<app::model::Insights>, HttpError> {
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

//! `GET /metrics`: Prometheus metrics in the OpenMetrics text format
//! (`prometheus-client`). Off unless the server is given a token
//! (`--metrics-token`, `YAGURA_METRICS_TOKEN`), which a scraper sends as
//! `Authorization: Bearer …`: the figures name routes, outcomes and load,
//! which are not for everyone who can reach the port.
//!
//! The process's counters come from `crate::metrics`; gauges (executions
//! by status, queue depth, sockets by dialect, runners) are read from the
//! store and the live registries at each scrape.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::{text::encode, EncodeLabelSet};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use sha2::Digest;
use subtle::ConstantTimeEq;

use crate::auth::connections::Dialect;
use crate::state::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DialectLabels {
    dialect: &'static str,
}

/// Counts every request by method, route pattern and status (a layer of
/// the router, so the matched route is known).
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = request.method().clone();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    crate::metrics::request(
        &method,
        route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// `GET /metrics`.
pub async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = state.config.metrics_token.as_deref() else {
        return (
            StatusCode::NOT_FOUND,
            "metrics are off: start the server with --metrics-token (or YAGURA_METRICS_TOKEN)\n",
        )
            .into_response();
    };
    let offered = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .unwrap_or("");
    // Digests compared in constant time: neither the token nor its length
    // shows in the time a refusal takes.
    let digest = |t: &str| sha2::Sha256::digest(t.as_bytes());
    if !bool::from(digest(offered).ct_eq(&digest(token))) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "the metrics token is missing or wrong\n",
        )
            .into_response();
    }
    match render(&state).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "metrics not gathered");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("metrics not gathered: {e}\n"),
            )
                .into_response()
        }
    }
}

/// The exposition: the process's counters, and gauges read now.
async fn render(state: &AppState) -> Result<String, String> {
    let mut registry = Registry::with_prefix("yagura");
    crate::metrics::register(&mut registry);

    let by_status = Family::<StatusLabels, Gauge>::default();
    for status in app::model::ExecutionStatus::ALL {
        by_status
            .get_or_create(&StatusLabels {
                status: status.as_str().to_string(),
            })
            .set(0);
    }
    let queued = Gauge::<i64>::default();
    for (status, count) in crate::db::executions::count_by_status(&state.db, 0)
        .await
        .map_err(|e| e.to_string())?
    {
        if status == app::model::ExecutionStatus::Queued {
            queued.set(count);
        }
        by_status
            .get_or_create(&StatusLabels {
                status: status.as_str().to_string(),
            })
            .set(count);
    }
    registry.register("executions", "Executions by status", by_status);
    registry.register(
        "queue_depth",
        "Executions waiting for a slot or a runner",
        queued,
    );

    let sockets = Family::<DialectLabels, Gauge>::default();
    for dialect in Dialect::ALL {
        sockets
            .get_or_create(&DialectLabels {
                dialect: dialect.as_str(),
            })
            .set(0);
    }
    for (dialect, count) in state.auth.connections.count_by_dialect() {
        sockets
            .get_or_create(&DialectLabels {
                dialect: dialect.as_str(),
            })
            .set(count as i64);
    }
    registry.register(
        "websocket_connections",
        "Open WebSockets by dialect (native, cc-anywhere, team-dashboard, nospace, ktcp)",
        sockets,
    );
    let runners = Gauge::<i64>::default();
    runners.set(state.runners.online_count() as i64);
    registry.register("runners_online", "Remote runners connected now", runners);

    let mut text = String::new();
    encode(&mut text, &registry).map_err(|e| e.to_string())?;
    Ok(text)
}

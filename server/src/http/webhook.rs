//! `POST /api/github/webhook`: GitHub's deliveries, handed with their
//! headers and raw body to `crate::github::webhook` (which checks the
//! signature before reading anything).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::github::webhook::{Answer, Delivery};
use crate::state::AppState;

pub async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let delivery = Delivery {
        event: header("x-github-event"),
        id: header("x-github-delivery"),
        signature: header("x-hub-signature-256"),
        body: &body,
    };
    let event = delivery.event;
    let answer = state.sync.deliver(delivery).await;
    crate::metrics::delivery(
        event,
        match &answer {
            Answer::Done(_) => "done",
            Answer::Refused { code, .. } => code,
        },
    );
    match answer {
        Answer::Done(outcome) => (
            StatusCode::OK,
            Json(serde_json::json!({ "outcome": outcome })),
        )
            .into_response(),
        Answer::Refused {
            status,
            code,
            message,
        } => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Json(serde_json::json!({ "error": code, "message": message })),
        )
            .into_response(),
    }
}

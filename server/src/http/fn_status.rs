//! Server functions answer every error with 500, whatever it is (the
//! default of Leptos's server functions). This gives each the status its
//! `ApiError` stands for (404 for a record that is not there, 422 for bad
//! input, 401, 403, 409…), so that clients and logs see a 404 as a 404 and
//! only real failures count as server errors. The body stays as it was:
//! the browser's side decodes any 4xx or 5xx the same way.

use app::api::ApiError;
use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

/// The header Leptos puts on a server function's error.
const SERVER_FN_ERROR: &str = "serverfnerror";
/// An error body is a small JSON value; anything larger is left alone.
const LIMIT: usize = 64 * 1024;

pub async fn error_status(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    if res.status() != StatusCode::INTERNAL_SERVER_ERROR
        || !res.headers().contains_key(SERVER_FN_ERROR)
    {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    if axum::body::HttpBody::size_hint(&body)
        .upper()
        .is_none_or(|n| n > LIMIT as u64)
    {
        return Response::from_parts(parts, body);
    }
    let Ok(bytes) = axum::body::to_bytes(body, LIMIT).await else {
        return Response::from_parts(parts, Body::empty());
    };
    if let Ok(error) = serde_json::from_slice::<ApiError>(&bytes) {
        if let Ok(status) = StatusCode::from_u16(error.status()) {
            parts.status = status;
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

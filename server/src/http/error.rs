//! Errors at the HTTP edge: `ApiError` becomes a status and a JSON body.
//! 5xx causes are logged here and never sent.

use app::api::ApiError;
use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};

/// `ApiError` as an HTTP response: `{"error": code, "message": text}`.
#[derive(Debug)]
pub struct HttpError(pub ApiError);

impl From<ApiError> for HttpError {
    fn from(e: ApiError) -> Self {
        HttpError(e)
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body =
            Json(serde_json::json!({ "error": self.0.code(), "message": self.0.to_string() }));
        let mut response = (status, body).into_response();
        match &self.0 {
            ApiError::TooManyAttempts { retry_after_secs } => {
                if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            ApiError::Unauthorized | ApiError::InvalidCredentials => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"yagura\""),
                );
            }
            _ => {}
        }
        response
    }
}

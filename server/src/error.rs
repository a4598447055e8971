//! Errors inside the services. Services answer [`ApiError`], the one error
//! every edge understands (HTTP status, server-function error, a dialect's
//! error frame). An unexpected failure (the database, the disk) is logged
//! here with what was being done and becomes the opaque
//! [`ApiError::Internal`], so its cause reaches the log and never a client.

use std::fmt::Display;

pub use app::api::ApiError;

/// Logs an internal failure with its context and returns the opaque error.
pub fn internal(context: &str, err: impl Display) -> ApiError {
    tracing::error!(context, error = %err, "internal error");
    ApiError::Internal
}

/// `result.or_internal("reading an execution")?` instead of
/// `.or_internal("reading an execution")?`.
pub trait OrInternal<T> {
    fn or_internal(self, context: &str) -> Result<T, ApiError>;
}

impl<T, E: Display> OrInternal<T> for Result<T, E> {
    fn or_internal(self, context: &str) -> Result<T, ApiError> {
        self.map_err(|e| internal(context, e))
    }
}

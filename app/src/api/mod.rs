//! Server functions, one file per resource. Each one authorises itself on
//! its first line; the work behind them is done by the server through the
//! [`Backend`] trait, so that SQL stays in `server/src/db/`.

mod agents;
mod auth;
mod error;
mod executions;

pub use agents::*;
pub use auth::*;
pub use error::ApiError;
pub use executions::*;

#[cfg(feature = "ssr")]
mod backend;
#[cfg(feature = "ssr")]
pub use backend::{
    backend, cookie_value, is_plain_form_post, request_parts, Backend, ExecutionAction,
    IssuedToken, SESSION_COOKIE, THEME_COOKIE,
};

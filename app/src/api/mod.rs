//! Server functions, one file per resource. Each one authorises itself on
//! its first line; the work behind them is done by the server through the
//! [`Backend`] trait, so that SQL stays in `server/src/db/`.

mod agents;
mod api_keys;
mod auth;
mod changes;
mod error;
mod executions;
mod github;
mod issues;
mod notifications;
mod people;
mod runners;
mod workflows;

pub use agents::*;
pub use api_keys::*;
pub use auth::*;
pub use changes::*;
pub use error::ApiError;
pub use executions::*;
pub use github::*;
pub use issues::*;
pub use notifications::*;
pub use people::*;
pub use runners::*;
pub use workflows::*;

#[cfg(feature = "ssr")]
mod backend;
#[cfg(feature = "ssr")]
pub use backend::{
    backend, cookie_value, is_plain_form_post, redirect_plain_form, request_parts, Backend,
    ExecutionAction, IssuedToken, TeamBackend, SESSION_COOKIE, THEME_COOKIE,
};

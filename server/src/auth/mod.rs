//! Identity: password hashes, session tokens, sign-in throttling, and
//! working out who sent a request (bearer token, `?token=` or cookie).

pub mod accounts;
pub mod origin;
pub mod password;
pub mod policy;
pub mod secret;
pub mod throttle;
pub mod tokens;

use crate::error::OrInternal;
use std::sync::Arc;

use app::api::{cookie_value, ApiError, IssuedToken, SESSION_COOKIE, THEME_COOKIE};
use app::model::{Theme, User};
use http::HeaderMap;

use crate::db::Db;
pub use tokens::TokenKeys;

/// Everything needed to authenticate requests; cheap to clone.
#[derive(Clone)]
pub struct Auth {
    pub keys: Arc<TokenKeys>,
    pub throttle: Arc<throttle::LoginThrottle>,
    pub secure_cookies: bool,
}

/// Why a request could not be tied to a user.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("no credentials")]
    Missing,
    #[error("invalid or expired token")]
    Invalid,
}

impl Auth {
    /// The user behind a token, if the token is valid and the user still exists.
    pub async fn user_for_token(&self, db: &Db, token: &str) -> Result<User, AuthError> {
        let claims = self.keys.verify(token).map_err(|_| AuthError::Invalid)?;
        accounts::find_user(db, &claims.sub)
            .await
            .ok()
            .flatten()
            .ok_or(AuthError::Invalid)
    }

    /// The token a request carries: `Authorization: Bearer` first, then the cookie.
    pub fn token_from_headers(headers: &HeaderMap) -> Option<&str> {
        headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .or_else(|| cookie_value(headers, SESSION_COOKIE))
            .filter(|t| !t.is_empty())
    }

    pub async fn user_from_headers(&self, db: &Db, headers: &HeaderMap) -> Result<User, AuthError> {
        let token = Self::token_from_headers(headers).ok_or(AuthError::Missing)?;
        self.user_for_token(db, token).await
    }

    pub fn issue(&self, user: &User) -> Result<IssuedToken, ApiError> {
        self.keys.sign(user).or_internal("signing a token")
    }

    pub fn session_cookie(&self, token: &IssuedToken) -> String {
        let max_age = (token.expires_at - chrono::Utc::now()).num_seconds().max(0);
        format!(
            "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
            token.token,
            if self.secure_cookies { "; Secure" } else { "" }
        )
    }

    pub fn clear_session_cookie(&self) -> String {
        format!(
            "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
            if self.secure_cookies { "; Secure" } else { "" }
        )
    }

    pub fn theme_cookie(&self, theme: Theme) -> String {
        format!(
            "{THEME_COOKIE}={}; Path=/; SameSite=Lax; Max-Age=31536000{}",
            theme.as_str(),
            if self.secure_cookies { "; Secure" } else { "" }
        )
    }
}

//! Identity: password hashes, session tokens, API keys, sign-in
//! throttling, and working out who sent a request (bearer token or API key,
//! `X-API-Key`, `?token=` or cookie); who may do what is `policy`.

pub mod accounts;
pub mod api_keys;
pub mod audit;
pub mod connections;
pub mod invitations;
pub mod origin;
pub mod password;
pub mod people;
pub mod policy;
pub mod secret;
pub mod sso;
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
    /// Open sockets by credential, to close them when it ends.
    pub connections: Arc<connections::Connections>,
    /// The one-time code first-run setup asks for from another machine.
    pub setup_code: Arc<str>,
    /// Single sign-on, when an OpenID provider is configured.
    pub sso: Option<Arc<sso::Sso>>,
    /// Whether people may sign in (and join) with a password.
    pub password_sign_in: bool,
}

/// Who a credential speaks for.
#[derive(Clone, Debug)]
pub struct Principal {
    pub user: User,
    /// The API key used, if it was one (its id).
    pub api_key: Option<String>,
    /// The session token used, if it was one: its id and expiry (seconds).
    pub session: Option<(String, i64)>,
}

/// Why a request could not be tied to a user.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("no credentials")]
    Missing,
    #[error("invalid or expired token")]
    Invalid,
    /// A session token that was valid but has expired.
    #[error("the token has expired")]
    Expired,
}

impl Auth {
    /// Refuses password sign-ins (and joining with a password) when the
    /// server signs people in with single sign-on only.
    pub fn allow_passwords(&self) -> Result<(), ApiError> {
        if self.password_sign_in {
            return Ok(());
        }
        let with = self
            .sso
            .as_ref()
            .map(|s| format!(": sign in with {}", s.name()))
            .unwrap_or_default();
        Err(ApiError::Conflict(format!(
            "password sign-in is turned off on this server{with}"
        )))
    }

    /// Who a credential (a session token or an API key) speaks for, if it
    /// is valid and its user still exists.
    pub async fn authenticate(&self, db: &Db, token: &str) -> Result<Principal, AuthError> {
        let token = token.trim();
        if api_keys::is_api_key(token) {
            let key = api_keys::check(db, token).await.ok_or(AuthError::Invalid)?;
            let user = accounts::find_user(db, &key.user_id)
                .await
                .ok()
                .flatten()
                .ok_or(AuthError::Invalid)?;
            return Ok(Principal {
                user,
                api_key: Some(key.id),
                session: None,
            });
        }
        let claims = self.keys.verify(token).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
            _ => AuthError::Invalid,
        })?;
        if !claims.jti.is_empty()
            && crate::db::users::token_revoked(db, &claims.jti)
                .await
                .unwrap_or(true)
        {
            return Err(AuthError::Invalid);
        }
        let (user, valid_from) = accounts::find_active(db, &claims.sub)
            .await
            .ok()
            .flatten()
            .ok_or(AuthError::Invalid)?;
        // Sessions from before a deactivation stay ended.
        let issued_ms = match claims.iat_ms {
            0 => claims.iat.saturating_mul(1000),
            ms => ms,
        };
        if issued_ms < valid_from {
            return Err(AuthError::Invalid);
        }
        Ok(Principal {
            user,
            api_key: None,
            session: (!claims.jti.is_empty()).then_some((claims.jti, claims.exp)),
        })
    }

    /// Signs out: the session token in `headers` stops working, here and
    /// on every socket it opened. Answers whether there was one to end.
    pub async fn end_session(&self, db: &Db, headers: &HeaderMap) -> Result<bool, ApiError> {
        let Some(token) = Self::token_from_headers(headers) else {
            return Ok(false);
        };
        let Ok(claims) = self.keys.verify(token.trim()) else {
            return Ok(false);
        };
        if claims.jti.is_empty() {
            return Ok(false);
        }
        crate::db::users::revoke_token(db, &claims.jti, claims.exp)
            .await
            .or_internal("ending a session")?;
        self.connections.end_session(&claims.jti);
        Ok(true)
    }

    /// Where `who` is signed in, newest first, theirs marked current.
    pub async fn sessions(
        &self,
        db: &Db,
        who: &Principal,
    ) -> Result<Vec<app::model::SignedInSession>, ApiError> {
        let current = who.session.as_ref().map(|(jti, _)| jti.as_str());
        Ok(crate::db::sessions::active(db, &who.user.id.to_string())
            .await
            .or_internal("listing sessions")?
            .into_iter()
            .map(|r| app::model::SignedInSession {
                current: current == Some(r.id.as_str()),
                id: r.id,
                created_at: r.created_at,
                expires_at: r.expires_at.saturating_mul(1000),
                user_agent: r.user_agent,
                client: r.client,
            })
            .collect())
    }

    /// Ends `who`'s session `id` (not someone else's: 404), here and on
    /// every socket it opened.
    pub async fn end_one(&self, db: &Db, who: &Principal, id: &str) -> Result<(), ApiError> {
        let mine = self.sessions(db, who).await?;
        let Some(session) = mine.iter().find(|s| s.id == id) else {
            return Err(ApiError::NotFound);
        };
        crate::db::users::revoke_token(db, &session.id, session.expires_at / 1000)
            .await
            .or_internal("ending a session")?;
        self.connections.end_session(&session.id);
        Ok(())
    }

    /// The user behind a credential, if it is valid.
    pub async fn user_for_token(&self, db: &Db, token: &str) -> Result<User, AuthError> {
        self.authenticate(db, token).await.map(|p| p.user)
    }

    /// The credential a request carries: `Authorization: Bearer` first,
    /// then `X-API-Key`, then the session cookie.
    pub fn token_from_headers(headers: &HeaderMap) -> Option<&str> {
        headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .or_else(|| cookie_value(headers, SESSION_COOKIE).filter(|t| !t.is_empty()))
    }

    /// Whether the request's credential is the browser's session cookie
    /// (which another site's page could make a browser send).
    pub fn uses_cookie(headers: &HeaderMap) -> bool {
        headers.get(http::header::AUTHORIZATION).is_none()
            && headers.get("x-api-key").is_none()
            && cookie_value(headers, SESSION_COOKIE).is_some_and(|t| !t.is_empty())
    }

    pub async fn principal_from_headers(
        &self,
        db: &Db,
        headers: &HeaderMap,
    ) -> Result<Principal, AuthError> {
        let token = Self::token_from_headers(headers).ok_or(AuthError::Missing)?;
        self.authenticate(db, token).await
    }

    pub async fn user_from_headers(&self, db: &Db, headers: &HeaderMap) -> Result<User, AuthError> {
        self.principal_from_headers(db, headers)
            .await
            .map(|p| p.user)
    }

    /// Signs a session token for `user`, who just proved who they are,
    /// and records where it was asked from (`headers`' user agent and the
    /// client's address) for their list of sessions.
    pub async fn issue(
        &self,
        db: &Db,
        user: &User,
        headers: &HeaderMap,
        client: Option<String>,
    ) -> Result<IssuedToken, ApiError> {
        let issued = self.keys.sign(user).or_internal("signing a token")?;
        if let Ok(claims) = self.keys.verify(&issued.token) {
            let row = crate::db::sessions::SessionRow {
                id: claims.jti,
                user_id: user.id.to_string(),
                created_at: claims.iat_ms,
                expires_at: claims.exp,
                user_agent: headers
                    .get(http::header::USER_AGENT)
                    .and_then(|v| v.to_str().ok())
                    .map(|v| v.chars().take(300).collect()),
                client,
            };
            if let Err(e) = crate::db::sessions::insert(db, &row).await {
                tracing::warn!(error = %e, "session not recorded");
            }
        }
        Ok(issued)
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

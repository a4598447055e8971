//! The server's side of `app::api::Backend`: what server functions call.

use std::net::SocketAddr;

use app::api::{ApiError, Backend, IssuedToken};
use app::model::{Session, Theme, User};
use axum::extract::ConnectInfo;
use http::request::Parts;

use crate::{auth::accounts, state::AppState};

fn client_address(parts: &Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

#[async_trait::async_trait]
impl Backend for AppState {
    async fn session(&self, parts: &Parts) -> Result<Session, ApiError> {
        let needs_setup = accounts::needs_setup(&self.db).await?;
        let user = self
            .auth
            .user_from_headers(&self.db, &parts.headers)
            .await
            .ok();
        let theme = app::api::cookie_value(&parts.headers, app::api::THEME_COOKIE)
            .and_then(|v| v.parse().ok())
            .unwrap_or_default();
        Ok(Session {
            user,
            needs_setup,
            theme,
        })
    }

    async fn setup_admin(&self, username: &str, password: &str) -> Result<User, ApiError> {
        accounts::setup_admin(&self.db, username, password).await
    }

    async fn login(
        &self,
        parts: &Parts,
        username: &str,
        password: &str,
    ) -> Result<(User, IssuedToken), ApiError> {
        let client = client_address(parts);
        let user =
            accounts::login(&self.db, &self.auth.throttle, &client, username, password).await?;
        let token = self.auth.issue(&user)?;
        Ok((user, token))
    }

    fn issue_token(&self, user: &User) -> Result<IssuedToken, ApiError> {
        self.auth.issue(user)
    }

    fn session_cookie(&self, token: &IssuedToken) -> String {
        self.auth.session_cookie(token)
    }

    fn clear_session_cookie(&self) -> String {
        self.auth.clear_session_cookie()
    }

    fn theme_cookie(&self, theme: Theme) -> String {
        self.auth.theme_cookie(theme)
    }
}

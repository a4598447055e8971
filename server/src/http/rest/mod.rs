//! The REST API under `/api/v1`. JSON in and out, camelCase fields, errors
//! as `{"error": code, "message": text}`. Authenticated with
//! `Authorization: Bearer <token>` (or the browser's session cookie).

use std::net::SocketAddr;

use app::api::ApiError;
use app::model::User;
use axum::{
    extract::{rejection::JsonRejection, ConnectInfo, FromRequestParts, State},
    http::{request::Parts, StatusCode},
    routing::{get, post},
    Json, Router,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::HttpError;
use crate::auth::policy::{authorize, Op};
use crate::{auth::accounts, state::AppState};

mod agents;
mod api_keys;
mod audit;
pub(crate) mod changes;
mod executions;
mod github;
mod invitations;
mod issues;
mod notifications;
mod runners;
mod users;
mod workflows;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/login", post(login))
        .route("/auth/logout", post(logout))
        .route("/setup", post(setup))
        .route("/me", get(me))
        .merge(agents::router())
        .merge(api_keys::router())
        .merge(executions::router())
        .merge(changes::router())
        .merge(issues::router())
        .merge(workflows::router())
        .merge(notifications::router())
        .merge(runners::router())
        .merge(github::router())
        .merge(users::router())
        .merge(invitations::router())
        .merge(audit::router())
        .merge(audit::insights_router())
}

/// The signed-in user; rejects the request with 401 otherwise.
pub struct AuthUser(pub User);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = HttpError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        state
            .auth
            .user_from_headers(&state.db, &parts.headers)
            .await
            .map(AuthUser)
            .map_err(|_| HttpError(ApiError::Unauthorized))
    }
}

impl AuthUser {
    /// The user, if the policy lets them do `op` (else 403).
    pub fn allow(&self, op: Op) -> Result<&User, HttpError> {
        authorize(&self.0, op).map_err(HttpError)?;
        Ok(&self.0)
    }
}

/// A JSON body, with parse failures reported in the API's error format.
pub(crate) fn body<T>(payload: Result<Json<T>, JsonRejection>) -> Result<T, HttpError> {
    payload
        .map(|Json(v)| v)
        .map_err(|e| HttpError(ApiError::Invalid(e.body_text())))
}

#[derive(Debug, Deserialize)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    /// First-run setup from another machine: the one-time setup code.
    #[serde(default, alias = "setupCode")]
    pub setup_code: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user: User,
}

impl TokenResponse {
    pub fn new(issued: app::api::IssuedToken, user: User) -> Self {
        TokenResponse {
            token: issued.token,
            expires_at: issued.expires_at,
            user,
        }
    }
}

/// Whoever a credential speaks for (a session token or an API key), with
/// which one; rejects the request with 401 otherwise.
pub struct AuthPrincipal(pub crate::auth::Principal);

impl FromRequestParts<AppState> for AuthPrincipal {
    type Rejection = HttpError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        state
            .auth
            .principal_from_headers(&state.db, &parts.headers)
            .await
            .map(AuthPrincipal)
            .map_err(|_| HttpError(ApiError::Unauthorized))
    }
}

async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    payload: Result<Json<Credentials>, JsonRejection>,
) -> Result<Json<TokenResponse>, HttpError> {
    let c = body(payload)?;
    state.auth.allow_passwords()?;
    let client = peer.ip().to_string();
    let user = accounts::login(
        &state.db,
        &state.auth.throttle,
        &client,
        &c.username,
        &c.password,
    )
    .await?;
    let issued = state
        .auth
        .issue(&state.db, &user, &headers, Some(client))
        .await?;
    Ok(Json(TokenResponse::new(issued, user)))
}

/// Ends the session token the request carries (bearer or cookie): it is
/// refused from now on, and its sockets close. 204 either way.
async fn logout(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<StatusCode, HttpError> {
    state.auth.end_session(&state.db, &headers).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// First-run setup over the API (the same rule as the setup page: only
/// while no user exists). Answers with a token for the new admin.
async fn setup(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    payload: Result<Json<Credentials>, JsonRejection>,
) -> Result<(StatusCode, Json<TokenResponse>), HttpError> {
    let c = body(payload)?;
    if accounts::needs_setup(&state.db).await? {
        accounts::check_setup_code(
            crate::http::guard::from_this_machine(peer.ip(), &headers),
            c.setup_code.as_deref(),
            &state.auth.setup_code,
        )?;
    }
    let user = accounts::setup_admin(&state.db, &c.username, &c.password).await?;
    let issued = state
        .auth
        .issue(&state.db, &user, &headers, Some(peer.ip().to_string()))
        .await?;
    Ok((StatusCode::CREATED, Json(TokenResponse::new(issued, user))))
}

async fn me(AuthUser(user): AuthUser) -> Json<User> {
    Json(user)
}

//! The REST API under `/api/v1`. JSON in and out, camelCase fields, errors
//! as `{"error": code, "message": text}`. Authenticated with
//! `Authorization: Bearer <token>` (or the browser's session cookie).

use std::net::SocketAddr;

use app::api::ApiError;
use app::model::User;
use axum::{
    extract::{rejection::JsonRejection, ConnectInfo, FromRequestParts, Query, State},
    http::{request::Parts, StatusCode},
    routing::get,
    Json, Router,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

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
pub(crate) mod openapi;
mod reference;
mod runners;
mod shape;
mod users;
mod workflows;

/// The API's routes with their descriptions, under `/api/v1`.
pub(crate) fn described() -> OpenApiRouter<AppState> {
    let v1 = OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(setup))
        .routes(routes!(me))
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
        .merge(audit::insights_router());
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi()).nest("/api/v1", v1)
}

/// The REST API, its OpenAPI document and its reference page.
/// `stylesheet` is the site's CSS route, for the reference page.
pub fn router(stylesheet: &str) -> Router<AppState> {
    let (router, _) = described().split_for_parts();
    let stylesheet: std::sync::Arc<str> = stylesheet.into();
    router
        .route_layer(axum::middleware::from_fn(shape::objects_only))
        .route("/api/v1/openapi.json", get(openapi::serve))
        .route(
            "/api/v1/reference",
            get(move |headers| reference::serve(stylesheet.clone(), headers)),
        )
}

/// A path's `{id}`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct IdParam {
    /// The resource's id (a UUID).
    id: uuid::Uuid,
}

/// A page size from the query: `default` when left out, else 1 to `max`.
pub(crate) fn page_size(
    name: &str,
    v: Option<u32>,
    default: u32,
    max: u32,
) -> Result<u32, HttpError> {
    match v {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(HttpError(ApiError::Invalid(format!(
            "{name} is 1 to {max}"
        )))),
    }
}

/// An id filter from the query: left out or empty (as a form sends it)
/// filters nothing; anything else must be an id (422 otherwise).
pub(crate) fn id_filter<T: std::str::FromStr>(
    name: &str,
    v: Option<&str>,
) -> Result<Option<T>, HttpError> {
    match v.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|_| HttpError(ApiError::Invalid(format!("{name} {s:?} is not an id")))),
    }
}

/// An id filter the store takes as text (a UUID, written the usual way).
pub(crate) fn uuid_filter(name: &str, v: Option<&str>) -> Result<Option<String>, HttpError> {
    Ok(id_filter::<uuid::Uuid>(name, v)?.map(|u| u.to_string()))
}

/// A query string, with parse failures reported in the API's error format
/// (422) rather than axum's plain-text 400.
pub(crate) struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| ApiQuery(v))
            .map_err(|e| HttpError(ApiError::Invalid(e.body_text())))
    }
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

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    /// First-run setup from another machine: the one-time setup code.
    #[serde(default, rename = "setupCode", alias = "setup_code")]
    pub setup_code: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
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

/// Signs in with a username and password; answers with a session token.
#[utoipa::path(post, path = "/auth/login", tag = "auth", security(()),
    request_body = Credentials,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 401, description = "Wrong username or password", body = openapi::ErrorBody),
        (status = 409, description = "The account is deactivated, or password sign-in is off", body = openapi::ErrorBody),
        (status = 429, description = "Too many failed attempts; `Retry-After` says when to try again", body = openapi::ErrorBody),
    ))]
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
#[utoipa::path(post, path = "/auth/logout", tag = "auth", security(()),
    responses((status = 204, description = "Signed out")))]
async fn logout(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<StatusCode, HttpError> {
    state.auth.end_session(&state.db, &headers).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// First-run setup over the API (the same rule as the setup page: only
/// while no user exists). Answers with a token for the new admin.
#[utoipa::path(post, path = "/setup", tag = "auth", security(()),
    request_body = Credentials,
    responses(
        (status = 201, description = "The first admin, signed in", body = TokenResponse),
        (status = 409, description = "Setup is done already", body = openapi::ErrorBody),
    ))]
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

/// The signed-in user.
#[utoipa::path(get, path = "/me", tag = "auth", responses((status = 200, body = User)))]
async fn me(AuthUser(user): AuthUser) -> Json<User> {
    Json(user)
}

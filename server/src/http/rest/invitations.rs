//! `/api/v1/invitations`: admins make one-time links to join with a role
//! (`POST`, answered once with the link), list them (`GET`) and revoke
//! unused ones (`DELETE /invitations/{id}`). `POST /invitations/accept`
//! with `{"token", "username", "password"}` joins (no credentials: the
//! link is one) and answers a session token. `POST /me/password` with
//! `{"currentPassword", "newPassword"}` changes your own password and ends
//! your other sessions; `GET /me/sessions` lists where you are signed in
//! and `DELETE /me/sessions/{id}` ends one.

use std::net::SocketAddr;

use app::model::{Invitation, InvitationInput, NewInvitation};
use axum::{
    extract::{rejection::JsonRejection, ConnectInfo, Path, State},
    http::StatusCode,
    Json,
};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{body, openapi::ErrorBody, AuthPrincipal, AuthUser, IdParam, TokenResponse};
use crate::auth::{accounts, invitations, policy::Op};
use crate::{http::error::HttpError, state::AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(accept))
        .routes(routes!(revoke))
        .routes(routes!(change_password))
        .routes(routes!(sessions))
        .routes(routes!(end_session))
}

/// Invitations (admins), newest first.
#[utoipa::path(get, path = "/invitations", tag = "team",
    responses((status = 200, body = Vec<Invitation>)))]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<Invitation>>, HttpError> {
    user.allow(Op::ManageUsers)?;
    Ok(Json(invitations::list(&state.db).await?))
}

/// Makes an invitation (admins); the answer holds the one-time link.
#[utoipa::path(post, path = "/invitations", tag = "team", request_body = InvitationInput,
    responses((status = 201, body = NewInvitation)))]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    payload: Result<Json<InvitationInput>, JsonRejection>,
) -> Result<(StatusCode, Json<NewInvitation>), HttpError> {
    let me = user.allow(Op::ManageUsers)?;
    let input = body(payload)?;
    let public = state.github.public_url().await;
    Ok((
        StatusCode::CREATED,
        Json(invitations::create(&state.db, me, &input, &public).await?),
    ))
}

/// Revokes an unused invitation (admins).
#[utoipa::path(delete, path = "/invitations/{id}", tag = "team", params(IdParam),
    responses((status = 200, description = "Revoked", body = Invitation),
        (status = 409, description = "It was used already", body = ErrorBody)))]
async fn revoke(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Invitation>, HttpError> {
    user.allow(Op::ManageUsers)?;
    Ok(Json(invitations::revoke(&state.db, &id).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Acceptance {
    /// The secret from the invitation link.
    token: String,
    username: String,
    password: String,
}

/// Joins with an invitation (no credentials: the link is one) and signs in.
#[utoipa::path(post, path = "/invitations/accept", tag = "team", security(()),
    request_body = Acceptance,
    responses((status = 201, description = "Joined and signed in", body = TokenResponse),
        (status = 404, description = "No such invitation", body = ErrorBody),
        (status = 409, description = "The link was used, revoked or expired, the username is taken, or password sign-in is off", body = ErrorBody)))]
async fn accept(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    payload: Result<Json<Acceptance>, JsonRejection>,
) -> Result<(StatusCode, Json<TokenResponse>), HttpError> {
    let a = body(payload)?;
    let user =
        invitations::accept(&state.auth, &state.db, &a.token, &a.username, &a.password).await?;
    let issued = state
        .auth
        .issue(&state.db, &user, &headers, Some(peer.ip().to_string()))
        .await?;
    Ok((StatusCode::CREATED, Json(TokenResponse::new(issued, user))))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// Changes the caller's password. Every session token issued before,
/// the one sent included, is refused from then on; carry on with the token
/// in the answer. API keys stay.
#[utoipa::path(post, path = "/me/password", tag = "auth", request_body = PasswordChange,
    responses((status = 200, description = "Changed; a new session token", body = TokenResponse),
        (status = 429, description = "Too many wrong passwords", body = ErrorBody)))]
async fn change_password(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    AuthPrincipal(me): AuthPrincipal,
    headers: axum::http::HeaderMap,
    payload: Result<Json<PasswordChange>, JsonRejection>,
) -> Result<Json<TokenResponse>, HttpError> {
    // An API key would come away with a session token outliving it.
    if me.api_key.is_some() {
        return Err(HttpError(app::api::ApiError::Forbidden));
    }
    let c = body(payload)?;
    accounts::change_password(
        &state.db,
        &state.auth.throttle,
        &peer.ip().to_string(),
        &me.user,
        &c.current_password,
        &c.new_password,
    )
    .await?;
    let keep = me.session.as_ref().map(|(jti, _)| jti.as_str());
    state.auth.connections.end_other_sessions(me.user.id, keep);
    let issued = state
        .auth
        .issue(&state.db, &me.user, &headers, Some(peer.ip().to_string()))
        .await?;
    Ok(Json(TokenResponse::new(issued, me.user)))
}

/// Where the caller is signed in, newest first (`current`: this token).
#[utoipa::path(get, path = "/me/sessions", tag = "auth",
    responses((status = 200, body = Vec<app::model::SignedInSession>)))]
async fn sessions(
    State(state): State<AppState>,
    AuthPrincipal(me): AuthPrincipal,
) -> Result<Json<Vec<app::model::SignedInSession>>, HttpError> {
    Ok(Json(state.auth.sessions(&state.db, &me).await?))
}

/// Ends one of the caller's sessions (204); 404 for another's or an
/// unknown one.
#[utoipa::path(delete, path = "/me/sessions/{id}", tag = "auth", params(IdParam),
    responses((status = 204, description = "Ended")))]
async fn end_session(
    State(state): State<AppState>,
    AuthPrincipal(me): AuthPrincipal,
    Path(id): Path<String>,
) -> Result<StatusCode, HttpError> {
    state.auth.end_one(&state.db, &me, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

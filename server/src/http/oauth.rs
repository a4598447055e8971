//! Sign in with GitHub, when an OAuth app is configured on the settings
//! page. `/auth/github` sends the browser to GitHub; the callback turns
//! the code into a token, asks GitHub who it is, and signs in the Yagura
//! user linked to that account. A signed-in user who goes through the same
//! flow links their GitHub account to theirs; an account linked to no one
//! is refused (no account is made behind an admin's back), unless the
//! flow started from an invitation link (`/auth/github?invite=…`): then
//! the person joins with the invitation's role, named after their login.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use rand::RngCore;
use serde::Deserialize;

use crate::db::users as store;
use crate::github::oauth::{who, GhLogin};
use crate::state::AppState;

const STATE_COOKIE: &str = "yagura_oauth_state";
/// The hash of the invitation a GitHub sign-in joins with.
const INVITE_COOKIE: &str = "yagura_oauth_invite";

#[derive(Deserialize, Default)]
pub struct StartQuery {
    #[serde(default)]
    invite: Option<String>,
}

fn fail(code: &str) -> Response {
    Redirect::to(&format!("/login?error={code}")).into_response()
}

pub async fn start(State(state): State<AppState>, Query(query): Query<StartQuery>) -> Response {
    let Ok(Some((client_id, _))) = state.github.oauth_client().await else {
        return fail("github_not_configured");
    };
    // Joining with an invitation: an unusable link goes back to its page,
    // which says why.
    let invite = match query.invite.as_deref().map(str::trim) {
        Some(token) => match crate::auth::invitations::preview(&state.db, token).await {
            Ok(p) if p.reset_for.is_none() => Some(crate::auth::api_keys::hash(token)),
            _ => {
                return Redirect::to(&format!("/invite/{}", app::api::encode_query(token)))
                    .into_response()
            }
        },
        None => None,
    };
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let nonce = hex::encode(bytes);
    let web = state.github.oauth_web_url().await;
    let callback = format!("{}/auth/github/callback", state.github.public_url().await);
    let to = format!(
        "{web}/login/oauth/authorize?client_id={}&redirect_uri={}&state={nonce}&scope=read:user",
        app::api::encode_query(&client_id),
        app::api::encode_query(&callback),
    );
    let mut response = Redirect::to(&to).into_response();
    for cookie in [
        cookie_of(&state, STATE_COOKIE, &nonce, true),
        cookie_of(
            &state,
            INVITE_COOKIE,
            invite.as_deref().unwrap_or(""),
            invite.is_some(),
        ),
    ] {
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

/// A cookie of this flow (`live`: for ten minutes, else cleared).
fn cookie_of(state: &AppState, name: &str, value: &str, live: bool) -> String {
    format!(
        "{name}={value}; Path=/auth/github; HttpOnly; SameSite=Lax; Max-Age={}{}",
        if live { 600 } else { 0 },
        if state.auth.secure_cookies {
            "; Secure"
        } else {
            ""
        }
    )
}

#[derive(Deserialize)]
pub struct Callback {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
}

pub async fn callback(
    State(state): State<AppState>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Query(query): Query<Callback>,
) -> Response {
    let expected = app::api::cookie_value(&headers, STATE_COOKIE);
    let (Some(code), Some(given), Some(expected)) = (query.code, query.state, expected) else {
        return fail("github_state");
    };
    use subtle::ConstantTimeEq;
    if given.len() != expected.len() || !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        return fail("github_state");
    }
    let Ok(Some((client_id, client_secret))) = state.github.oauth_client().await else {
        return fail("github_not_configured");
    };
    let web = state.github.oauth_web_url().await;
    let GhLogin {
        id: github_id,
        login,
    } = match who(&web, &client_id, &client_secret, &code).await {
        Ok(me) => me,
        Err(e) => {
            tracing::warn!(error = %e, "GitHub sign-in failed");
            return fail("github_failed");
        }
    };
    let invite = app::api::cookie_value(&headers, INVITE_COOKIE).filter(|h| !h.is_empty());
    let signed_in = state.auth.user_from_headers(&state.db, &headers).await.ok();
    // Joining from an invitation while signed in as someone: never link
    // the invitee's GitHub account to whoever that is.
    if invite.is_some() && signed_in.is_some() {
        return with_state_cleared(&state, fail("github_signed_in"));
    }
    // Signed in already: link this GitHub account to the Yagura one.
    if let Some(user) = signed_in {
        let linked =
            store::set_github_account(&state.db, &user.id.to_string(), Some((github_id, &login)))
                .await;
        let to = match linked {
            Ok(_) => "/settings?linked=1",
            Err(e) if crate::db::is_unique_violation(&e) => "/settings?error=github_taken",
            Err(e) => {
                tracing::error!(error = %e, "cannot link a GitHub account");
                "/settings?error=internal"
            }
        };
        return with_state_cleared(&state, Redirect::to(to).into_response());
    }
    let user = match store::user_by_github_id(&state.db, github_id).await {
        Ok(Some(id)) => match crate::auth::accounts::find_user(&state.db, &id).await {
            Ok(Some(user)) => Some(user),
            // Linked to someone who may not sign in now.
            _ => {
                tracing::info!(login, "GitHub sign-in of a deactivated account");
                return with_state_cleared(&state, fail("github_deactivated"));
            }
        },
        Ok(None) => None,
        Err(e) => {
            tracing::error!(error = %e, "cannot look up a GitHub account");
            None
        }
    };
    let (user, joined) = match (user, invite) {
        (Some(_), Some(_)) => {
            tracing::info!(login, "GitHub join refused: this account has a Yagura user");
            return with_state_cleared(&state, fail("github_taken"));
        }
        (Some(user), None) => (user, false),
        (None, Some(hash)) => match join(&state, hash, github_id, &login).await {
            Ok(user) => (user, true),
            Err(e) => {
                tracing::info!(login, error = %e, "GitHub join refused");
                return with_state_cleared(&state, fail("github_invitation"));
            }
        },
        (None, None) => {
            tracing::info!(
                login,
                "GitHub sign-in refused: no Yagura user is linked to this account"
            );
            return with_state_cleared(&state, fail("github_unlinked"));
        }
    };
    let Ok(token) = state
        .auth
        .issue(&state.db, &user, &headers, Some(peer.ip().to_string()))
        .await
    else {
        return fail("internal");
    };
    if let Err(e) =
        crate::db::people::signed_in(&state.db, &user.id.to_string(), crate::db::now_ms()).await
    {
        tracing::warn!(error = %e, "last sign-in not recorded");
    }
    let mut response = with_state_cleared(&state, Redirect::to("/").into_response());
    if let Ok(v) = HeaderValue::from_str(&state.auth.session_cookie(&token)) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    tracing::info!(user = %user.username, login, joined, "signed in with GitHub");
    response
}

/// Joins with the invitation whose secret hashes to `hash`, as a new
/// account linked to this GitHub account and named after its login.
async fn join(
    state: &AppState,
    hash: &str,
    github_id: i64,
    login: &str,
) -> Result<app::model::User, app::api::ApiError> {
    let identity = crate::auth::sso::Identity {
        subject: github_id.to_string(),
        email: None,
        email_verified: false,
        preferred_username: Some(login.to_string()),
        name: None,
        groups: Vec::new(),
    };
    let row = crate::auth::sso::new_row(&state.db, &identity, app::model::Role::Viewer)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "naming a new account");
            app::api::ApiError::Internal
        })?;
    let user = crate::auth::invitations::join_vouched(
        &state.db,
        hash,
        row,
        crate::auth::invitations::Vouched::GitHub {
            id: github_id,
            login,
        },
    )
    .await?;
    Ok(user)
}

/// The state cookie is single use (and so is the invitation's).
fn with_state_cleared(state: &AppState, mut response: Response) -> Response {
    for name in [STATE_COOKIE, INVITE_COOKIE] {
        if let Ok(v) = HeaderValue::from_str(&cookie_of(state, name, "", false)) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

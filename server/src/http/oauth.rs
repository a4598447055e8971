//! Sign in with GitHub, when an OAuth app is configured on the settings
//! page. `/auth/github` sends the browser to GitHub; the callback turns
//! the code into a token, asks GitHub who it is, and signs in the Yagura
//! user linked to that account. A signed-in user who goes through the same
//! flow links their GitHub account to theirs; an account linked to no one
//! is refused (no account is made behind an admin's back).

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use rand::RngCore;
use serde::Deserialize;

use crate::db::users as store;
use crate::github::oauth::{who, GhLogin};
use crate::state::AppState;

const STATE_COOKIE: &str = "yagura_oauth_state";

fn fail(code: &str) -> Response {
    Redirect::to(&format!("/login?error={code}")).into_response()
}

pub async fn start(State(state): State<AppState>) -> Response {
    let Ok(Some((client_id, _))) = state.github.oauth_client().await else {
        return fail("github_not_configured");
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
    let cookie = format!(
        "{STATE_COOKIE}={nonce}; Path=/auth/github; HttpOnly; SameSite=Lax; Max-Age=600{}",
        if state.auth.secure_cookies {
            "; Secure"
        } else {
            ""
        }
    );
    let mut response = Redirect::to(&to).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
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
    // Signed in already: link this GitHub account to the Yagura one.
    if let Ok(user) = state.auth.user_from_headers(&state.db, &headers).await {
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
        Ok(Some(id)) => crate::auth::accounts::find_user(&state.db, &id)
            .await
            .ok()
            .flatten(),
        Ok(None) => None,
        Err(e) => {
            tracing::error!(error = %e, "cannot look up a GitHub account");
            None
        }
    };
    let Some(user) = user else {
        tracing::info!(
            login,
            "GitHub sign-in refused: no Yagura user is linked to this account"
        );
        return with_state_cleared(&state, fail("github_unlinked"));
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
    tracing::info!(user = %user.username, login, "signed in with GitHub");
    response
}

/// The state cookie is single use.
fn with_state_cleared(state: &AppState, mut response: Response) -> Response {
    let cookie = format!(
        "{STATE_COOKIE}=; Path=/auth/github; HttpOnly; SameSite=Lax; Max-Age=0{}",
        if state.auth.secure_cookies {
            "; Secure"
        } else {
            ""
        }
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

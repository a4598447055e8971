//! Single sign-on's routes. `GET /auth/sso` starts a sign-in at the
//! OpenID provider (`?next=` a path to return to; `?invite=` an invitation
//! or reset link's secret, to join or get back in with it); `POST
//! /auth/sso/link` (a form on Your account, so the same-origin guard
//! stands in front of it) starts linking the signed-in person's provider
//! account; `/auth/sso/callback` finishes either. The flow itself is
//! `crate::auth::sso`.

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::auth::sso::{self, Callback, Outcome, Purpose};
use crate::state::AppState;

const STATE_COOKIE: &str = "yagura_sso";

#[derive(Deserialize, Default)]
pub struct Start {
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    invite: Option<String>,
}

/// A path on this site to return to; anything else is `/`.
fn local_path(next: Option<&str>) -> String {
    next.filter(|p| app::api::is_local_path(p))
        .unwrap_or("/")
        .to_string()
}

fn state_cookie(state: &AppState, value: &str, max_age: u32) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{STATE_COOKIE}={value}; Path=/auth/sso; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
        if state.auth.secure_cookies {
            "; Secure"
        } else {
            ""
        }
    ))
    .ok()
}

fn to(location: &str) -> Response {
    Redirect::to(location).into_response()
}

async fn redirect_uri(state: &AppState) -> String {
    format!("{}/auth/sso/callback", state.github.public_url().await)
}

pub async fn start(State(state): State<AppState>, Query(query): Query<Start>) -> Response {
    let purpose = if let Some(token) = query.invite.as_deref() {
        // An unusable link goes back to its page, which says why.
        match crate::auth::invitations::preview(&state.db, token).await {
            Ok(_) => Purpose::Invite {
                invitation_hash: crate::auth::api_keys::hash(token.trim()),
            },
            Err(_) => return to(&format!("/invite/{}", app::api::encode_query(token.trim()))),
        }
    } else {
        Purpose::SignIn
    };
    let next = local_path(query.next.as_deref());
    begin(&state, purpose, &next).await
}

/// Linking starts with a form post from Your account (a page of this
/// site: the same-origin guard refuses it from anywhere else).
pub async fn start_link(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match state.auth.user_from_headers(&state.db, &headers).await {
        Ok(user) => {
            let purpose = Purpose::Link {
                user_id: user.id.to_string(),
            };
            begin(&state, purpose, "/account").await
        }
        Err(_) => to("/login?next=/account"),
    }
}

async fn begin(state: &AppState, purpose: Purpose, next: &str) -> Response {
    let Some(client) = state.auth.sso.clone() else {
        return to("/login?error=sso_not_configured");
    };
    let linking = matches!(purpose, Purpose::Link { .. });
    match client
        .start(&state.db, &redirect_uri(state).await, purpose, next)
        .await
    {
        Ok((location, flow_state)) => {
            let mut response = to(&location);
            if let Some(cookie) = state_cookie(state, &flow_state, 600) {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(e) => {
            tracing::warn!(error = %e, "single sign-on could not start");
            let page = if linking { "/account" } else { "/login" };
            to(&format!("{page}?error={}", e.code()))
        }
    }
}

pub async fn callback(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Query(query): Query<Callback>,
) -> Response {
    let mut response = finish(&state, peer, &headers, query).await;
    // The state cookie is single use, whatever happened.
    if let Some(cookie) = state_cookie(&state, "", 0) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

async fn finish(
    state: &AppState,
    peer: std::net::SocketAddr,
    headers: &HeaderMap,
    query: Callback,
) -> Response {
    let Some(client) = state.auth.sso.clone() else {
        return to("/login?error=sso_not_configured");
    };
    let cookie = app::api::cookie_value(headers, STATE_COOKIE);
    let current = state.auth.user_from_headers(&state.db, headers).await.ok();
    let outcome = async {
        let confirmed = client
            .finish(&state.db, &redirect_uri(state).await, cookie, query)
            .await?;
        let outcome = sso::finish_sign_in(&client, &state.db, &confirmed, current.as_ref()).await?;
        Ok::<_, sso::SsoError>((outcome, confirmed.next))
    }
    .await;
    match outcome {
        Ok((Outcome::Linked, _)) => to("/account?linked=sso"),
        Ok((
            Outcome::SignedIn {
                user,
                joined,
                ended_others,
            },
            next,
        )) => {
            if ended_others {
                state.auth.connections.end_user(user.id);
            }
            let Ok(token) = state
                .auth
                .issue(&state.db, &user, headers, Some(peer.ip().to_string()))
                .await
            else {
                return to("/login?error=internal");
            };
            tracing::info!(user = %user.username, joined, "signed in with single sign-on");
            let mut response = to(&next);
            if let Ok(v) = HeaderValue::from_str(&state.auth.session_cookie(&token)) {
                response.headers_mut().append(header::SET_COOKIE, v);
            }
            response
        }
        Err(e) => {
            tracing::warn!(error = %e, "single sign-on refused");
            // Someone signed in was linking: back to their account page.
            let page = if current.is_some() {
                "/account"
            } else {
                "/login"
            };
            to(&format!("{page}?error={}", e.code()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_local_paths_are_returned_to() {
        assert_eq!(local_path(Some("/executions/1?x=1")), "/executions/1?x=1");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "evil",
            "/a\nb",
        ] {
            assert_eq!(local_path(Some(bad)), "/", "{bad}");
        }
        assert_eq!(local_path(None), "/");
    }
}

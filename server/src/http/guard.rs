//! Request guards: page access (setup → login → app) and refusal of
//! cross-site writes.

use axum::{
    extract::{Request, State},
    http::{Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
    Json,
};

use crate::auth::origin::same_origin;
use crate::{auth::accounts, state::AppState};

/// Refuses state-changing requests sent by another site's page. The
/// session cookie is `SameSite=Lax` already; this is the second lock.
pub async fn same_origin_writes(req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && same_origin(req.headers()) == Some(false) {
        return (
            StatusCode::FORBIDDEN,
            Json(
                serde_json::json!({"error": "forbidden", "message": "cross-site request refused"}),
            ),
        )
            .into_response();
    }
    next.run(req).await
}

/// Refuses requests for a host that is not ours: a page that rebinds its
/// own name to this machine's address cannot reach Yagura (before setup,
/// it could otherwise create the first admin).
///
/// GitHub's webhook (signed) and runners (token, `yagura runner --server`
/// names any host) are not browsers' business and pass.
pub async fn known_host(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if matches!(
        req.uri().path(),
        "/api/github/webhook" | "/ws/ktcp" | "/healthz"
    ) {
        return next.run(req).await;
    }
    let host = req.uri().host().map(str::to_string).or_else(|| {
        req.headers()
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(|h| crate::config::strip_port(h).to_string())
    });
    let known = match &host {
        None => true,
        Some(h) if state.config.host_allowed(h) => true,
        // The settings page's public URL (read only on this rare path).
        Some(h) => {
            let public = state.github.public_url().await;
            let authority = public.split_once("://").map_or("", |(_, r)| r);
            let name = crate::config::strip_port(authority.split('/').next().unwrap_or(""));
            name.eq_ignore_ascii_case(h.trim_end_matches('.'))
        }
    };
    match host {
        Some(host) if !known => (
            StatusCode::MISDIRECTED_REQUEST,
            Json(serde_json::json!({
                "error": "unknown_host",
                "message": format!(
                    "this server does not answer for {host:?}; start it with --allowed-host {host} (or --public-url) to allow it"
                ),
            })),
        )
            .into_response(),
        _ => next.run(req).await,
    }
}

/// Whether a request comes straight from this machine: a loopback peer
/// and no proxy header (behind a reverse proxy on this machine, every
/// peer is loopback, so forwarded requests count as remote).
pub fn from_this_machine(peer: std::net::IpAddr, headers: &axum::http::HeaderMap) -> bool {
    peer.is_loopback()
        && !["forwarded", "x-forwarded-for", "x-real-ip"]
            .iter()
            .any(|h| headers.contains_key(*h))
}

/// Sends a visitor where they belong before a page renders: to first-run
/// setup while no user exists, to the login page when not signed in, and
/// away from login/setup when there is nothing to do there.
pub async fn pages(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path.starts_with("/api/") || !matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.run(req).await;
    }
    let needs_setup = match accounts::needs_setup(&state.db).await {
        Ok(v) => v,
        Err(e) => return crate::http::error::HttpError(e).into_response(),
    };
    let signed_in = state
        .auth
        .user_from_headers(&state.db, req.headers())
        .await
        .is_ok();
    let target = match path {
        "/setup" if !needs_setup => Some(if signed_in {
            "/".to_string()
        } else {
            "/login".to_string()
        }),
        "/setup" => None,
        _ if needs_setup => Some("/setup".to_string()),
        "/login" if signed_in => Some("/".to_string()),
        "/login" => None,
        // An invitation link is its own credential (and may be opened by
        // someone signed in as another person, to make a second account).
        p if p.starts_with("/invite/") => None,
        _ if !signed_in => {
            let here = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            Some(if here == "/" {
                "/login".to_string()
            } else {
                format!("/login?next={}", app::api::encode_query(here))
            })
        }
        _ => None,
    };
    match target {
        Some(to) => Redirect::to(&to).into_response(),
        None => next.run(req).await,
    }
}

//! The HTTP surface: pages (Leptos SSR) and their server functions
//! (`server_fns`), the REST API (`rest`), GitHub's webhook and OAuth
//! callbacks, the WebSocket upgrades (`crate::ws`) and the embedded site
//! assets. Every operation is authorised by `crate::auth::policy`.

pub mod assets;
pub mod audit;
mod dashboard;
pub mod error;
mod fn_status;
pub mod guard;
pub mod headers;
pub mod metrics;
pub mod oauth;
pub mod rest;
pub mod server_fns;
mod sso;
mod team_fns;
pub mod webhook;

use std::sync::Arc;

use app::{api::Backend, shell, App};
use axum::{middleware, routing::get, Json, Router};
use leptos::prelude::{provide_context, use_context};
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::{compression::CompressionLayer, trace::TraceLayer};

use crate::state::AppState;
use crate::ws::team_dashboard::Dashboard;

pub fn router(state: AppState) -> Router {
    let dashboard = Dashboard::new(state.config.store.data_dir.clone());
    let (socketio, _io) = crate::ws::socketio::layer(state.clone(), dashboard.clone());
    let (assets_router, site_assets) = assets::site();
    let backend: Arc<dyn Backend> = Arc::new(state.clone());

    let context = {
        let site_assets = site_assets.clone();
        move || {
            provide_context(backend.clone());
            provide_context(site_assets.clone());
            // The response's CSP nonce (see `headers`), for the shell's scripts
            // and the ones Leptos streams.
            if let Some(nonce) = use_context::<axum::http::request::Parts>()
                .and_then(|p| p.extensions.get::<headers::CspNonce>().cloned())
            {
                provide_context(leptos::nonce::Nonce::from_value(nonce.0));
            }
        }
    };
    let options = state.leptos_options.clone();
    let routes = generate_route_list(App);

    // Pages and server functions; the guard sends anonymous visitors to
    // the login (or first-run setup) page before anything renders.
    let pages = Router::new()
        .leptos_routes_with_context(&state, routes, context.clone(), {
            let options = options.clone();
            move || shell(options.clone())
        })
        .route_layer(middleware::from_fn_with_state(state.clone(), guard::pages));

    let not_found =
        leptos_axum::render_app_async_with_context(context, move || shell(options.clone()));

    let mut router = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics::scrape))
        .route("/ws", get(crate::ws::browser::upgrade))
        .route("/ws/ktcp", get(crate::ws::runner::upgrade))
        .route(
            "/ws/team-dashboard",
            get(crate::ws::team_dashboard::upgrade),
        );
    if state.config.cc_anywhere.enabled {
        router = router.route("/ws/cc-anywhere", get(crate::ws::cc_anywhere::upgrade));
    }
    router
        .route(
            "/api/github/webhook",
            axum::routing::post(webhook::receive).layer(axum::extract::DefaultBodyLimit::max(
                crate::github::webhook::BODY_LIMIT,
            )),
        )
        .route("/auth/github", get(oauth::start))
        .route("/auth/github/callback", get(oauth::callback))
        .route("/auth/sso", get(sso::start))
        .route("/auth/sso/link", axum::routing::post(sso::start_link))
        .route("/auth/sso/callback", get(sso::callback))
        .merge(rest::router(&site_assets.stylesheet))
        .merge(pages)
        .merge(assets_router)
        .fallback(not_found)
        .layer(middleware::from_fn(fn_status::error_status))
        .layer(middleware::from_fn(guard::same_origin_writes))
        .layer(middleware::from_fn(headers::security_headers))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            guard::known_host,
        ))
        // Records changes; a request the guards refuse changed nothing and
        // is kept only if it was a sign-in.
        .layer(middleware::from_fn_with_state(state.clone(), audit::record))
        // Counts what the layers above answered too (refusals included).
        .layer(middleware::from_fn(metrics::track))
        .layer(CompressionLayer::new())
        // The span names the path, never the query: `?token=` carries
        // credentials (WebSocket clients that cannot set headers), and
        // neither is an invitation link's secret.
        .layer(TraceLayer::new_for_http().make_span_with(
            |req: &axum::http::Request<axum::body::Body>| {
                let path = req.uri().path();
                let path = if path.starts_with("/invite/") {
                    "/invite/…"
                } else {
                    path
                };
                tracing::info_span!("request", method = %req.method(), path = %path)
            },
        ))
        .layer(axum::Extension(dashboard))
        .with_state(state)
        // Outermost: Engine.IO's long polls and upgrades bypass the rest.
        .layer(socketio)
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

//! The built site (wasm, js, css, favicon), embedded in release builds by
//! memory-serve: ETags, gzip/brotli, and content-hashed routes that browsers
//! may cache for a year. Pages link to the hashed routes, so a new binary
//! never meets a stale bundle.

use app::SiteAssets;
use axum::Router;
use memory_serve::CacheControl;

use crate::state::AppState;

pub fn site() -> (Router<AppState>, SiteAssets) {
    let serve = memory_serve::load!()
        .index_file(None)
        .enable_hashed_routes(true)
        // Plain (unhashed) routes are revalidated with the ETag every time.
        .cache_control(CacheControl::NoCache);
    let manifest = serve.manifest();
    let defaults = SiteAssets::default();
    let pick = |route: &str| manifest.get(route).unwrap_or(route).to_string();
    let assets = SiteAssets {
        stylesheet: pick(&defaults.stylesheet),
        script: pick(&defaults.script),
        wasm: pick(&defaults.wasm),
    };
    (serve.into_router(), assets)
}

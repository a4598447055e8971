#![recursion_limit = "512"]

//! The browser entry point. Everything the page does lives in `app`; this
//! crate only exists so that the wasm bundle is a `cdylib` built with the
//! `hydrate` feature while the server builds `app` with `ssr`.

/// Called by the inline module script that the server puts in every page,
/// once the wasm module has been instantiated.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}

//! Embeds the built site (`target/site`: wasm, js, css, favicon) into the
//! binary with memory-serve, pre-compressed. Debug builds embed too
//! (`force-embed`), so tests serve exactly what a release does.
//!
//! The site is produced by `cargo xtask build-site`. When it is missing (for
//! example `cargo check` on a fresh clone) the server still builds, serves
//! pages without styles or hydration, and warns here.

use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let site = std::env::var("YAGURA_SITE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| manifest_dir.join("../target/site"));
    println!("cargo::rerun-if-env-changed=YAGURA_SITE_DIR");
    println!("cargo::rerun-if-changed=../migrations");
    if !site.join("pkg/yagura_bg.wasm").exists() {
        println!(
            "cargo::warning=no built site at {}: run `cargo xtask build-site` first, \
             or the UI will not hydrate",
            site.display()
        );
        std::fs::create_dir_all(&site).expect("create site directory");
        let marker = site.join("site-missing.txt");
        if !marker.exists() {
            std::fs::write(&marker, "run `cargo xtask build-site`\n").expect("write marker");
        }
    }
    std::env::set_var("MEMORY_SERVE_QUIET", "1");
    memory_serve::load_directory(site);
}

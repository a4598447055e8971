//! The embedded site: hashed asset links in pages, caching headers, 404s.
//! Needs the built site (`cargo xtask build-site`, which `cargo xtask test`
//! runs first).

use crate::common;

#[tokio::test]
async fn pages_link_hashed_assets_served_with_etag_and_compression() {
    let t = common::start().await;
    let token = t.setup_admin().await;
    let html = t
        .http
        .get(t.url("/"))
        .header("cookie", format!("yagura_session={token}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let css = extract(&html, "rel=\"stylesheet\" href=\"").expect("stylesheet link");
    let js = extract(&html, "rel=\"modulepreload\" href=\"").expect("module link");
    assert!(
        css.starts_with("/pkg/yagura.") && css.ends_with(".css") && css != "/pkg/yagura.css",
        "{css}"
    );
    assert!(
        js.starts_with("/pkg/yagura.") && js != "/pkg/yagura.js",
        "{js}"
    );
    assert!(html.contains(".wasm"), "the page preloads the wasm bundle");

    // Hashed routes never change, so they are cached for a year.
    let res = t
        .http
        .get(t.url(css))
        .header("accept-encoding", "br, gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        200,
        "run `cargo xtask build-site` before these tests"
    );
    assert!(res.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    assert_eq!(res.headers()["content-encoding"], "br");
    let etag = res.headers()["etag"].clone();

    // Plain routes are revalidated by ETag.
    let plain = t.http.get(t.url("/pkg/yagura.css")).send().await.unwrap();
    assert_eq!(plain.headers()["cache-control"], "no-cache");
    let etag_plain = plain.headers()["etag"].clone();
    let again = t
        .http
        .get(t.url("/pkg/yagura.css"))
        .header("if-none-match", etag_plain)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert!(!etag.is_empty());

    let wasm = t
        .http
        .get(t.url("/pkg/yagura_bg.wasm"))
        .send()
        .await
        .unwrap();
    assert_eq!(wasm.status(), 200);
    assert_eq!(wasm.headers()["content-type"], "application/wasm");
    let icon = t.http.get(t.url("/favicon.svg")).send().await.unwrap();
    assert_eq!(icon.status(), 200);
    t.shutdown().await;
}

#[tokio::test]
async fn unknown_pages_are_404_with_a_page() {
    let t = common::start().await;
    let res = t.http.get(t.url("/no/such/page")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert!(res.text().await.unwrap().contains("Page not found"));
    t.shutdown().await;
}

fn extract<'a>(html: &'a str, prefix: &str) -> Option<&'a str> {
    let start = html.find(prefix)? + prefix.len();
    let end = html[start..].find('"')? + start;
    Some(&html[start..end])
}

//! Security headers on every response, and the per-response nonce that
//! lets the page's own inline scripts (hydration, theme, streamed
//! resources) run under the Content Security Policy while nothing else
//! inline does.
//!
//! The policy: scripts only from this origin or with the nonce (and
//! `wasm-unsafe-eval` for the app's WebAssembly); connections, frames and
//! forms only to this origin; images from this origin or `data:` (remote
//! images in issue text would tell their host who reads the page); no
//! plugins, no `<base>`, no framing by other sites.

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The nonce of one response, for the shell's `<script nonce>`.
#[derive(Clone, Debug)]
pub struct CspNonce(pub String);

pub fn policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
         font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    )
}

pub async fn security_headers(mut req: Request, next: Next) -> Response {
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    req.extensions_mut().insert(CspNonce(nonce.clone()));
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&policy(&nonce)) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::policy;

    #[test]
    fn the_policy_names_the_nonce_and_forbids_the_rest() {
        let p = policy("abc");
        assert!(p.contains("script-src 'self' 'nonce-abc' 'wasm-unsafe-eval';"));
        assert!(!p.contains("script-src 'self' 'unsafe-inline'"));
        assert!(p.contains("frame-ancestors 'none'"));
        assert!(p.contains("img-src 'self' data:;"));
    }
}

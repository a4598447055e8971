//! Is a browser request from this server's own pages? A request carrying
//! the session cookie is only honoured from the same origin (cross-site
//! writes and WebSocket hijacking are refused).

use http::{header, HeaderMap};

/// Whether the request's `Origin` is this server (`None`: no Origin header,
/// as from non-browser clients, which cannot be driven cross-site).
pub fn same_origin(headers: &HeaderMap) -> Option<bool> {
    let origin = headers.get(header::ORIGIN)?.to_str().ok()?;
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .map(|a| a.trim_end_matches('/'));
    Some(match (authority, host) {
        (Some(a), Some(h)) => a.eq_ignore_ascii_case(h),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, host.parse().unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, o.parse().unwrap());
        }
        h
    }

    #[test]
    fn origin_must_match_host() {
        assert_eq!(same_origin(&headers(None, "127.0.0.1:3000")), None);
        assert_eq!(
            same_origin(&headers(Some("http://127.0.0.1:3000"), "127.0.0.1:3000")),
            Some(true)
        );
        assert_eq!(
            same_origin(&headers(Some("https://Yagura.example"), "yagura.example")),
            Some(true)
        );
        assert_eq!(
            same_origin(&headers(Some("http://evil.example"), "127.0.0.1:3000")),
            Some(false)
        );
        assert_eq!(
            same_origin(&headers(Some("http://127.0.0.1:3001"), "127.0.0.1:3000")),
            Some(false)
        );
        assert_eq!(
            same_origin(&headers(Some("null"), "127.0.0.1:3000")),
            Some(false)
        );
    }
}

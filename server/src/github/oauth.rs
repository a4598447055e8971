//! The GitHub side of "Sign in with GitHub": the code from the OAuth
//! callback is exchanged for a token, and GitHub says whose it is. The
//! browser flow (redirects, the state cookie, signing in) is in
//! `crate::http::oauth`.

use axum::http::header;
use octocrab::Octocrab;
use serde::Deserialize;

use super::{describe, DEFAULT_API_URL, DEFAULT_WEB_URL};

/// The API next to a GitHub web address (github.com, or Enterprise's
/// `/api/v3`).
pub fn api_url_of(web: &str) -> String {
    if web.trim_end_matches('/') == DEFAULT_WEB_URL {
        DEFAULT_API_URL.to_string()
    } else {
        format!("{}/api/v3", web.trim_end_matches('/'))
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    access_token: Option<String>,
}
#[derive(Deserialize)]
/// A GitHub account: its numeric id (logins can be renamed and reused)
/// and its login.
pub struct GhLogin {
    pub id: i64,
    pub login: String,
}

/// Exchanges the code for a token and asks GitHub who it belongs to.
pub async fn who(
    web: &str,
    client_id: &str,
    client_secret: &str,
    code: &str,
) -> anyhow::Result<GhLogin> {
    let exchange = Octocrab::builder()
        .base_uri(web)?
        .add_header(header::ACCEPT, "application/json".into())
        .build()?;
    let answer: TokenAnswer = exchange
        .post(
            "/login/oauth/access_token",
            Some(&serde_json::json!({
                "client_id": client_id,
                "client_secret": client_secret,
                "code": code,
            })),
        )
        .await
        .map_err(|e| anyhow::anyhow!(describe(&e)))?;
    let token = answer.access_token.ok_or_else(|| {
        anyhow::anyhow!("GitHub gave no access token (the code expired or was used)")
    })?;
    let api = Octocrab::builder()
        .base_uri(api_url_of(web))?
        .personal_token(token)
        .build()?;
    api.get("/user", None::<&()>)
        .await
        .map_err(|e| anyhow::anyhow!(describe(&e)))
}

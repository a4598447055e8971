//! Credentials of a connected repository: a personal access token or a
//! GitHub App installation. Checked when given, sealed at rest (as JSON),
//! never printed.

use app::api::ApiError;
use app::model::GithubConnect;
use serde::{Deserialize, Serialize};

use super::DEFAULT_API_URL;

/// Stored credentials (sealed as JSON).
#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Credentials {
    Token {
        token: String,
    },
    App {
        app_id: u64,
        private_key: String,
        installation_id: u64,
    },
}

impl Credentials {
    pub fn kind(&self) -> &'static str {
        match self {
            Credentials::Token { .. } => "token",
            Credentials::App { .. } => "app",
        }
    }
}

// Never print a secret, not even in a debug log.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({})", self.kind())
    }
}

/// Checks a connection request and turns it into credentials and an
/// API URL.
pub fn credentials_of(input: &GithubConnect) -> Result<(Credentials, String), ApiError> {
    let valid_part = |p: &str| {
        !p.is_empty()
            && p.len() <= 100
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    if !valid_part(input.owner.trim()) || !valid_part(input.repo.trim()) {
        return Err(ApiError::Invalid(
            "owner and repo must be GitHub names (letters, digits, - _ .)".into(),
        ));
    }
    let api_url = match input.api_base_url.as_deref().map(str::trim) {
        None | Some("") => DEFAULT_API_URL.to_string(),
        Some(url) => {
            let parsed: http::Uri = url
                .parse()
                .map_err(|_| ApiError::Invalid(format!("{url:?} is not a URL")))?;
            let userinfo = parsed.authority().is_some_and(|a| a.as_str().contains('@'));
            if !matches!(parsed.scheme_str(), Some("http" | "https"))
                || parsed.host().is_none()
                || userinfo
            {
                return Err(ApiError::Invalid(format!(
                    "the API base URL {url:?} must be http(s)://host[/path]"
                )));
            }
            url.trim_end_matches('/').to_string()
        }
    };
    let token = input
        .token
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let credentials = match (
        token,
        input.app_id,
        input.private_key.as_deref(),
        input.installation_id,
    ) {
        (Some(token), None, None, None) => {
            if token.len() > 1000 || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(ApiError::Invalid("that token is not a GitHub token".into()));
            }
            Credentials::Token {
                token: token.to_string(),
            }
        }
        (None, Some(app_id), Some(key), Some(installation_id)) => {
            jsonwebtoken::EncodingKey::from_rsa_pem(key.trim().as_bytes()).map_err(|_| {
                ApiError::Invalid("the App private key is not an RSA key in PEM form".into())
            })?;
            Credentials::App {
                app_id,
                private_key: key.trim().to_string(),
                installation_id,
            }
        }
        _ => {
            return Err(ApiError::Invalid(
                "give either a token, or an App's appId, privateKey and installationId".into(),
            ))
        }
    };
    Ok((credentials, api_url))
}

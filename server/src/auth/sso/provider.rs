//! The provider as discovery describes it (`<issuer>/.well-known/
//! openid-configuration`) and its signing keys (the JWKS), fetched when
//! first needed and kept for an hour. The keys are fetched again when a
//! token names one we do not hold (the provider rotated them), at most
//! once every ten seconds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use serde::Deserialize;
use tokio::sync::Mutex;

use super::SsoError;

const KEEP: Duration = Duration::from_secs(3600);
const REFETCH_KEYS_AFTER: Duration = Duration::from_secs(10);
/// Discovery documents and key sets are small; a bigger answer is refused.
const MAX_DOCUMENT: usize = 512 * 1024;

/// What discovery says (the fields this client uses).
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub id_token_signing_alg_values_supported: Vec<String>,
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
}

pub struct Provider {
    pub metadata: Metadata,
    pub keys: JwkSet,
    fetched: Instant,
    keys_fetched: Instant,
}

pub struct Cache {
    issuer: String,
    http: reqwest::Client,
    current: Mutex<Option<Arc<Provider>>>,
}

/// Whether `url` may be used: HTTPS, or plain HTTP to this machine only
/// (a provider under test, or one behind a local proxy).
pub fn acceptable_url(url: &str) -> bool {
    let Ok(parsed) = url.parse::<http::Uri>() else {
        return false;
    };
    match (parsed.scheme_str(), parsed.host()) {
        (Some("https"), Some(_)) => true,
        (Some("http"), Some(host)) => {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            host == "localhost"
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        _ => false,
    }
}

impl Cache {
    pub fn new(issuer: String, http: reqwest::Client) -> Self {
        Cache {
            issuer,
            http,
            current: Mutex::new(None),
        }
    }

    /// The provider, from the cache while it is fresh.
    pub async fn get(&self) -> Result<Arc<Provider>, SsoError> {
        let mut current = self.current.lock().await;
        if let Some(p) = current.as_ref().filter(|p| p.fetched.elapsed() < KEEP) {
            return Ok(p.clone());
        }
        let metadata = self.discover().await?;
        let keys = self.keys(&metadata.jwks_uri).await?;
        let now = Instant::now();
        let fresh = Arc::new(Provider {
            metadata,
            keys,
            fetched: now,
            keys_fetched: now,
        });
        *current = Some(fresh.clone());
        Ok(fresh)
    }

    /// The provider with its keys fetched again (a token named a key we
    /// do not hold), unless they were fetched moments ago.
    pub async fn refresh_keys(&self) -> Result<Arc<Provider>, SsoError> {
        let provider = self.get().await?;
        if provider.keys_fetched.elapsed() < REFETCH_KEYS_AFTER {
            return Ok(provider);
        }
        let keys = self.keys(&provider.metadata.jwks_uri).await?;
        let fresh = Arc::new(Provider {
            metadata: provider.metadata.clone(),
            keys,
            fetched: provider.fetched,
            keys_fetched: Instant::now(),
        });
        *self.current.lock().await = Some(fresh.clone());
        Ok(fresh)
    }

    async fn discover(&self) -> Result<Metadata, SsoError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let metadata: Metadata = self.fetch_json(&url).await?;
        // The issuer must be the one configured (a trailing slash aside):
        // tokens are checked against the discovered one, exactly.
        if metadata.issuer.trim_end_matches('/') != self.issuer.trim_end_matches('/') {
            return Err(SsoError::Provider(format!(
                "discovery at {url} names the issuer {:?}, not {:?}",
                metadata.issuer, self.issuer
            )));
        }
        for (what, endpoint) in [
            ("authorization_endpoint", &metadata.authorization_endpoint),
            ("token_endpoint", &metadata.token_endpoint),
            ("jwks_uri", &metadata.jwks_uri),
        ] {
            if !acceptable_url(endpoint) {
                return Err(SsoError::Provider(format!(
                    "discovery's {what} {endpoint:?} is not an https:// URL"
                )));
            }
        }
        Ok(metadata)
    }

    async fn keys(&self, url: &str) -> Result<JwkSet, SsoError> {
        // Keys of kinds this client does not know are skipped, not fatal.
        #[derive(Deserialize)]
        struct Loose {
            keys: Vec<serde_json::Value>,
        }
        let loose: Loose = self.fetch_json(url).await?;
        let keys = loose
            .keys
            .into_iter()
            .filter_map(|k| serde_json::from_value(k).ok())
            .collect::<Vec<_>>();
        if keys.is_empty() {
            return Err(SsoError::Provider(format!(
                "the provider's key set at {url} holds no key this server can use"
            )));
        }
        Ok(JwkSet { keys })
    }

    async fn fetch_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, SsoError> {
        let response = self
            .http
            .get(url)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| SsoError::Provider(format!("cannot reach {url}: {e}")))?;
        if !response.status().is_success() {
            return Err(SsoError::Provider(format!(
                "{url} answered {}",
                response.status()
            )));
        }
        let body = read_limited(response, MAX_DOCUMENT)
            .await
            .map_err(|e| SsoError::Provider(format!("{url}: {e}")))?;
        serde_json::from_slice(&body).map_err(|e| {
            SsoError::Provider(format!("{url} sent JSON this server cannot read: {e}"))
        })
    }
}

/// A response body, refused past `limit` bytes.
pub async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > limit {
            return Err(format!("the answer is larger than {limit} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::acceptable_url;

    #[test]
    fn endpoints_are_https_or_this_machine() {
        for ok in [
            "https://login.example.com/authorize",
            "http://127.0.0.1:8080/token",
            "http://localhost:9000/jwks",
            "http://[::1]:1/x",
        ] {
            assert!(acceptable_url(ok), "{ok}");
        }
        for bad in [
            "http://login.example.com/authorize",
            "http://10.0.0.1/token",
            "ftp://127.0.0.1/x",
            "/relative",
            "",
        ] {
            assert!(!acceptable_url(bad), "{bad}");
        }
    }
}

//! The instance's GitHub settings (the settings page): webhook secret,
//! public URL, status labels and the OAuth app for "Sign in with GitHub".
//! Secrets are sealed before they are stored.

use app::api::ApiError;
use app::model::{GithubSettings, GithubSettingsInput, StatusLabels};

use super::{GitHub, DEFAULT_WEB_URL};
use crate::db::{self, settings as store};
use crate::error::OrInternal;

/// Setting keys.
pub mod keys {
    pub const WEBHOOK_SECRET: &str = "github.webhook_secret";
    pub const PUBLIC_URL: &str = "public_url";
    pub const LABELS: &str = "github.status_labels";
    pub const OAUTH_CLIENT_ID: &str = "github.oauth_client_id";
    pub const OAUTH_CLIENT_SECRET: &str = "github.oauth_client_secret";
    pub const OAUTH_WEB_URL: &str = "github.oauth_web_url";
}

impl GitHub {
    /// The webhook secret: the environment's, else the settings page's.
    pub async fn webhook_secret(&self) -> anyhow::Result<Option<String>> {
        if let Some(secret) = &self.inner.config.webhook_secret {
            return Ok(Some(secret.clone()));
        }
        match store::get(&self.inner.db, keys::WEBHOOK_SECRET).await? {
            Some(sealed) => Ok(Some(self.inner.sealer.open(&sealed)?)),
            None => Ok(None),
        }
    }

    pub async fn public_url(&self) -> String {
        if let Some(url) = &self.inner.config.public_url {
            return url.trim_end_matches('/').to_string();
        }
        match store::get(&self.inner.db, keys::PUBLIC_URL).await {
            Ok(Some(url)) => url,
            _ => self.inner.local_url.clone(),
        }
    }

    pub async fn labels(&self) -> StatusLabels {
        store::get(&self.inner.db, keys::LABELS)
            .await
            .ok()
            .flatten()
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default()
    }

    pub async fn oauth_web_url(&self) -> String {
        store::get(&self.inner.db, keys::OAUTH_WEB_URL)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| DEFAULT_WEB_URL.to_string())
    }

    /// The OAuth app's client id and secret, when sign-in is configured.
    pub async fn oauth_client(&self) -> anyhow::Result<Option<(String, String)>> {
        let id = store::get(&self.inner.db, keys::OAUTH_CLIENT_ID).await?;
        let secret = store::get(&self.inner.db, keys::OAUTH_CLIENT_SECRET).await?;
        match (id, secret) {
            (Some(id), Some(secret)) => Ok(Some((id, self.inner.sealer.open(&secret)?))),
            _ => Ok(None),
        }
    }

    pub async fn settings(&self) -> Result<GithubSettings, ApiError> {
        let get = |key: &'static str| async move {
            store::get(&self.inner.db, key)
                .await
                .or_internal("reading settings")
        };
        let public_url = self.public_url().await;
        Ok(GithubSettings {
            webhook_url: format!("{public_url}/api/github/webhook"),
            webhook_secret_set: self.inner.config.webhook_secret.is_some()
                || get(keys::WEBHOOK_SECRET).await?.is_some(),
            webhook_secret_from_env: self.inner.config.webhook_secret.is_some(),
            public_url,
            labels: self.labels().await,
            oauth_client_id: get(keys::OAUTH_CLIENT_ID).await?,
            oauth_secret_set: get(keys::OAUTH_CLIENT_SECRET).await?.is_some(),
            oauth_web_url: self.oauth_web_url().await,
            poll_secs: self.inner.config.poll_interval.as_secs(),
        })
    }

    pub async fn save_settings(
        &self,
        input: GithubSettingsInput,
    ) -> Result<GithubSettings, ApiError> {
        let now = db::now_ms();
        let db = &self.inner.db;
        let set = |key: &'static str, value: Option<String>| async move {
            store::set(db, key, value.as_deref(), now)
                .await
                .or_internal("saving settings")
        };
        let clean = |v: String| Some(v.trim().to_string()).filter(|v| !v.is_empty());
        if let Some(secret) = input.webhook_secret {
            if secret.len() > 256 {
                return Err(ApiError::Invalid(
                    "the webhook secret is longer than 256 characters".into(),
                ));
            }
            set(
                keys::WEBHOOK_SECRET,
                clean(secret).map(|s| self.inner.sealer.seal(&s)),
            )
            .await?;
        }
        if let Some(url) = input.public_url {
            // The form shows the listening address when none is set: saving
            // it unchanged keeps following the address.
            let url = clean(url)
                .map(|u| u.trim_end_matches('/').to_string())
                .filter(|u| *u != self.inner.local_url);
            if let Some(u) = &url {
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    return Err(ApiError::Invalid(
                        "the public URL must start with http:// or https://".into(),
                    ));
                }
            }
            set(keys::PUBLIC_URL, url).await?;
        }
        if let Some(labels) = input.labels {
            for l in [&labels.in_progress, &labels.done, &labels.failed] {
                if l.trim().is_empty() || l.chars().count() > 50 {
                    return Err(ApiError::Invalid(
                        "status labels must be 1–50 characters".into(),
                    ));
                }
            }
            let labels = StatusLabels {
                in_progress: labels.in_progress.trim().into(),
                done: labels.done.trim().into(),
                failed: labels.failed.trim().into(),
            };
            set(keys::LABELS, serde_json::to_string(&labels).ok()).await?;
        }
        if let Some(id) = input.oauth_client_id {
            set(keys::OAUTH_CLIENT_ID, clean(id)).await?;
        }
        if let Some(secret) = input.oauth_client_secret {
            set(
                keys::OAUTH_CLIENT_SECRET,
                clean(secret).map(|s| self.inner.sealer.seal(&s)),
            )
            .await?;
        }
        if let Some(url) = input.oauth_web_url {
            let url = clean(url).map(|u| u.trim_end_matches('/').to_string());
            if let Some(u) = &url {
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    return Err(ApiError::Invalid(
                        "the GitHub web URL must start with http:// or https://".into(),
                    ));
                }
            }
            set(keys::OAUTH_WEB_URL, url).await?;
        }
        self.settings().await
    }
}

//! GitHub connection: what a person sends to connect a repository, and the
//! instance's GitHub settings as the settings page shows them. Secrets go
//! in (tokens, keys, webhook secret) and never come back out: the server
//! answers with whether one is set.

use serde::{Deserialize, Serialize};

/// How a repository talks to GitHub: a personal access token (classic or
/// fine-grained), or a GitHub App installation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GithubConnect {
    pub owner: String,
    pub repo: String,
    /// A personal access token.
    #[serde(default)]
    pub token: Option<String>,
    /// A GitHub App: its id, private key (PEM) and installation id.
    #[serde(default)]
    pub app_id: Option<u64>,
    #[serde(default)]
    pub private_key: Option<String>,
    #[serde(default)]
    pub installation_id: Option<u64>,
    /// `https://api.github.com` unless given (GitHub Enterprise:
    /// `https://HOST/api/v3`).
    #[serde(default)]
    pub api_base_url: Option<String>,
}

/// `github` of a new repository: just `owner/name` (no connection), or a
/// connection with credentials.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum GithubSpec {
    Name(String),
    Connect(GithubConnect),
}

/// What "test connection" found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ConnectionCheck {
    pub ok: bool,
    pub message: String,
    #[serde(default)]
    pub full_name: Option<String>,
    #[serde(default)]
    pub default_branch: Option<String>,
    #[serde(default)]
    pub private: Option<bool>,
    /// Whether the credentials may push (needed for pull requests).
    #[serde(default)]
    pub can_push: Option<bool>,
}

/// Labels set on a GitHub issue while a workflow runs on it and after.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct StatusLabels {
    pub in_progress: String,
    pub done: String,
    pub failed: String,
}

impl Default for StatusLabels {
    fn default() -> Self {
        StatusLabels {
            in_progress: "yagura:in-progress".into(),
            done: "yagura:done".into(),
            failed: "yagura:failed".into(),
        }
    }
}

/// The instance's GitHub settings, as shown (secrets only as "set").
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GithubSettings {
    /// Where GitHub should send webhooks.
    pub webhook_url: String,
    pub webhook_secret_set: bool,
    /// The secret comes from `YAGURA_GITHUB_WEBHOOK_SECRET` (the page
    /// cannot change it).
    pub webhook_secret_from_env: bool,
    /// The address links in GitHub comments point to.
    pub public_url: String,
    pub labels: StatusLabels,
    /// Sign in with GitHub: the OAuth app's client id (None: off).
    pub oauth_client_id: Option<String>,
    pub oauth_secret_set: bool,
    /// `https://github.com` unless set (GitHub Enterprise: its web address).
    pub oauth_web_url: String,
    /// Seconds between polls of connected repositories (0: webhooks only).
    pub poll_secs: u64,
}

/// A change to the settings: `None` leaves a field as it is; an empty
/// secret or client id clears it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GithubSettingsInput {
    #[serde(default)]
    pub webhook_secret: Option<String>,
    #[serde(default)]
    pub public_url: Option<String>,
    #[serde(default)]
    pub labels: Option<StatusLabels>,
    #[serde(default)]
    pub oauth_client_id: Option<String>,
    #[serde(default)]
    pub oauth_client_secret: Option<String>,
    #[serde(default)]
    pub oauth_web_url: Option<String>,
}

/// What a sync did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    pub created: u64,
    pub updated: u64,
    /// GitHub answered 304: nothing changed since the last poll.
    pub not_modified: bool,
}

/// The settings page: repositories and, for admins, the instance's GitHub
/// settings; the signed-in user's GitHub link.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GithubOverview {
    pub admin: bool,
    /// Admins only.
    pub settings: Option<GithubSettings>,
    pub repositories: Vec<super::Repository>,
    /// The GitHub login linked to the signed-in user.
    pub github_login: Option<String>,
    /// Sign in with GitHub is configured.
    pub sign_in_enabled: bool,
}

/// The settings form as a browser posts it (`form[…]` fields; empty
/// secrets mean "keep").
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct GithubSettingsForm {
    #[serde(default)]
    pub webhook_secret: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    pub clear_webhook_secret: Option<String>,
    #[serde(default)]
    pub public_url: String,
    #[serde(default)]
    pub label_in_progress: String,
    #[serde(default)]
    pub label_done: String,
    #[serde(default)]
    pub label_failed: String,
    #[serde(default)]
    pub oauth_client_id: String,
    #[serde(default)]
    pub oauth_client_secret: String,
    #[serde(default)]
    pub oauth_web_url: String,
}

impl GithubSettingsForm {
    pub fn into_input(self) -> GithubSettingsInput {
        GithubSettingsInput {
            webhook_secret: if self.clear_webhook_secret.is_some() {
                Some(String::new())
            } else {
                Some(self.webhook_secret).filter(|s| !s.trim().is_empty())
            },
            public_url: Some(self.public_url),
            labels: Some(StatusLabels {
                in_progress: self.label_in_progress,
                done: self.label_done,
                failed: self.label_failed,
            }),
            oauth_client_id: Some(self.oauth_client_id),
            oauth_client_secret: Some(self.oauth_client_secret).filter(|s| !s.trim().is_empty()),
            oauth_web_url: Some(self.oauth_web_url),
        }
    }
}

/// The connect form as a browser posts it (`form[…]` fields).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct GithubConnectForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub repo: String,
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub app_id: String,
    #[serde(default)]
    pub private_key: String,
    #[serde(default)]
    pub installation_id: String,
    #[serde(default)]
    pub api_base_url: String,
}

impl GithubConnectForm {
    /// The repository's name in Yagura (the GitHub name unless given) and
    /// the connection; an error names a field that is not a number.
    pub fn into_input(self) -> Result<(String, GithubConnect), String> {
        let number = |field: &str, value: &str| -> Result<Option<u64>, String> {
            let value = value.trim();
            if value.is_empty() {
                return Ok(None);
            }
            value
                .parse()
                .map(Some)
                .map_err(|_| format!("{field} must be a number"))
        };
        let text = |v: String| Some(v.trim().to_string()).filter(|v| !v.is_empty());
        let input = GithubConnect {
            owner: self.owner.trim().to_string(),
            repo: self.repo.trim().to_string(),
            token: text(self.token),
            app_id: number("the App id", &self.app_id)?,
            private_key: text(self.private_key),
            installation_id: number("the installation id", &self.installation_id)?,
            api_base_url: text(self.api_base_url),
        };
        let name = if self.name.trim().is_empty() {
            input.repo.clone()
        } else {
            self.name.trim().to_string()
        };
        Ok((name, input))
    }
}

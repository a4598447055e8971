//! GitHub: connected repositories (a personal access token or an App
//! installation, sealed at rest), the client for each, the instance's
//! GitHub settings, and the background work (polling, reporting back).
//!
//! - `sync`: the initial import of open issues and polling with ETags.
//! - `webhook`: `/api/github/webhook`, signature first, each delivery once.
//! - `report`: comments, labels and pull requests for workflow runs.
//! - `oauth`: sign in with GitHub.

pub mod oauth;
pub mod report;
pub mod service;
pub mod sync;
pub mod webhook;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::api::ApiError;
use app::model::{
    ConnectionCheck, GithubConnect, GithubSettings, GithubSettingsInput, StatusLabels,
};
use octocrab::Octocrab;
use serde::{Deserialize, Serialize};

use crate::db::{self, github as store, Db};
use crate::http::error::internal;
use crate::secrets::Sealer;

pub const DEFAULT_API_URL: &str = "https://api.github.com";
pub const DEFAULT_WEB_URL: &str = "https://github.com";

/// GitHub settings given at start-up (flags or environment).
#[derive(Clone, Debug)]
pub struct GithubConfig {
    /// `YAGURA_GITHUB_WEBHOOK_SECRET`: replaces the one set on the settings page.
    pub webhook_secret: Option<String>,
    /// Between polls of each connected repository (zero: no polling).
    pub poll_interval: Duration,
    /// `YAGURA_PUBLIC_URL`: where links in comments point (default: the
    /// listening address).
    pub public_url: Option<String>,
    /// How often runs that still owe GitHub a report are looked at.
    pub report_interval: Duration,
}

impl Default for GithubConfig {
    fn default() -> Self {
        GithubConfig {
            webhook_secret: None,
            poll_interval: Duration::from_secs(60),
            public_url: None,
            report_interval: Duration::from_secs(15),
        }
    }
}

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

/// Setting keys.
pub mod keys {
    pub const WEBHOOK_SECRET: &str = "github.webhook_secret";
    pub const PUBLIC_URL: &str = "public_url";
    pub const LABELS: &str = "github.status_labels";
    pub const OAUTH_CLIENT_ID: &str = "github.oauth_client_id";
    pub const OAUTH_CLIENT_SECRET: &str = "github.oauth_client_secret";
    pub const OAUTH_WEB_URL: &str = "github.oauth_web_url";
}

#[derive(Clone)]
pub struct GitHub {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    sealer: Sealer,
    config: GithubConfig,
    /// The listening address, for links when no public URL is set.
    local_url: String,
    /// One client per repository, dropped when its connection changes.
    /// Keyed by repository, with the sealed credentials and API URL it was
    /// built from (a client made from an older row is never reused). Shared
    /// by `Arc`: an App client's installation-token cache is per instance.
    clients: Mutex<HashMap<String, (String, Arc<Octocrab>)>>,
}

/// A repository's GitHub side, ready to use.
#[derive(Clone)]
pub struct Connected {
    pub repo: store::RepoRow,
    pub owner: String,
    pub name: String,
    pub client: Arc<Octocrab>,
    pub api_url: String,
}

/// The parts of GitHub's repository object Yagura reads.
#[derive(Clone, Debug, Deserialize)]
pub struct GhRepo {
    #[serde(default)]
    pub full_name: Option<String>,
    #[serde(default)]
    pub default_branch: Option<String>,
    #[serde(default)]
    pub private: Option<bool>,
    #[serde(default)]
    pub clone_url: Option<String>,
    #[serde(default)]
    pub permissions: Option<GhPermissions>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct GhPermissions {
    #[serde(default)]
    pub push: Option<bool>,
}

/// The parts of GitHub's issue object Yagura mirrors (the same in API
/// answers and webhook payloads).
#[derive(Clone, Debug, Deserialize)]
pub struct GhIssue {
    pub number: u64,
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    pub state: String,
    #[serde(default)]
    pub labels: Vec<GhLabel>,
    #[serde(default)]
    pub assignee: Option<GhUser>,
    #[serde(default)]
    pub html_url: Option<String>,
    #[serde(default)]
    pub user: Option<GhUser>,
    /// RFC 3339; orders payloads that arrive out of order.
    #[serde(default)]
    pub updated_at: Option<String>,
    /// Present on pull requests, which the issues API lists too.
    #[serde(default)]
    pub pull_request: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct GhLabel {
    pub name: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct GhUser {
    pub login: String,
}

impl Connected {
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    /// The role `login` has on the repository (`admin`, `maintain`,
    /// `write`, `triage`, `read` or `none`); `none` when GitHub will not say.
    pub async fn role_of(&self, login: &str) -> String {
        #[derive(Deserialize)]
        struct Permission {
            #[serde(default)]
            permission: Option<String>,
            #[serde(default)]
            role_name: Option<String>,
        }
        let route = format!(
            "/repos/{}/{}/collaborators/{}/permission",
            self.owner, self.name, login
        );
        match self.client.get::<Permission, _, ()>(route, None).await {
            Ok(p) => p
                .role_name
                .or(p.permission)
                .unwrap_or_else(|| "none".into()),
            Err(e) => {
                tracing::info!(login, error = %describe(&e), "cannot read a GitHub user's permission");
                "none".into()
            }
        }
    }

    pub async fn get_repo(&self) -> octocrab::Result<GhRepo> {
        self.client
            .get(format!("/repos/{}/{}", self.owner, self.name), None::<&()>)
            .await
    }
}

impl GitHub {
    pub fn new(db: Db, sealer: Sealer, config: GithubConfig, local_url: String) -> GitHub {
        GitHub {
            inner: Arc::new(Inner {
                db,
                sealer,
                config,
                local_url,
                clients: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn config(&self) -> &GithubConfig {
        &self.inner.config
    }

    pub fn sealer(&self) -> &Sealer {
        &self.inner.sealer
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
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
                if token.len() > 1000 || token.chars().any(|c| c.is_whitespace() || c.is_control())
                {
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

    /// Stores a repository's connection (sealed) and forgets its old client.
    pub async fn save_connection(
        &self,
        repo_id: &str,
        credentials: &Credentials,
        api_url: &str,
    ) -> Result<(), ApiError> {
        let sealed = self
            .inner
            .sealer
            .seal(&serde_json::to_string(credentials).unwrap_or_default());
        store::set_connection(
            &self.inner.db,
            repo_id,
            api_url,
            credentials.kind(),
            &sealed,
        )
        .await
        .map_err(|e| internal("saving a GitHub connection", e))?;
        self.forget(repo_id);
        Ok(())
    }

    pub fn forget(&self, repo_id: &str) {
        if let Ok(mut clients) = self.inner.clients.lock() {
            clients.remove(repo_id);
        }
    }

    fn credentials(&self, repo: &store::RepoRow) -> anyhow::Result<Credentials> {
        let sealed = repo
            .github_credentials
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("the repository is not connected to GitHub"))?;
        let json = self.inner.sealer.open(sealed)?;
        Ok(serde_json::from_str(&json)?)
    }

    /// The repository's client and names, if it is connected.
    pub async fn connected(&self, repo_id: &str) -> anyhow::Result<Option<Connected>> {
        let Some(repo) = store::find_repo(&self.inner.db, repo_id).await? else {
            return Ok(None);
        };
        if repo.github_credentials.is_none() || repo.github.is_none() {
            return Ok(None);
        }
        self.connect_row(repo).map(Some)
    }

    pub fn connect_row(&self, repo: store::RepoRow) -> anyhow::Result<Connected> {
        let (owner, name) = repo
            .github
            .as_deref()
            .and_then(|g| g.split_once('/'))
            .map(|(o, n)| (o.to_string(), n.to_string()))
            .ok_or_else(|| anyhow::anyhow!("the repository is not connected to GitHub"))?;
        let api_url = repo
            .github_api_url
            .clone()
            .unwrap_or_else(|| DEFAULT_API_URL.to_string());
        let key = format!(
            "{}\n{api_url}",
            repo.github_credentials.as_deref().unwrap_or_default()
        );
        let cached = self.inner.clients.lock().ok().and_then(|c| {
            c.get(&repo.id)
                .filter(|(k, _)| *k == key)
                .map(|(_, c)| c.clone())
        });
        let client = match cached {
            Some(c) => c,
            None => {
                let client = Arc::new(self.build_client(&self.credentials(&repo)?, &api_url)?);
                if let Ok(mut clients) = self.inner.clients.lock() {
                    clients.insert(repo.id.clone(), (key, client.clone()));
                }
                client
            }
        };
        Ok(Connected {
            repo,
            owner,
            name,
            client,
            api_url,
        })
    }

    fn build_client(&self, credentials: &Credentials, api_url: &str) -> anyhow::Result<Octocrab> {
        let builder = Octocrab::builder()
            .base_uri(api_url)?
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(30)));
        Ok(match credentials {
            Credentials::Token { token } => builder.personal_token(token.clone()).build()?,
            Credentials::App {
                app_id,
                private_key,
                installation_id,
            } => {
                let key = jsonwebtoken::EncodingKey::from_rsa_pem(private_key.as_bytes())?;
                builder
                    .app((*app_id).into(), key)
                    .build()?
                    .installation((*installation_id).into())?
            }
        })
    }

    /// A token git can use to clone and push (the PAT, or a fresh
    /// installation token).
    pub async fn git_token(&self, connected: &Connected) -> anyhow::Result<String> {
        use octocrab::secrecy::ExposeSecret;
        match self.credentials(&connected.repo)? {
            Credentials::Token { token } => Ok(token),
            Credentials::App { .. } => Ok(connected
                .client
                .installation_token()
                .await?
                .expose_secret()
                .to_string()),
        }
    }

    /// Reads the repository on GitHub: proves the credentials work and
    /// learns the default branch (stored).
    pub async fn check(&self, connected: &Connected) -> ConnectionCheck {
        match connected.get_repo().await {
            Ok(repo) => {
                if let Some(branch) = &repo.default_branch {
                    let _ =
                        store::set_default_branch(&self.inner.db, &connected.repo.id, branch).await;
                }
                let can_push = repo.permissions.as_ref().and_then(|p| p.push);
                ConnectionCheck {
                    ok: true,
                    message: match can_push {
                        Some(false) => {
                            "Connected, read only: pull requests and labels need write access"
                                .into()
                        }
                        _ => "Connected".into(),
                    },
                    full_name: repo.full_name.clone(),
                    default_branch: repo.default_branch.clone(),
                    private: repo.private,
                    can_push,
                }
            }
            Err(e) => ConnectionCheck {
                ok: false,
                message: describe(&e),
                full_name: None,
                default_branch: None,
                private: None,
                can_push: None,
            },
        }
    }

    /// The URL git clones from (asked of the API, so Enterprise and test
    /// servers say where their repositories are).
    pub async fn clone_url(&self, connected: &Connected) -> anyhow::Result<String> {
        let repo = connected
            .get_repo()
            .await
            .map_err(|e| anyhow::anyhow!(describe(&e)))?;
        if let Some(branch) = &repo.default_branch {
            store::set_default_branch(&self.inner.db, &connected.repo.id, branch).await?;
        }
        repo.clone_url
            .ok_or_else(|| anyhow::anyhow!("GitHub did not say where to clone from"))
    }

    /// The webhook secret: the environment's, else the settings page's.
    pub async fn webhook_secret(&self) -> anyhow::Result<Option<String>> {
        if let Some(secret) = &self.inner.config.webhook_secret {
            return Ok(Some(secret.clone()));
        }
        match store::get_setting(&self.inner.db, keys::WEBHOOK_SECRET).await? {
            Some(sealed) => Ok(Some(self.inner.sealer.open(&sealed)?)),
            None => Ok(None),
        }
    }

    pub async fn public_url(&self) -> String {
        if let Some(url) = &self.inner.config.public_url {
            return url.trim_end_matches('/').to_string();
        }
        match store::get_setting(&self.inner.db, keys::PUBLIC_URL).await {
            Ok(Some(url)) => url,
            _ => self.inner.local_url.clone(),
        }
    }

    pub async fn labels(&self) -> StatusLabels {
        store::get_setting(&self.inner.db, keys::LABELS)
            .await
            .ok()
            .flatten()
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default()
    }

    pub async fn oauth_web_url(&self) -> String {
        store::get_setting(&self.inner.db, keys::OAUTH_WEB_URL)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| DEFAULT_WEB_URL.to_string())
    }

    /// The OAuth app's client id and secret, when sign-in is configured.
    pub async fn oauth_client(&self) -> anyhow::Result<Option<(String, String)>> {
        let id = store::get_setting(&self.inner.db, keys::OAUTH_CLIENT_ID).await?;
        let secret = store::get_setting(&self.inner.db, keys::OAUTH_CLIENT_SECRET).await?;
        match (id, secret) {
            (Some(id), Some(secret)) => Ok(Some((id, self.inner.sealer.open(&secret)?))),
            _ => Ok(None),
        }
    }

    pub async fn settings(&self) -> Result<GithubSettings, ApiError> {
        let get = |key: &'static str| async move {
            store::get_setting(&self.inner.db, key)
                .await
                .map_err(|e| internal("reading settings", e))
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
            store::set_setting(db, key, value.as_deref(), now)
                .await
                .map_err(|e| internal("saving settings", e))
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

/// Labels and assignees can be set by triage and above.
pub fn may_triage(role: &str) -> bool {
    matches!(role, "admin" | "maintain" | "write" | "triage")
}

/// Starting a run by comment needs write access.
pub fn may_write(role: &str) -> bool {
    matches!(role, "admin" | "maintain" | "write")
}

/// One line saying what went wrong with a GitHub call, without secrets
/// (octocrab's errors carry no credentials; the body's message is GitHub's).
pub fn describe(err: &octocrab::Error) -> String {
    match err {
        octocrab::Error::GitHub { source, .. } => match source.status_code.as_u16() {
            401 => "GitHub refused the credentials (401): check the token or App key".into(),
            403 => format!("GitHub denied access (403): {}", source.message),
            404 => {
                "GitHub says the repository does not exist or the credentials cannot see it (404)"
                    .into()
            }
            code => format!("GitHub answered {code}: {}", source.message),
        },
        octocrab::Error::Hyper { .. } | octocrab::Error::Service { .. } => {
            format!("cannot reach GitHub: {}", first_line(&err.to_string()))
        }
        other => first_line(&other.to_string()),
    }
}

fn first_line(s: &str) -> String {
    s.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect()
}

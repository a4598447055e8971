//! GitHub: connected repositories (a personal access token or an App
//! installation, sealed at rest), a client for each, and the instance's
//! GitHub settings.
//!
//! - `client`: a connected repository's client and GitHub's objects.
//! - `credentials`, `settings`: what is connected, and how.
//! - `mirror`, `sync`, `webhook`: issues flow in (import, polling,
//!   deliveries), each change applied once.
//! - `issues`: issues made or changed in Yagura go to GitHub first.
//! - `report`: comments, labels and pull requests for workflow runs.
//! - `propose`: "Open pull request" from a run's Changes page.
//! - `oauth`: the GitHub side of "Sign in with GitHub".

pub mod client;
pub mod credentials;
pub mod issues;
pub mod mirror;
pub mod oauth;
mod propose;
pub mod report;
pub mod settings;
pub mod sync;
pub mod webhook;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::api::ApiError;
use app::model::ConnectionCheck;
use octocrab::Octocrab;

use crate::config::GithubConfig;
use crate::db::repositories::{self, RepositoryRow};
use crate::db::Db;
use crate::error::OrInternal;
use crate::secrets::Sealer;
use crate::worktrees::{git::Remote, RemoteAccess};

pub use client::{describe, may_triage, may_write, Connected, GhIssue, GhLabel, GhUser};
pub use credentials::{credentials_of, Credentials};

pub const DEFAULT_API_URL: &str = "https://api.github.com";
pub const DEFAULT_WEB_URL: &str = "https://github.com";

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
        repositories::set_connection(
            &self.inner.db,
            repo_id,
            api_url,
            credentials.kind(),
            &sealed,
        )
        .await
        .or_internal("saving a GitHub connection")?;
        self.forget(repo_id);
        Ok(())
    }

    pub fn forget(&self, repo_id: &str) {
        if let Ok(mut clients) = self.inner.clients.lock() {
            clients.remove(repo_id);
        }
    }

    fn credentials(&self, repo: &RepositoryRow) -> anyhow::Result<Credentials> {
        let sealed = repo
            .github_credentials
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("the repository is not connected to GitHub"))?;
        let json = self.inner.sealer.open(sealed)?;
        Ok(serde_json::from_str(&json)?)
    }

    /// The repository's client and names, if it is connected.
    pub async fn connected(&self, repo_id: &str) -> anyhow::Result<Option<Connected>> {
        let Some(repo) = repositories::find(&self.inner.db, repo_id).await? else {
            return Ok(None);
        };
        if repo.github_credentials.is_none() || repo.github.is_none() {
            return Ok(None);
        }
        self.connect_row(repo).map(Some)
    }

    pub fn connect_row(&self, repo: RepositoryRow) -> anyhow::Result<Connected> {
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
                    let _ = repositories::set_default_branch(
                        &self.inner.db,
                        &connected.repo.id,
                        branch,
                    )
                    .await;
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
            repositories::set_default_branch(&self.inner.db, &connected.repo.id, branch).await?;
        }
        repo.clone_url
            .ok_or_else(|| anyhow::anyhow!("GitHub did not say where to clone from"))
    }
}

#[async_trait::async_trait]
impl RemoteAccess for GitHub {
    /// A connected repository's clone URL (asked of the API, so Enterprise
    /// and test servers say where their repositories are) and a token git
    /// can use (the PAT, or a fresh installation token).
    async fn remote(&self, repo: &RepositoryRow) -> anyhow::Result<Option<Remote>> {
        if repo.github_credentials.is_none() {
            return Ok(None);
        }
        let connected = self.connect_row(repo.clone())?;
        let url = self.clone_url(&connected).await?;
        let token = self.git_token(&connected).await?;
        Ok(Some(Remote { url, token }))
    }
}

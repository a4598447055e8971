//! The GitHub REST API as Yagura uses it: a connected repository's client
//! ([`Connected`]), the parts of GitHub's objects that are read, and
//! errors turned into one readable line without secrets.

use std::sync::Arc;

use octocrab::Octocrab;
use serde::Deserialize;

use crate::db::repositories::RepositoryRow;

/// A repository's GitHub side, ready to use.
#[derive(Clone)]
pub struct Connected {
    pub repo: RepositoryRow,
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

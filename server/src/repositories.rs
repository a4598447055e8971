//! Repositories: where issues live and what agents work in. One may mirror
//! a GitHub repository (connected with credentials, its issues imported and
//! kept in sync) and may have a local checkout on this machine.
//!
//! Rules beyond a plain role live here: connecting GitHub and setting a
//! local path need an admin (a local path lets agents work in any
//! directory the server can write; credentials act on GitHub for everyone).

use app::api::ApiError;
use app::model::{
    ConnectionCheck, GithubConnect, GithubSpec, Repository, RepositoryId, RepositoryInput, Role,
    User,
};

use crate::db::repositories::{self as store, RepositoryRow};
use crate::db::{self, issues as issue_store, Db};
use crate::error::OrInternal;
use crate::github::{credentials_of, sync::IssueSync, GitHub};
use crate::worktrees::Worktrees;

#[derive(Clone)]
pub struct Repositories {
    db: Db,
    github: GitHub,
    worktrees: Worktrees,
    sync: IssueSync,
}

fn to_repository(row: RepositoryRow) -> Result<Repository, ApiError> {
    Ok(Repository {
        id: row.id.parse().or_internal("stored repository id")?,
        connected: row.connected(),
        name: row.name,
        github: row.github,
        local_path: row.local_path,
        open_issues: row.open_issues.max(0) as u64,
        created_at: row.created_at,
        github_auth: row.github_auth,
        api_base_url: row.github_api_url,
        default_branch: row.default_branch,
        synced_at: row.github_synced_at,
        sync_error: row.github_error,
        disk_bytes: None,
        keep_worktrees: row.keep_worktrees,
    })
}

fn clean_optional(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// `owner/name` with GitHub's characters only.
fn valid_github_name(g: &str) -> bool {
    g.split('/').count() == 2
        && g.split('/').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
}

impl Repositories {
    pub fn new(db: Db, github: GitHub, worktrees: Worktrees, sync: IssueSync) -> Self {
        Repositories {
            db,
            github,
            worktrees,
            sync,
        }
    }

    /// The repositories; with `disk`, each one's disk use too (measured at
    /// most once a minute, so lists that do not show it skip it).
    pub async fn list(&self, disk: bool) -> Result<Vec<Repository>, ApiError> {
        let rows = store::list(&self.db)
            .await
            .or_internal("listing repositories")?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let usage = if disk && (row.connected() || row.local_path.is_some()) {
                self.worktrees.disk_usage(&row).await
            } else {
                None
            };
            let mut repo = to_repository(row)?;
            repo.disk_bytes = usage;
            out.push(repo);
        }
        Ok(out)
    }

    async fn row(&self, id: RepositoryId) -> Result<RepositoryRow, ApiError> {
        store::find(&self.db, &id.to_string())
            .await
            .or_internal("reading a repository")?
            .ok_or(ApiError::NotFound)
    }

    pub async fn get(&self, id: RepositoryId) -> Result<Repository, ApiError> {
        to_repository(self.row(id).await?)
    }

    /// A repository with its disk use.
    pub async fn with_disk_usage(&self, id: RepositoryId) -> Result<Repository, ApiError> {
        let row = self.row(id).await?;
        let usage = self.worktrees.disk_usage(&row).await;
        let mut repo = to_repository(row)?;
        repo.disk_bytes = usage;
        Ok(repo)
    }

    /// Creates a repository; connecting GitHub or giving a local path needs
    /// an admin.
    pub async fn create(
        &self,
        actor: &User,
        input: RepositoryInput,
    ) -> Result<Repository, ApiError> {
        let admin_only = matches!(input.github, Some(GithubSpec::Connect(_)))
            || input
                .local_path
                .as_deref()
                .is_some_and(|p| !p.trim().is_empty());
        if admin_only && !actor.role.at_least(Role::Admin) {
            return Err(ApiError::Forbidden);
        }
        let name = input.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(ApiError::Invalid(
                "a repository name must be 1–100 characters".into(),
            ));
        }
        let (github, connect) = match input.github {
            None => (None, None),
            Some(GithubSpec::Name(g)) => (clean_optional(Some(g)), None),
            Some(GithubSpec::Connect(c)) => {
                let checked = credentials_of(&c)?;
                let full_name = format!("{}/{}", c.owner.trim(), c.repo.trim());
                self.check_connectable(None, &full_name).await?;
                (Some(full_name), Some(checked))
            }
        };
        if let Some(g) = &github {
            if !valid_github_name(g) {
                return Err(ApiError::Invalid(format!(
                    "{g:?} is not a GitHub repository (owner/name)"
                )));
            }
        }
        let local_path = clean_optional(input.local_path);
        if let Some(p) = &local_path {
            if !std::path::Path::new(p).is_absolute() {
                return Err(ApiError::Invalid(format!(
                    "the local path {p:?} must be absolute"
                )));
            }
        }
        let id = RepositoryId(uuid::Uuid::new_v4());
        store::insert(
            &self.db,
            &id.to_string(),
            name,
            github.as_deref(),
            local_path.as_deref(),
            db::now_ms(),
        )
        .await
        .map_err(|e| {
            if db::is_unique_violation(&e) {
                ApiError::Conflict(format!("a repository called {name:?} exists already"))
            } else {
                crate::error::internal("creating a repository", e)
            }
        })?;
        if let Some((credentials, api_url)) = connect {
            self.github
                .save_connection(&id.to_string(), &credentials, &api_url)
                .await?;
            self.sync.start_import(&id.to_string());
        }
        self.get(id).await
    }

    /// Connects (or reconnects with new credentials) an existing repository
    /// and imports its open issues in the background.
    pub async fn connect(
        &self,
        id: RepositoryId,
        input: GithubConnect,
    ) -> Result<Repository, ApiError> {
        let (credentials, api_url) = credentials_of(&input)?;
        let full_name = format!("{}/{}", input.owner.trim(), input.repo.trim());
        let row = self.row(id).await?;
        if row
            .github
            .as_deref()
            .map(|g| !g.eq_ignore_ascii_case(&full_name))
            .unwrap_or(false)
            && row.connected()
        {
            return Err(ApiError::Conflict(format!(
                "the repository mirrors {} already; make a new one for {full_name}",
                row.github.unwrap_or_default()
            )));
        }
        self.check_connectable(Some(&row.id), &full_name).await?;
        store::set_github_name(&self.db, &row.id, &full_name)
            .await
            .or_internal("naming a repository's GitHub twin")?;
        self.github
            .save_connection(&row.id, &credentials, &api_url)
            .await?;
        self.sync.start_import(&row.id);
        self.with_disk_usage(id).await
    }

    /// A GitHub repository is mirrored by one Yagura repository, and a
    /// repository with issues made in Yagura cannot start mirroring one
    /// (their numbers would collide with GitHub's).
    async fn check_connectable(
        &self,
        repo_id: Option<&str>,
        full_name: &str,
    ) -> Result<(), ApiError> {
        if let Some(name) = store::other_twin(&self.db, full_name, repo_id.unwrap_or(""))
            .await
            .or_internal("checking GitHub twins")?
        {
            return Err(ApiError::Conflict(format!(
                "{full_name} is mirrored by the repository {name:?} already"
            )));
        }
        if let Some(id) = repo_id {
            let local = issue_store::count_local_issues(&self.db, id)
                .await
                .or_internal("counting issues")?;
            if local > 0 {
                return Err(ApiError::Conflict(format!(
                    "this repository has {local} issue(s) made in Yagura, whose numbers would clash with GitHub's; connect a new repository instead"
                )));
            }
        }
        Ok(())
    }

    /// Reads the repository on GitHub: do the credentials work?
    pub async fn test(&self, id: RepositoryId) -> Result<ConnectionCheck, ApiError> {
        let connected = self
            .github
            .connected(&id.to_string())
            .await
            .or_internal("opening a GitHub connection")?;
        match connected {
            Some(c) => Ok(self.github.check(&c).await),
            None => {
                self.row(id).await?;
                Err(ApiError::Conflict(
                    "the repository is not connected to GitHub".into(),
                ))
            }
        }
    }

    /// Polls GitHub now.
    pub async fn sync_now(&self, id: RepositoryId) -> Result<app::model::SyncReport, ApiError> {
        // An unknown repository is 404, not "not connected" (409).
        self.row(id).await?;
        self.sync.poll(&id.to_string()).await
    }

    pub async fn set_keep_worktrees(&self, id: RepositoryId, keep: bool) -> Result<(), ApiError> {
        if store::set_keep_worktrees(&self.db, &id.to_string(), keep)
            .await
            .or_internal("saving a repository")?
        {
            Ok(())
        } else {
            Err(ApiError::NotFound)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::valid_github_name;

    #[test]
    fn github_names_are_owner_slash_repo() {
        assert!(valid_github_name("acme/widgets.rs"));
        assert!(!valid_github_name("acme"));
        assert!(!valid_github_name("acme/wid/gets"));
        assert!(!valid_github_name("acme/wid gets"));
        assert!(!valid_github_name("/widgets"));
    }
}

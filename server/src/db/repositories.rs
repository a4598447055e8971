//! Repositories: names, GitHub connections (credentials sealed), local
//! checkouts, sync state.

use sqlx::FromRow;

use super::Db;

/// A repository: the issues' home, and what agents work in (its local
/// checkout or a clone of its GitHub twin).
#[derive(Debug, Clone, FromRow)]
pub struct RepositoryRow {
    pub id: String,
    pub name: String,
    /// `owner/name` on GitHub.
    pub github: Option<String>,
    pub local_path: Option<String>,
    pub created_at: i64,
    /// Open issues (counted, not stored).
    pub open_issues: i64,
    pub github_api_url: Option<String>,
    /// `token` or `app`.
    pub github_auth: Option<String>,
    /// Sealed (see `crate::secrets`).
    pub github_credentials: Option<String>,
    pub default_branch: Option<String>,
    pub github_etag: Option<String>,
    pub github_synced_at: Option<i64>,
    pub github_error: Option<String>,
    pub keep_worktrees: bool,
}

impl RepositoryRow {
    /// Connected to GitHub: it has credentials.
    pub fn connected(&self) -> bool {
        self.github_credentials.is_some()
    }
}

const COLUMNS: &str = "r.id, r.name, r.github, r.local_path, r.created_at, \
    (SELECT COUNT(*) FROM issues i WHERE i.repository_id = r.id AND i.state = 'open') AS open_issues, \
    r.github_api_url, r.github_auth, r.github_credentials, r.default_branch, r.github_etag, \
    r.github_synced_at, r.github_error, r.keep_worktrees";

pub async fn list(db: &Db) -> sqlx::Result<Vec<RepositoryRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM repositories r ORDER BY lower(r.name)"
        ))
        .fetch_all(db)
        .await
    })
}

pub async fn find(db: &Db, id: &str) -> sqlx::Result<Option<RepositoryRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM repositories r WHERE r.id = $1"
        ))
        .bind(id)
        .fetch_optional(db)
        .await
    })
}

pub async fn insert(
    db: &Db,
    id: &str,
    name: &str,
    github: Option<&str>,
    local_path: Option<&str>,
    now: i64,
) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query(
            "INSERT INTO repositories (id, name, github, local_path, next_number, created_at) \
             VALUES ($1, $2, $3, $4, 1, $5)",
        )
        .bind(id)
        .bind(name)
        .bind(github)
        .bind(local_path)
        .bind(now)
        .execute(db)
        .await
        .map(|_| ())
    })
}

/// The connected repository mirroring `owner/name` (ignoring case).
pub async fn find_by_github(db: &Db, full_name: &str) -> sqlx::Result<Option<RepositoryRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM repositories r WHERE lower(r.github) = lower($1) \
             AND r.github_credentials IS NOT NULL ORDER BY r.created_at LIMIT 1"
        ))
        .bind(full_name)
        .fetch_optional(db)
        .await
    })
}

/// Repositories with GitHub credentials (the ones to sync).
pub async fn connected(db: &Db) -> sqlx::Result<Vec<RepositoryRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM repositories r WHERE r.github_credentials IS NOT NULL ORDER BY r.created_at"
        ))
        .fetch_all(db)
        .await
    })
}

/// The connected repository mirroring `full_name`, other than `except`.
pub async fn other_twin(db: &Db, full_name: &str, except: &str) -> sqlx::Result<Option<String>> {
    crate::on_db!(db, db => {
        sqlx::query_scalar(
            "SELECT name FROM repositories WHERE lower(github) = lower($1) AND id <> $2 \
             AND github_credentials IS NOT NULL LIMIT 1",
        )
        .bind(full_name)
        .bind(except)
        .fetch_optional(db)
        .await
    })
}

/// Repositories agents can work in (a GitHub twin or a local checkout).
pub async fn working(db: &Db) -> sqlx::Result<Vec<RepositoryRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM repositories r WHERE r.github_credentials IS NOT NULL OR r.local_path IS NOT NULL"
        ))
        .fetch_all(db)
        .await
    })
}

pub async fn set_connection(
    db: &Db,
    id: &str,
    api_url: &str,
    auth: &str,
    credentials: &str,
) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query(
            "UPDATE repositories SET github_api_url = $2, github_auth = $3, github_credentials = $4, \
             github_etag = NULL, github_error = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(api_url)
        .bind(auth)
        .bind(credentials)
        .execute(db)
        .await
        .map(|_| ())
    })
}

pub async fn set_github_name(db: &Db, id: &str, full_name: &str) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query("UPDATE repositories SET github = $2 WHERE id = $1")
            .bind(id)
            .bind(full_name)
            .execute(db)
            .await
            .map(|_| ())
    })
}

pub async fn set_default_branch(db: &Db, id: &str, branch: &str) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query("UPDATE repositories SET default_branch = $2 WHERE id = $1")
            .bind(id)
            .bind(branch)
            .execute(db)
            .await
            .map(|_| ())
    })
}

pub async fn set_keep_worktrees(db: &Db, id: &str, keep: bool) -> sqlx::Result<bool> {
    crate::on_db!(db, db => {
        sqlx::query("UPDATE repositories SET keep_worktrees = $2 WHERE id = $1")
            .bind(id)
            .bind(keep)
            .execute(db)
            .await
            .map(|r| r.rows_affected() > 0)
    })
}

/// Records a sync's outcome: its ETag and time on success, the error
/// otherwise (the previous ETag stays).
pub async fn set_sync_result(
    db: &Db,
    id: &str,
    etag: Option<&str>,
    synced_at: Option<i64>,
    error: Option<&str>,
) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query(
            "UPDATE repositories SET github_etag = COALESCE($2, github_etag), \
             github_synced_at = COALESCE($3, github_synced_at), github_error = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(etag)
        .bind(synced_at)
        .bind(error)
        .execute(db)
        .await
        .map(|_| ())
    })
}

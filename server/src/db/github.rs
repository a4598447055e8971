//! GitHub: repository connections, webhook deliveries, instance settings,
//! issues mirrored by number, working copies and run reports.

use sqlx::FromRow;

use super::Db;

/// A repository with everything the GitHub side needs.
#[derive(Debug, Clone, FromRow)]
pub struct RepoRow {
    pub id: String,
    pub name: String,
    pub github: Option<String>,
    pub local_path: Option<String>,
    pub github_api_url: Option<String>,
    pub github_auth: Option<String>,
    /// Sealed (see `crate::secrets`).
    pub github_credentials: Option<String>,
    pub default_branch: Option<String>,
    pub github_etag: Option<String>,
    pub github_synced_at: Option<i64>,
    pub github_error: Option<String>,
    pub keep_worktrees: bool,
}

const REPO_COLUMNS: &str = "id, name, github, local_path, github_api_url, github_auth, \
    github_credentials, default_branch, github_etag, github_synced_at, github_error, keep_worktrees";

pub async fn find_repo(db: &Db, id: &str) -> sqlx::Result<Option<RepoRow>> {
    sqlx::query_as(&format!(
        "SELECT {REPO_COLUMNS} FROM repositories WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// The connected repository mirroring `owner/name` (ignoring case).
pub async fn find_repo_by_github(db: &Db, full_name: &str) -> sqlx::Result<Option<RepoRow>> {
    sqlx::query_as(&format!(
        "SELECT {REPO_COLUMNS} FROM repositories WHERE lower(github) = lower($1) \
         AND github_credentials IS NOT NULL ORDER BY created_at LIMIT 1"
    ))
    .bind(full_name)
    .fetch_optional(db)
    .await
}

/// Repositories with GitHub credentials (the ones to sync).
pub async fn connected_repos(db: &Db) -> sqlx::Result<Vec<RepoRow>> {
    sqlx::query_as(&format!(
        "SELECT {REPO_COLUMNS} FROM repositories WHERE github_credentials IS NOT NULL ORDER BY created_at"
    ))
    .fetch_all(db)
    .await
}

/// Issues of a repository that did not come from GitHub.
pub async fn count_local_issues(db: &Db, repository_id: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM issues WHERE repository_id = $1 AND html_url IS NULL")
        .bind(repository_id)
        .fetch_one(db)
        .await
}

/// The connected repository mirroring `full_name`, other than `except`.
pub async fn other_twin(db: &Db, full_name: &str, except: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar(
        "SELECT name FROM repositories WHERE lower(github) = lower($1) AND id <> $2 \
         AND github_credentials IS NOT NULL LIMIT 1",
    )
    .bind(full_name)
    .bind(except)
    .fetch_optional(db)
    .await
}

/// Repositories agents can work in (a GitHub twin or a local checkout).
pub async fn working_repos(db: &Db) -> sqlx::Result<Vec<RepoRow>> {
    sqlx::query_as(&format!(
        "SELECT {REPO_COLUMNS} FROM repositories WHERE github_credentials IS NOT NULL OR local_path IS NOT NULL"
    ))
    .fetch_all(db)
    .await
}

pub async fn set_connection(
    db: &Db,
    id: &str,
    api_url: &str,
    auth: &str,
    credentials: &str,
) -> sqlx::Result<()> {
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
}

pub async fn set_github_name(db: &Db, id: &str, full_name: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE repositories SET github = $2 WHERE id = $1")
        .bind(id)
        .bind(full_name)
        .execute(db)
        .await
        .map(|_| ())
}

pub async fn set_default_branch(db: &Db, id: &str, branch: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE repositories SET default_branch = $2 WHERE id = $1")
        .bind(id)
        .bind(branch)
        .execute(db)
        .await
        .map(|_| ())
}

pub async fn set_keep_worktrees(db: &Db, id: &str, keep: bool) -> sqlx::Result<bool> {
    sqlx::query("UPDATE repositories SET keep_worktrees = $2 WHERE id = $1")
        .bind(id)
        .bind(keep)
        .execute(db)
        .await
        .map(|r| r.rows_affected() > 0)
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
}

/// A claim older than this whose application never finished (the server
/// died mid-way) may be taken again by a redelivery.
pub const STALE_CLAIM_MS: i64 = 5 * 60 * 1000;

/// Claims a webhook delivery: true for the first claim of this id (or one
/// whose earlier claim was left unfinished), false for a redelivery of an
/// applied one or a concurrent duplicate.
pub async fn claim_delivery(db: &Db, delivery: &str, event: &str, now: i64) -> sqlx::Result<bool> {
    sqlx::query(
        "INSERT INTO github_deliveries (delivery_id, event, outcome, received_at) \
         VALUES ($1, $2, 'processing', $3) ON CONFLICT (delivery_id) DO UPDATE \
         SET received_at = excluded.received_at \
         WHERE github_deliveries.outcome = 'processing' AND github_deliveries.received_at < $4",
    )
    .bind(delivery)
    .bind(event)
    .bind(now)
    .bind(now - STALE_CLAIM_MS)
    .execute(db)
    .await
    .map(|r| r.rows_affected() == 1)
}

/// Forgets deliveries older than `before` (GitHub redelivers for days, not
/// months).
pub async fn prune_deliveries(db: &Db, before: i64) -> sqlx::Result<u64> {
    sqlx::query("DELETE FROM github_deliveries WHERE received_at < $1")
        .bind(before)
        .execute(db)
        .await
        .map(|r| r.rows_affected())
}

pub async fn set_delivery_outcome(db: &Db, delivery: &str, outcome: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE github_deliveries SET outcome = $2 WHERE delivery_id = $1")
        .bind(delivery)
        .bind(outcome)
        .execute(db)
        .await
        .map(|_| ())
}

/// Forgets a claimed delivery whose application failed, so GitHub's
/// redelivery is applied.
pub async fn release_delivery(db: &Db, delivery: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM github_deliveries WHERE delivery_id = $1")
        .bind(delivery)
        .execute(db)
        .await
        .map(|_| ())
}

pub async fn get_setting(db: &Db, key: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
        .bind(key)
        .fetch_optional(db)
        .await
}

pub async fn set_setting(db: &Db, key: &str, value: Option<&str>, now: i64) -> sqlx::Result<()> {
    match value {
        Some(value) => sqlx::query(
            "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(key)
        .bind(value)
        .bind(now)
        .execute(db)
        .await
        .map(|_| ()),
        None => sqlx::query("DELETE FROM settings WHERE key = $1")
            .bind(key)
            .execute(db)
            .await
            .map(|_| ()),
    }
}

/// An issue as GitHub has it.
pub struct MirroredIssue<'a> {
    pub id: &'a str,
    pub repository_id: &'a str,
    pub number: i64,
    pub title: &'a str,
    pub body: &'a str,
    pub state: &'a str,
    pub labels: &'a str,
    pub assignee: Option<&'a str>,
    pub created_by: &'a str,
    pub html_url: Option<&'a str>,
    /// GitHub's `updated_at` (RFC 3339).
    pub github_updated_at: Option<&'a str>,
    pub now: i64,
}

/// Inserts an issue under GitHub's number; false when one with that
/// number exists already (the caller updates it instead). Keeps the
/// repository's counter past every mirrored number.
pub async fn insert_mirrored(db: &Db, issue: &MirroredIssue<'_>) -> sqlx::Result<bool> {
    let mut tx = db.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO issues (id, repository_id, number, title, body, state, labels, assignee, created_by, \
         created_at, updated_at, html_url, github_updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12) \
         ON CONFLICT (repository_id, number) DO NOTHING",
    )
    .bind(issue.id)
    .bind(issue.repository_id)
    .bind(issue.number)
    .bind(issue.title)
    .bind(issue.body)
    .bind(issue.state)
    .bind(issue.labels)
    .bind(issue.assignee)
    .bind(issue.created_by)
    .bind(issue.now)
    .bind(issue.html_url)
    .bind(issue.github_updated_at)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    sqlx::query("UPDATE repositories SET next_number = $2 + 1 WHERE id = $1 AND next_number <= $2")
        .bind(issue.repository_id)
        .bind(issue.number)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(inserted)
}

/// How an update of a mirrored issue went.
#[derive(Debug, PartialEq, Eq)]
pub enum MirrorUpdate {
    Done,
    /// GitHub's copy is older than what is stored: ignored.
    Stale,
    /// Someone else changed the row since it was read: read it again.
    Raced,
}

/// Writes a mirrored issue's fields if the row is still as read (its
/// `updated_at` is `expected`) and the payload is not older than the one
/// stored, so two deliveries never both apply (and trigger) one change.
pub async fn update_mirrored(
    db: &Db,
    row: &super::issues::IssueRow,
    expected: i64,
    github_updated_at: Option<&str>,
) -> sqlx::Result<MirrorUpdate> {
    let done = sqlx::query(
        "UPDATE issues SET title = $2, body = $3, state = $4, labels = $5, assignee = $6, updated_at = $7, \
         github_updated_at = COALESCE($9, github_updated_at), html_url = COALESCE($10, html_url) \
         WHERE id = $1 AND updated_at = $8 \
         AND (github_updated_at IS NULL OR $9 IS NULL OR github_updated_at <= $9)",
    )
    .bind(&row.id)
    .bind(&row.title)
    .bind(&row.body)
    .bind(&row.state)
    .bind(&row.labels)
    .bind(&row.assignee)
    .bind(row.updated_at)
    .bind(expected)
    .bind(github_updated_at)
    .bind(&row.html_url)
    .execute(db)
    .await?
    .rows_affected()
        == 1;
    if done {
        return Ok(MirrorUpdate::Done);
    }
    let stored: Option<Option<String>> =
        sqlx::query_scalar("SELECT github_updated_at FROM issues WHERE id = $1")
            .bind(&row.id)
            .fetch_optional(db)
            .await?;
    Ok(match (stored.flatten(), github_updated_at) {
        (Some(stored), Some(given)) if stored.as_str() > given => MirrorUpdate::Stale,
        _ => MirrorUpdate::Raced,
    })
}

pub async fn find_issue_id(
    db: &Db,
    repository_id: &str,
    number: i64,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT id FROM issues WHERE repository_id = $1 AND number = $2")
        .bind(repository_id)
        .bind(number)
        .fetch_optional(db)
        .await
}

pub async fn issue_html_url(db: &Db, id: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar::<_, Option<String>>("SELECT html_url FROM issues WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
        .map(Option::flatten)
}

pub async fn set_issue_html_url(db: &Db, id: &str, url: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE issues SET html_url = $2 WHERE id = $1")
        .bind(id)
        .bind(url)
        .execute(db)
        .await
        .map(|_| ())
}

/// Where an execution works in a repository.
pub async fn set_execution_worktree(
    db: &Db,
    id: &str,
    repository_id: &str,
    branch: &str,
    base_commit: &str,
    worktree: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE executions SET repository_id = $2, branch = $3, base_commit = $4, worktree = $5 WHERE id = $1",
    )
    .bind(id)
    .bind(repository_id)
    .bind(branch)
    .bind(base_commit)
    .bind(worktree)
    .execute(db)
    .await
    .map(|_| ())
}

pub async fn set_run_branch(db: &Db, run: &str, branch: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE workflow_runs SET branch = $2 WHERE id = $1 AND branch IS NULL")
        .bind(run)
        .bind(branch)
        .execute(db)
        .await
        .map(|_| ())
}

/// Records how far a run was reported to GitHub (1 started, 2 ended).
pub async fn set_run_reported(
    db: &Db,
    run: &str,
    level: i64,
    pr_url: Option<&str>,
    error: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE workflow_runs SET github_reported = CASE WHEN github_reported > $2 THEN github_reported ELSE $2 END, \
         pr_url = COALESCE($3, pr_url), github_error = $4 WHERE id = $1",
    )
    .bind(run)
    .bind(level)
    .bind(pr_url)
    .bind(error)
    .execute(db)
    .await
    .map(|_| ())
}

/// Runs on issues of connected repositories that still owe GitHub a
/// report (started ones not yet announced, ended ones not yet reported),
/// made after `since`: a report that keeps failing is given up after a day.
pub async fn runs_to_report(db: &Db, since: i64) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT w.id FROM workflow_runs w JOIN issues i ON i.id = w.issue_id \
         JOIN repositories r ON r.id = i.repository_id \
         WHERE r.github_credentials IS NOT NULL AND i.html_url IS NOT NULL AND w.created_at > $1 AND \
         (w.github_reported = 0 OR (w.github_reported < 2 AND w.finished_at IS NOT NULL)) \
         ORDER BY w.created_at LIMIT 50",
    )
    .bind(since)
    .fetch_all(db)
    .await
}

/// The user linked to a GitHub account (by its numeric id: logins can be
/// renamed and reused).
pub async fn user_by_github_id(db: &Db, github_id: i64) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT id FROM users WHERE github_id = $1")
        .bind(github_id)
        .fetch_optional(db)
        .await
}

/// Links (or with `None`, unlinks) a GitHub account.
pub async fn set_github_account(
    db: &Db,
    user_id: &str,
    account: Option<(i64, &str)>,
) -> sqlx::Result<bool> {
    sqlx::query("UPDATE users SET github_id = $2, github_login = $3 WHERE id = $1")
        .bind(user_id)
        .bind(account.map(|a| a.0))
        .bind(account.map(|a| a.1))
        .execute(db)
        .await
        .map(|r| r.rows_affected() > 0)
}

pub async fn github_login_of(db: &Db, user_id: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar::<_, Option<String>>("SELECT github_login FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(db)
        .await
        .map(Option::flatten)
}

//! Repositories and their issues.

use sqlx::{FromRow, QueryBuilder, Sqlite};

use super::Db;

#[derive(Debug, Clone, FromRow)]
pub struct RepositoryRow {
    pub id: String,
    pub name: String,
    pub github: Option<String>,
    pub local_path: Option<String>,
    pub created_at: i64,
    pub open_issues: i64,
    pub connected: bool,
    pub github_auth: Option<String>,
    pub github_api_url: Option<String>,
    pub default_branch: Option<String>,
    pub github_synced_at: Option<i64>,
    pub github_error: Option<String>,
    pub keep_worktrees: bool,
}

const REPOSITORY_COLUMNS: &str = "r.id, r.name, r.github, r.local_path, r.created_at, \
    (SELECT COUNT(*) FROM issues i WHERE i.repository_id = r.id AND i.state = 'open') AS open_issues, \
    (r.github_credentials IS NOT NULL) AS connected, r.github_auth, r.github_api_url, r.default_branch, \
    r.github_synced_at, r.github_error, r.keep_worktrees";

pub async fn list_repositories(db: &Db) -> sqlx::Result<Vec<RepositoryRow>> {
    sqlx::query_as(&format!(
        "SELECT {REPOSITORY_COLUMNS} FROM repositories r ORDER BY lower(r.name)"
    ))
    .fetch_all(db)
    .await
}

pub async fn find_repository(db: &Db, id: &str) -> sqlx::Result<Option<RepositoryRow>> {
    sqlx::query_as(&format!(
        "SELECT {REPOSITORY_COLUMNS} FROM repositories r WHERE r.id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

pub async fn insert_repository(
    db: &Db,
    id: &str,
    name: &str,
    github: Option<&str>,
    local_path: Option<&str>,
    now: i64,
) -> sqlx::Result<()> {
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
}

#[derive(Debug, Clone, FromRow)]
pub struct IssueRow {
    pub id: String,
    pub repository_id: String,
    pub repository_name: String,
    pub number: i64,
    pub title: String,
    pub body: String,
    pub state: String,
    pub labels: String,
    pub assignee: Option<String>,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub html_url: Option<String>,
}

const ISSUE_COLUMNS: &str =
    "i.id, i.repository_id, r.name AS repository_name, i.number, i.title, i.body, \
    i.state, i.labels, i.assignee, i.created_by, i.created_at, i.updated_at, i.html_url";
const ISSUE_FROM: &str = "issues i JOIN repositories r ON r.id = i.repository_id";

pub struct NewIssue<'a> {
    pub id: &'a str,
    pub repository_id: &'a str,
    pub title: &'a str,
    pub body: &'a str,
    pub labels: &'a str,
    pub assignee: Option<&'a str>,
    pub created_by: &'a str,
    pub now: i64,
}

/// Inserts an issue with the repository's next number, in one
/// transaction; returns the number. `None` when the repository is gone.
pub async fn insert_issue(db: &Db, issue: &NewIssue<'_>) -> sqlx::Result<Option<i64>> {
    let mut tx = db.begin().await?;
    let number: Option<i64> = sqlx::query_scalar(
        "UPDATE repositories SET next_number = next_number + 1 WHERE id = $1 RETURNING next_number - 1",
    )
    .bind(issue.repository_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(number) = number else {
        return Ok(None);
    };
    sqlx::query(
        "INSERT INTO issues (id, repository_id, number, title, body, state, labels, assignee, created_by, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'open', $6, $7, $8, $9, $9)",
    )
    .bind(issue.id)
    .bind(issue.repository_id)
    .bind(number)
    .bind(issue.title)
    .bind(issue.body)
    .bind(issue.labels)
    .bind(issue.assignee)
    .bind(issue.created_by)
    .bind(issue.now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(number))
}

pub async fn find_issue(db: &Db, id: &str) -> sqlx::Result<Option<IssueRow>> {
    sqlx::query_as(&format!(
        "SELECT {ISSUE_COLUMNS} FROM {ISSUE_FROM} WHERE i.id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Writes the editable fields of an issue.
pub async fn update_issue(db: &Db, row: &IssueRow) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE issues SET title = $2, body = $3, state = $4, labels = $5, assignee = $6, updated_at = $7 \
         WHERE id = $1",
    )
    .bind(&row.id)
    .bind(&row.title)
    .bind(&row.body)
    .bind(&row.state)
    .bind(&row.labels)
    .bind(&row.assignee)
    .bind(row.updated_at)
    .execute(db)
    .await
    .map(|_| ())
}

#[derive(Debug, Default, Clone)]
pub struct IssueFilter {
    pub state: Option<String>,
    pub repository_id: Option<String>,
    /// Exact label, ignoring case.
    pub label: Option<String>,
    /// Substring of title or body, ignoring case.
    pub text: Option<String>,
}

fn push_filter<'a>(q: &mut QueryBuilder<'a, Sqlite>, f: &'a IssueFilter) {
    q.push(" WHERE 1 = 1");
    if let Some(s) = &f.state {
        q.push(" AND i.state = ").push_bind(s);
    }
    if let Some(r) = &f.repository_id {
        q.push(" AND i.repository_id = ").push_bind(r);
    }
    if let Some(l) = &f.label {
        // Labels are stored as a JSON array of strings; match one element
        // exactly (ignoring case) with LIKE on its quoted form.
        q.push(" AND lower(i.labels) LIKE ")
            .push_bind(format!(
                "%{}%",
                like_escape(&json_quoted(&l.to_lowercase()))
            ))
            .push(" ESCAPE '\\'");
    }
    if let Some(t) = &f.text {
        let pattern = format!("%{}%", like_escape(&t.to_lowercase()));
        q.push(" AND (lower(i.title) LIKE ")
            .push_bind(pattern.clone())
            .push(" ESCAPE '\\' OR lower(i.body) LIKE ")
            .push_bind(pattern)
            .push(" ESCAPE '\\')");
    }
}

fn json_quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Most recently updated first.
pub async fn list_issues(
    db: &Db,
    filter: &IssueFilter,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<IssueRow>> {
    let mut q = QueryBuilder::<Sqlite>::new(format!("SELECT {ISSUE_COLUMNS} FROM {ISSUE_FROM}"));
    push_filter(&mut q, filter);
    q.push(" ORDER BY i.updated_at DESC, i.id DESC LIMIT ")
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
    q.build_query_as().fetch_all(db).await
}

pub async fn count_issues(db: &Db, filter: &IssueFilter) -> sqlx::Result<i64> {
    let mut q = QueryBuilder::<Sqlite>::new(format!("SELECT COUNT(*) FROM {ISSUE_FROM}"));
    push_filter(&mut q, filter);
    q.build_query_scalar().fetch_one(db).await
}

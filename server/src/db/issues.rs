//! Issues: numbered per repository, local or mirrored from GitHub.

use super::Json;
use app::model::IssueState;
use sqlx::{FromRow, QueryBuilder};

use super::Db;

#[derive(Debug, Clone, FromRow)]
pub struct IssueRow {
    pub id: String,
    pub repository_id: String,
    pub repository_name: String,
    pub number: i64,
    pub title: String,
    pub body: String,
    pub state: IssueState,
    pub labels: Json<Vec<String>>,
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
    pub labels: &'a [String],
    pub assignee: Option<&'a str>,
    pub created_by: &'a str,
    pub now: i64,
}

/// Inserts an issue with the repository's next number, in one
/// transaction; returns the number. `None` when the repository is gone.
pub async fn insert_issue(db: &Db, issue: &NewIssue<'_>) -> sqlx::Result<Option<i64>> {
    crate::on_db!(db, db => {
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
        .bind(Json(issue.labels))
        .bind(issue.assignee)
        .bind(issue.created_by)
        .bind(issue.now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(number))
    })
}

pub async fn find_issue(db: &Db, id: &str) -> sqlx::Result<Option<IssueRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(&format!(
            "SELECT {ISSUE_COLUMNS} FROM {ISSUE_FROM} WHERE i.id = $1"
        ))
        .bind(id)
        .fetch_optional(db)
        .await
    })
}

/// Writes the editable fields of an issue.
pub async fn update_issue(db: &Db, row: &IssueRow) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query(
            "UPDATE issues SET title = $2, body = $3, state = $4, labels = $5, assignee = $6, updated_at = $7 \
             WHERE id = $1",
        )
        .bind(&row.id)
        .bind(&row.title)
        .bind(&row.body)
        .bind(row.state)
        .bind(&row.labels)
        .bind(&row.assignee)
        .bind(row.updated_at)
        .execute(db)
        .await
        .map(|_| ())
    })
}

#[derive(Debug, Default, Clone)]
pub struct IssueFilter {
    pub state: Option<IssueState>,
    pub repository_id: Option<String>,
    /// Exact label, ignoring case.
    pub label: Option<String>,
    /// Substring of title or body, ignoring case.
    pub text: Option<String>,
    /// Only issues updated at or after this time (ms).
    pub updated_since: Option<i64>,
}

fn push_filter<'a, DB>(q: &mut QueryBuilder<'a, DB>, f: &'a IssueFilter)
where
    DB: sqlx::Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    IssueState: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    q.push(" WHERE 1 = 1");
    if let Some(s) = f.state {
        q.push(" AND i.state = ").push_bind(s);
    }
    if let Some(r) = &f.repository_id {
        q.push(" AND i.repository_id = ").push_bind(r);
    }
    if let Some(t) = f.updated_since {
        q.push(" AND i.updated_at >= ").push_bind(t);
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
    crate::on_db!(db, db => {
        let mut q = QueryBuilder::new(format!("SELECT {ISSUE_COLUMNS} FROM {ISSUE_FROM}"));
        push_filter(&mut q, filter);
        q.push(" ORDER BY i.updated_at DESC, i.id DESC LIMIT ")
            .push_bind(limit)
            .push(" OFFSET ")
            .push_bind(offset);
        q.build_query_as().fetch_all(db).await
    })
}

pub async fn count_issues(db: &Db, filter: &IssueFilter) -> sqlx::Result<i64> {
    crate::on_db!(db, db => {
        let mut q = QueryBuilder::new(format!("SELECT COUNT(*) FROM {ISSUE_FROM}"));
        push_filter(&mut q, filter);
        q.build_query_scalar().fetch_one(db).await
    })
}

/// Issues of a repository that did not come from GitHub.
pub async fn count_local_issues(db: &Db, repository_id: &str) -> sqlx::Result<i64> {
    crate::on_db!(db, db => {
        sqlx::query_scalar("SELECT COUNT(*) FROM issues WHERE repository_id = $1 AND html_url IS NULL")
            .bind(repository_id)
            .fetch_one(db)
            .await
    })
}

/// An issue as GitHub has it.
pub struct MirroredIssue<'a> {
    pub id: &'a str,
    pub repository_id: &'a str,
    pub number: i64,
    pub title: &'a str,
    pub body: &'a str,
    pub state: IssueState,
    pub labels: &'a [String],
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
    crate::on_db!(db, db => {
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
        .bind(Json(issue.labels))
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
    })
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
    row: &IssueRow,
    expected: i64,
    github_updated_at: Option<&str>,
) -> sqlx::Result<MirrorUpdate> {
    crate::on_db!(db, db => {
        let done = sqlx::query(
            "UPDATE issues SET title = $2, body = $3, state = $4, labels = $5, assignee = $6, updated_at = $7, \
             github_updated_at = COALESCE($9, github_updated_at), html_url = COALESCE($10, html_url) \
             WHERE id = $1 AND updated_at = $8 \
             AND (github_updated_at IS NULL OR $9 IS NULL OR github_updated_at <= $9)",
        )
        .bind(&row.id)
        .bind(&row.title)
        .bind(&row.body)
        .bind(row.state)
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
    })
}

pub async fn find_issue_id(
    db: &Db,
    repository_id: &str,
    number: i64,
) -> sqlx::Result<Option<String>> {
    crate::on_db!(db, db => {
        sqlx::query_scalar("SELECT id FROM issues WHERE repository_id = $1 AND number = $2")
            .bind(repository_id)
            .bind(number)
            .fetch_optional(db)
            .await
    })
}

pub async fn issue_html_url(db: &Db, id: &str) -> sqlx::Result<Option<String>> {
    crate::on_db!(db, db => {
        sqlx::query_scalar::<_, Option<String>>("SELECT html_url FROM issues WHERE id = $1")
            .bind(id)
            .fetch_optional(db)
            .await
            .map(Option::flatten)
    })
}

pub async fn set_issue_html_url(db: &Db, id: &str, url: &str) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query("UPDATE issues SET html_url = $2 WHERE id = $1")
            .bind(id)
            .bind(url)
            .execute(db)
            .await
            .map(|_| ())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn setup() -> (tempfile::TempDir, Db) {
        let (dir, store) = crate::db::test_store().await;
        crate::db::repositories::insert(&store.db, "r1", "web", Some("acme/web"), None, 1)
            .await
            .unwrap();
        (dir, store.db)
    }

    fn mirrored<'a>(id: &'a str, number: i64, labels: &'a [String]) -> MirroredIssue<'a> {
        MirroredIssue {
            id,
            repository_id: "r1",
            number,
            title: "From GitHub",
            body: "",
            state: IssueState::Open,
            labels,
            assignee: None,
            created_by: "github:ada",
            html_url: Some("https://github.com/acme/web/issues/7"),
            github_updated_at: Some("2026-01-02T00:00:00Z"),
            now: 10,
        }
    }

    /// Two writers that read the same row: the first write applies, the
    /// second sees the row moved (and reads again); a payload older than
    /// the stored one is ignored.
    #[tokio::test]
    async fn mirror_updates_are_a_compare_and_swap() {
        let (_dir, db) = setup().await;
        assert!(insert_mirrored(&db, &mirrored("i7", 7, &[])).await.unwrap());
        // The same GitHub number again (a concurrent delivery) inserts nothing.
        assert!(!insert_mirrored(&db, &mirrored("other", 7, &[]))
            .await
            .unwrap());
        let read = find_issue(&db, "i7").await.unwrap().unwrap();
        let expected = read.updated_at;

        let mut first = read.clone();
        first.title = "Renamed".into();
        first.updated_at = expected + 1;
        assert_eq!(
            update_mirrored(&db, &first, expected, Some("2026-01-03T00:00:00Z"))
                .await
                .unwrap(),
            MirrorUpdate::Done
        );
        let mut second = read.clone();
        second.title = "Renamed twice".into();
        second.updated_at = expected + 1;
        assert_eq!(
            update_mirrored(&db, &second, expected, Some("2026-01-03T00:00:00Z"))
                .await
                .unwrap(),
            MirrorUpdate::Raced
        );
        let fresh = find_issue(&db, "i7").await.unwrap().unwrap();
        let mut late = fresh.clone();
        late.title = "Older payload".into();
        late.updated_at = fresh.updated_at + 1;
        assert_eq!(
            update_mirrored(&db, &late, fresh.updated_at, Some("2026-01-02T12:00:00Z"))
                .await
                .unwrap(),
            MirrorUpdate::Stale
        );
        let stored = find_issue(&db, "i7").await.unwrap().unwrap();
        assert_eq!(stored.title, "Renamed");
        assert_eq!(stored.state, IssueState::Open);
    }

    /// Mirrored numbers move the repository's counter past them, so a
    /// local issue never takes a GitHub number.
    #[tokio::test]
    async fn local_numbers_follow_mirrored_ones() {
        let (_dir, db) = setup().await;
        let labels = vec!["bug".to_string()];
        assert!(insert_mirrored(&db, &mirrored("i41", 41, &labels))
            .await
            .unwrap());
        let number = insert_issue(
            &db,
            &NewIssue {
                id: "local",
                repository_id: "r1",
                title: "Made here",
                body: "",
                labels: &[],
                assignee: None,
                created_by: "ada",
                now: 11,
            },
        )
        .await
        .unwrap();
        assert_eq!(number, Some(42));
        let row = find_issue(&db, "i41").await.unwrap().unwrap();
        assert_eq!(row.labels.0, labels);
        assert_eq!(count_local_issues(&db, "r1").await.unwrap(), 1);
    }
}

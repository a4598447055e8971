//! The audit log's table: appended to, read newest first with filters,
//! and trimmed to the retention setting.

use sqlx::FromRow;

use super::Db;

#[derive(Debug, Clone, FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    pub source: String,
    pub action: String,
    pub target: Option<String>,
    pub outcome: String,
    pub detail: Option<String>,
    pub client: Option<String>,
}

pub async fn insert(db: &Db, row: &AuditRow) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query(
            "INSERT INTO audit_log (at, actor_id, actor_name, source, action, target, outcome, \
             detail, client) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(row.at)
        .bind(&row.actor_id)
        .bind(&row.actor_name)
        .bind(&row.source)
        .bind(&row.action)
        .bind(&row.target)
        .bind(&row.outcome)
        .bind(&row.detail)
        .bind(&row.client)
        .execute(db)
        .await
        .map(|_| ())
    })
}

/// A filter, as the store applies it.
#[derive(Debug, Default)]
pub struct Filter<'a> {
    pub actor: Option<&'a str>,
    pub action: Option<&'a str>,
    pub target: Option<&'a str>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub before: Option<i64>,
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
fn like_literal(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// The newest `limit` entries matching `f`.
pub async fn list(db: &Db, f: &Filter<'_>, limit: i64) -> sqlx::Result<Vec<AuditRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(
            "SELECT id, at, actor_id, actor_name, source, action, target, outcome, detail, client \
             FROM audit_log WHERE \
             ($1 IS NULL OR lower(actor_name) = lower($1)) AND \
             ($2 IS NULL OR action = $2 OR action LIKE $3 ESCAPE '\\') AND \
             ($4 IS NULL OR lower(target) LIKE lower($4) ESCAPE '\\') AND \
             ($5 IS NULL OR at >= $5) AND ($6 IS NULL OR at < $6) AND ($7 IS NULL OR id < $7) \
             ORDER BY id DESC LIMIT $8",
        )
        .bind(f.actor)
        .bind(f.action)
        .bind(f.action.map(|a| format!("{}.%", like_literal(a))))
        .bind(f.target.map(|t| format!("%{}%", like_literal(t))))
        .bind(f.since)
        .bind(f.until)
        .bind(f.before)
        .bind(limit)
        .fetch_all(db)
        .await
    })
}

/// Deletes entries from before `before` (ms); answers how many.
pub async fn prune(db: &Db, before: i64) -> sqlx::Result<u64> {
    crate::on_db!(db, db => {
        sqlx::query("DELETE FROM audit_log WHERE at < $1")
            .bind(before)
            .execute(db)
            .await
            .map(|r| r.rows_affected())
    })
}

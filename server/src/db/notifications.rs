//! Notifications, one row per user told.

use app::model::Severity;
use sqlx::FromRow;

use super::Db;

#[derive(Debug, Clone, FromRow)]
pub struct NotificationRow {
    pub id: String,
    pub user_id: String,
    pub severity: Severity,
    pub title: String,
    pub message: String,
    pub action_url: Option<String>,
    pub created_at: i64,
    pub read_at: Option<i64>,
}

pub async fn insert(db: &Db, row: &NotificationRow) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query(
            "INSERT INTO notifications (id, user_id, severity, title, message, action_url, created_at, read_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)",
        )
        .bind(&row.id)
        .bind(&row.user_id)
        .bind(row.severity)
        .bind(&row.title)
        .bind(&row.message)
        .bind(&row.action_url)
        .bind(row.created_at)
        .execute(db)
        .await
        .map(|_| ())
    })
}

/// A user's latest notifications, newest first.
pub async fn latest(db: &Db, user_id: &str, limit: i64) -> sqlx::Result<Vec<NotificationRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(
            "SELECT id, user_id, severity, title, message, action_url, created_at, read_at FROM notifications \
             WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
        )
        .bind(user_id)
        .bind(limit)
        .fetch_all(db)
        .await
    })
}

pub async fn unread(db: &Db, user_id: &str) -> sqlx::Result<i64> {
    crate::on_db!(db, db => {
        sqlx::query_scalar("SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL")
            .bind(user_id)
            .fetch_one(db)
            .await
    })
}

/// Marks one (or, with `id` None, every) unread notification of a user read.
/// Returns how many changed.
pub async fn mark_read(db: &Db, user_id: &str, id: Option<&str>, now: i64) -> sqlx::Result<u64> {
    crate::on_db!(db, db => {
        let result = match id {
            Some(id) => {
                sqlx::query(
                    "UPDATE notifications SET read_at = $3 WHERE user_id = $1 AND id = $2 AND read_at IS NULL",
                )
                .bind(user_id)
                .bind(id)
                .bind(now)
                .execute(db)
                .await?
            }
            None => {
                sqlx::query(
                    "UPDATE notifications SET read_at = $2 WHERE user_id = $1 AND read_at IS NULL",
                )
                .bind(user_id)
                .bind(now)
                .execute(db)
                .await?
            }
        };
        Ok(result.rows_affected())
    })
}

pub async fn exists(db: &Db, user_id: &str, id: &str) -> sqlx::Result<bool> {
    crate::on_db!(db, db => {
        sqlx::query_scalar("SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND id = $2")
            .bind(user_id)
            .bind(id)
            .fetch_one(db)
            .await
            .map(|n: i64| n > 0)
    })
}

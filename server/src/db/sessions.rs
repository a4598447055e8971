//! Sessions: a row per session token issued, to list where someone is
//! signed in. Which tokens count is decided elsewhere (`revoked_tokens`,
//! `users.sessions_valid_from`); the list applies the same rules.

use sqlx::FromRow;

use super::Db;

#[derive(Debug, Clone, FromRow)]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub user_agent: Option<String>,
    pub client: Option<String>,
}

/// Records a session; rows of expired tokens go at the same time.
pub async fn insert(db: &Db, row: &SessionRow) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query(
            "INSERT INTO sessions (id, user_id, created_at, expires_at, user_agent, client) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(&row.id)
        .bind(&row.user_id)
        .bind(row.created_at)
        .bind(row.expires_at)
        .bind(&row.user_agent)
        .bind(&row.client)
        .execute(db)
        .await?;
        sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
            .bind(chrono::Utc::now().timestamp())
            .execute(db)
            .await?;
        Ok(())
    })
}

/// `user_id`'s sessions that still count, newest first: not expired, not
/// signed out, not from before their sessions were last ended.
pub async fn active(db: &Db, user_id: &str) -> sqlx::Result<Vec<SessionRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(
            "SELECT s.id, s.user_id, s.created_at, s.expires_at, s.user_agent, s.client \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.user_id = $1 AND s.expires_at > $2 \
             AND s.created_at >= COALESCE(u.sessions_valid_from, 0) \
             AND NOT EXISTS (SELECT 1 FROM revoked_tokens r WHERE r.jti = s.id) \
             ORDER BY s.created_at DESC LIMIT 100",
        )
        .bind(user_id)
        .bind(chrono::Utc::now().timestamp())
        .fetch_all(db)
        .await
    })
}

//! API keys: stored as hashes, each acting as its user.

use sqlx::FromRow;

use super::Db;

#[derive(Debug, Clone, FromRow)]
pub struct ApiKeyRow {
    pub id: String,
    pub user_id: String,
    /// The owner's name (joined, read only).
    pub username: String,
    pub name: String,
    pub key_hash: String,
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

const COLUMNS: &str = "k.id, k.user_id, u.username, k.name, k.key_hash, k.prefix, k.created_at, \
    k.last_used_at, k.revoked_at";
const FROM: &str = "api_keys k JOIN users u ON u.id = k.user_id";

pub async fn insert(db: &Db, row: &ApiKeyRow) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query(
            "INSERT INTO api_keys (id, user_id, name, key_hash, prefix, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&row.id)
        .bind(&row.user_id)
        .bind(&row.name)
        .bind(&row.key_hash)
        .bind(&row.prefix)
        .bind(row.created_at)
        .execute(db)
        .await
        .map(|_| ())
    })
}

/// The key with this hash, revoked or not.
pub async fn find_by_hash(db: &Db, hash: &str) -> sqlx::Result<Option<ApiKeyRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE k.key_hash = $1"
        ))
        .bind(hash)
        .fetch_optional(db)
        .await
    })
}

pub async fn find(db: &Db, id: &str) -> sqlx::Result<Option<ApiKeyRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM {FROM} WHERE k.id = $1"))
            .bind(id)
            .fetch_optional(db)
            .await
    })
}

/// Every key (`user_id` None) or one user's, newest first.
pub async fn list(db: &Db, user_id: Option<&str>) -> sqlx::Result<Vec<ApiKeyRow>> {
    crate::on_db!(db, db => {
        match user_id {
            Some(user) => {
                sqlx::query_as(&format!(
                    "SELECT {COLUMNS} FROM {FROM} WHERE k.user_id = $1 ORDER BY k.created_at DESC"
                ))
                .bind(user)
                .fetch_all(db)
                .await
            }
            None => {
                sqlx::query_as(&format!(
                    "SELECT {COLUMNS} FROM {FROM} ORDER BY k.created_at DESC"
                ))
                .fetch_all(db)
                .await
            }
        }
    })
}

/// Revokes a key; false when there is no such key or it was revoked already.
pub async fn revoke(db: &Db, id: &str, now: i64) -> sqlx::Result<bool> {
    crate::on_db!(db, db => {
        sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(db)
            .await
            .map(|r| r.rows_affected() == 1)
    })
}

/// Notes a use, at most once a minute per key (a write per request would
/// cost every API call a transaction).
pub async fn touch(db: &Db, id: &str, now: i64) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query(
            "UPDATE api_keys SET last_used_at = $2 WHERE id = $1 \
             AND (last_used_at IS NULL OR last_used_at < $3)",
        )
        .bind(id)
        .bind(now)
        .bind(now - 60_000)
        .execute(db)
        .await
        .map(|_| ())
    })
}

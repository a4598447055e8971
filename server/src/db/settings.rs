//! Instance settings: a key and a text value (secrets sealed by the caller).

use super::Db;

pub async fn get(db: &Db, key: &str) -> sqlx::Result<Option<String>> {
    crate::on_db!(db, db => {
        sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(db)
            .await
    })
}

pub async fn set(db: &Db, key: &str, value: Option<&str>, now: i64) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
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
    })
}

/// Stores `value` under `key` unless a value is there already; answers the
/// value stored (this one or the earlier one), so that replicas starting
/// at once agree on one.
pub async fn set_once(db: &Db, key: &str, value: &str, now: i64) -> sqlx::Result<String> {
    crate::on_db!(db, db => {
        sqlx::query(
            "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(value)
        .bind(now)
        .execute(db)
        .await?;
        sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_one(db)
            .await
    })
}

//! People as admins manage them: the list, roles, deactivation, and the
//! last sign-in. The last active admin is kept in the statements
//! themselves, so two admins demoting each other at once cannot both win.

use app::model::Role;
use sqlx::FromRow;

use super::Db;

#[derive(Debug, Clone, FromRow)]
pub struct PersonRow {
    pub id: String,
    pub username: String,
    pub role: Role,
    pub created_at: i64,
    pub deactivated_at: Option<i64>,
    pub last_sign_in_at: Option<i64>,
    pub github_login: Option<String>,
}

const COLUMNS: &str =
    "id, username, role, created_at, deactivated_at, last_sign_in_at, github_login";

/// Everyone, admins first, then by name.
pub async fn list(db: &Db) -> sqlx::Result<Vec<PersonRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM users ORDER BY \
         CASE role WHEN 'admin' THEN 0 WHEN 'member' THEN 1 ELSE 2 END, lower(username)"
    ))
    .fetch_all(db)
    .await
}

pub async fn find(db: &Db, id: &str) -> sqlx::Result<Option<PersonRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Whether another active admin than `id` exists.
const ANOTHER_ADMIN: &str = "EXISTS (SELECT 1 FROM users o WHERE o.role = 'admin' \
     AND o.deactivated_at IS NULL AND o.id <> $1)";

/// Gives `id` a role. False when that would leave no active admin (or
/// there is no such user: the caller tells the two apart).
pub async fn set_role(db: &Db, id: &str, role: Role) -> sqlx::Result<bool> {
    sqlx::query(&format!(
        "UPDATE users SET role = $2 WHERE id = $1 \
         AND ($2 = 'admin' OR role <> 'admin' OR deactivated_at IS NOT NULL OR {ANOTHER_ADMIN})"
    ))
    .bind(id)
    .bind(role)
    .execute(db)
    .await
    .map(|r| r.rows_affected() == 1)
}

/// Deactivates `id` at `now` (ms): their sessions from before stop
/// counting. False when they are the last active admin (or unknown, or
/// deactivated already).
pub async fn deactivate(db: &Db, id: &str, now: i64) -> sqlx::Result<bool> {
    sqlx::query(&format!(
        "UPDATE users SET deactivated_at = $2, sessions_valid_from = $2 \
         WHERE id = $1 AND deactivated_at IS NULL AND (role <> 'admin' OR {ANOTHER_ADMIN})"
    ))
    .bind(id)
    .bind(now)
    .execute(db)
    .await
    .map(|r| r.rows_affected() == 1)
}

/// Lets `id` sign in again (their old sessions stay ended).
pub async fn reactivate(db: &Db, id: &str) -> sqlx::Result<bool> {
    sqlx::query("UPDATE users SET deactivated_at = NULL WHERE id = $1")
        .bind(id)
        .execute(db)
        .await
        .map(|r| r.rows_affected() == 1)
}

pub async fn signed_in(db: &Db, id: &str, now: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE users SET last_sign_in_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(db)
        .await
        .map(|_| ())
}

/// Revokes every API key of `user_id` not revoked yet; answers their ids.
pub async fn revoke_api_keys(db: &Db, user_id: &str, now: i64) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "UPDATE api_keys SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL \
         RETURNING id",
    )
    .bind(user_id)
    .bind(now)
    .fetch_all(db)
    .await
}

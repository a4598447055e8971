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
    /// Their single sign-on account (email, else subject), if linked.
    pub sso_login: Option<String>,
}

const COLUMNS: &str = "id, username, role, created_at, deactivated_at, last_sign_in_at, \
     github_login, (SELECT COALESCE(i.email, i.subject) FROM user_identities i \
     WHERE i.user_id = users.id ORDER BY i.created_at LIMIT 1) AS sso_login";

/// Everyone (deleted accounts aside), admins first, then by name.
pub async fn list(db: &Db) -> sqlx::Result<Vec<PersonRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM users WHERE deleted_at IS NULL ORDER BY \
             CASE role WHEN 'admin' THEN 0 WHEN 'member' THEN 1 ELSE 2 END, lower(username)"
        ))
        .fetch_all(db)
        .await
    })
}

/// A person whose account was not deleted.
pub async fn find(db: &Db, id: &str) -> sqlx::Result<Option<PersonRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM users WHERE id = $1 AND deleted_at IS NULL"
        ))
        .bind(id)
        .fetch_optional(db)
        .await
    })
}

/// Whether another active admin than `id` exists.
const ANOTHER_ADMIN: &str = "EXISTS (SELECT 1 FROM users o WHERE o.role = 'admin' \
     AND o.deactivated_at IS NULL AND o.id <> $1)";

/// Gives `id` a role. False when that would leave no active admin (or
/// there is no such user: the caller tells the two apart).
pub async fn set_role(db: &Db, id: &str, role: Role) -> sqlx::Result<bool> {
    crate::on_db!(db, db => {
        sqlx::query(&format!(
            "UPDATE users SET role = $2 WHERE id = $1 \
             AND ($2 = 'admin' OR role <> 'admin' OR deactivated_at IS NOT NULL OR {ANOTHER_ADMIN})"
        ))
        .bind(id)
        .bind(role)
        .execute(db)
        .await
        .map(|r| r.rows_affected() == 1)
    })
}

/// Deactivates `id` at `now` (ms): their sessions from before stop
/// counting. False when they are the last active admin (or unknown, or
/// deactivated already).
pub async fn deactivate(db: &Db, id: &str, now: i64) -> sqlx::Result<bool> {
    crate::on_db!(db, db => {
        sqlx::query(&format!(
            "UPDATE users SET deactivated_at = $2, sessions_valid_from = $2 \
             WHERE id = $1 AND deactivated_at IS NULL AND (role <> 'admin' OR {ANOTHER_ADMIN})"
        ))
        .bind(id)
        .bind(now)
        .execute(db)
        .await
        .map(|r| r.rows_affected() == 1)
    })
}

/// Lets `id` sign in again (their old sessions stay ended).
pub async fn reactivate(db: &Db, id: &str) -> sqlx::Result<bool> {
    crate::on_db!(db, db => {
        sqlx::query("UPDATE users SET deactivated_at = NULL WHERE id = $1 AND deleted_at IS NULL")
            .bind(id)
            .execute(db)
            .await
            .map(|r| r.rows_affected() == 1)
    })
}

pub async fn signed_in(db: &Db, id: &str, now: i64) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query("UPDATE users SET last_sign_in_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(db)
            .await
            .map(|_| ())
    })
}

/// Revokes every API key of `user_id` not revoked yet; answers their ids.
pub async fn revoke_api_keys(db: &Db, user_id: &str, now: i64) -> sqlx::Result<Vec<String>> {
    crate::on_db!(db, db => {
        sqlx::query_scalar(
            "UPDATE api_keys SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL \
             RETURNING id",
        )
        .bind(user_id)
        .bind(now)
        .fetch_all(db)
        .await
    })
}

/// What deleting an account took away.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Deleted {
    pub api_keys: u64,
    pub sessions: u64,
    pub notifications: u64,
    pub links: u64,
    /// Single sign-on links being made.
    pub flows: u64,
}

/// Deletes the account `id`, which must be deactivated already (None
/// otherwise, or when unknown or deleted). One transaction: the row stays
/// as a tombstone that keeps the name (see the migration), everything
/// that let them in or was theirs alone goes. Their single sign-on link
/// stays, pointing at the tombstone: the provider's word alone never makes
/// them a new account (an invitation is refused too).
pub async fn delete(db: &Db, id: &str, now: i64) -> sqlx::Result<Option<Deleted>> {
    crate::on_db!(db, db => {
        let mut tx = db.begin().await?;
        let marked = sqlx::query(
            "UPDATE users SET deleted_at = $2, password_hash = '!deleted', github_id = NULL, \
             github_login = NULL, sessions_valid_from = $2 \
             WHERE id = $1 AND deactivated_at IS NOT NULL AND deleted_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if marked.rows_affected() != 1 {
            return Ok(None);
        }
        let mut gone = Deleted::default();
        for (count, statement) in [
            (
                &mut gone.api_keys,
                "DELETE FROM api_keys WHERE user_id = $1",
            ),
            (
                &mut gone.sessions,
                "DELETE FROM sessions WHERE user_id = $1",
            ),
            (
                &mut gone.notifications,
                "DELETE FROM notifications WHERE user_id = $1",
            ),
            (&mut gone.flows, "DELETE FROM sso_flows WHERE user_id = $1"),
        ] {
            *count = sqlx::query(statement)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        gone.links = sqlx::query(
            "UPDATE invitations SET revoked_at = $2 \
             WHERE (created_by = $1 OR user_id = $1) AND revoked_at IS NULL AND accepted_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(Some(gone))
    })
}

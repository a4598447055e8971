use app::model::Role;
use sqlx::FromRow;

use super::Db;

/// A row of `users`, password hash included: never serialised.
#[derive(Debug, Clone, FromRow)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub password_hash: String,
    pub role: Role,
    pub created_at: i64,
    /// When an admin deactivated the account (`None`: active).
    #[sqlx(default)]
    pub deactivated_at: Option<i64>,
    /// Session tokens issued before this (ms) are refused.
    #[sqlx(default)]
    pub sessions_valid_from: Option<i64>,
}

/// The columns a new row is inserted with.
const COLUMNS: &str = "id, username, password_hash, role, created_at";
/// The columns read back.
const READ: &str =
    "id, username, password_hash, role, created_at, deactivated_at, sessions_valid_from";

pub async fn count(db: &Db) -> sqlx::Result<i64> {
    crate::on_db!(db, db => {
        sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(db)
            .await
    })
}

/// A user by id (deleted accounts are no one).
pub async fn find_by_id(db: &Db, id: &str) -> sqlx::Result<Option<UserRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(&format!(
            "SELECT {READ} FROM users WHERE id = $1 AND deleted_at IS NULL"
        ))
        .bind(id)
        .fetch_optional(db)
        .await
    })
}

/// Looks a user up by name, ignoring case (deleted accounts are no one).
pub async fn find_by_username(db: &Db, username: &str) -> sqlx::Result<Option<UserRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(&format!(
            "SELECT {READ} FROM users WHERE lower(username) = lower($1) AND deleted_at IS NULL"
        ))
        .bind(username)
        .fetch_optional(db)
        .await
    })
}

/// Whether a name is taken, by anyone: a deleted account keeps its name.
pub async fn name_taken(db: &Db, username: &str) -> sqlx::Result<bool> {
    crate::on_db!(db, db => {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE lower(username) = lower($1))")
            .bind(username)
            .fetch_one(db)
            .await
    })
}

/// Inserts a user; a taken name fails with a unique violation.
pub async fn create(db: &Db, row: &UserRow) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query(&format!(
            "INSERT INTO users ({COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
        ))
        .bind(&row.id)
        .bind(&row.username)
        .bind(&row.password_hash)
        .bind(row.role)
        .bind(row.created_at)
        .execute(db)
        .await
        .map(|_| ())
    })
}

/// Sets a new password hash and ends the sessions issued before `now`.
pub async fn set_password(db: &Db, id: &str, hash: &str, now: i64) -> sqlx::Result<bool> {
    crate::on_db!(db, db => {
        sqlx::query("UPDATE users SET password_hash = $2, sessions_valid_from = $3 WHERE id = $1")
            .bind(id)
            .bind(hash)
            .bind(now)
            .execute(db)
            .await
            .map(|r| r.rows_affected() == 1)
    })
}

/// Ends the sessions issued before `now` (ms).
pub async fn end_sessions_before(db: &Db, id: &str, now: i64) -> sqlx::Result<bool> {
    crate::on_db!(db, db => {
        sqlx::query("UPDATE users SET sessions_valid_from = $2 WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(db)
            .await
            .map(|r| r.rows_affected() == 1)
    })
}

/// [`end_sessions_before`] inside a transaction, for an active account
/// only (false otherwise).
pub async fn end_sessions_before_in(tx: &mut super::Tx, id: &str, now: i64) -> sqlx::Result<bool> {
    crate::on_tx!(tx, tx => {
        sqlx::query(
            "UPDATE users SET sessions_valid_from = $2 WHERE id = $1 AND deactivated_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .execute(&mut **tx)
        .await
        .map(|r| r.rows_affected() == 1)
    })
}

/// The longest-standing active admin.
pub async fn first_admin(db: &Db) -> sqlx::Result<Option<UserRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(&format!(
            "SELECT {READ} FROM users WHERE role = 'admin' AND deactivated_at IS NULL \
             ORDER BY created_at LIMIT 1"
        ))
        .fetch_optional(db)
        .await
    })
}

/// Inserts a user inside a transaction (an invitation being accepted).
pub async fn create_in(tx: &mut super::Tx, row: &UserRow) -> sqlx::Result<()> {
    crate::on_tx!(tx, tx => {
        sqlx::query(&format!(
            "INSERT INTO users ({COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
        ))
        .bind(&row.id)
        .bind(&row.username)
        .bind(&row.password_hash)
        .bind(row.role)
        .bind(row.created_at)
        .execute(&mut **tx)
        .await
        .map(|_| ())
    })
}

/// Inserts `row` only if there is no user at all, atomically: of two
/// concurrent first-run setups exactly one wins. Returns whether it did.
pub async fn create_if_none(db: &Db, row: &UserRow) -> sqlx::Result<bool> {
    crate::on_db!(db, db => {
        let done = sqlx::query(&format!(
            "INSERT INTO users ({COLUMNS}) SELECT $1, $2, $3, $4, $5 \
             WHERE NOT EXISTS (SELECT 1 FROM users)"
        ))
        .bind(&row.id)
        .bind(&row.username)
        .bind(&row.password_hash)
        .bind(row.role)
        .bind(row.created_at)
        .execute(db)
        .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// Ids of users who may act on workflows (admins and members).
pub async fn member_ids(db: &Db) -> sqlx::Result<Vec<String>> {
    crate::on_db!(db, db => {
        sqlx::query_scalar(
            "SELECT id FROM users WHERE role IN ('admin', 'member') AND deactivated_at IS NULL \
             ORDER BY created_at",
        )
        .fetch_all(db)
        .await
    })
}

/// The user linked to a GitHub account (by its numeric id: logins can be
/// renamed and reused).
pub async fn user_by_github_id(db: &Db, github_id: i64) -> sqlx::Result<Option<String>> {
    crate::on_db!(db, db => {
        sqlx::query_scalar("SELECT id FROM users WHERE github_id = $1")
            .bind(github_id)
            .fetch_optional(db)
            .await
    })
}

/// Links (or with `None`, unlinks) a GitHub account.
pub async fn set_github_account(
    db: &Db,
    user_id: &str,
    account: Option<(i64, &str)>,
) -> sqlx::Result<bool> {
    crate::on_db!(db, db => {
        sqlx::query("UPDATE users SET github_id = $2, github_login = $3 WHERE id = $1")
            .bind(user_id)
            .bind(account.map(|a| a.0))
            .bind(account.map(|a| a.1))
            .execute(db)
            .await
            .map(|r| r.rows_affected() > 0)
    })
}

/// [`set_github_account`] inside a transaction (joining with GitHub); a
/// GitHub account linked to someone already fails with a unique violation.
pub async fn set_github_account_in(
    tx: &mut super::Tx,
    user_id: &str,
    account: Option<(i64, &str)>,
) -> sqlx::Result<()> {
    crate::on_tx!(tx, tx => {
        sqlx::query("UPDATE users SET github_id = $2, github_login = $3 WHERE id = $1")
            .bind(user_id)
            .bind(account.map(|a| a.0))
            .bind(account.map(|a| a.1))
            .execute(&mut **tx)
            .await
            .map(|_| ())
    })
}

pub async fn github_login_of(db: &Db, user_id: &str) -> sqlx::Result<Option<String>> {
    crate::on_db!(db, db => {
        sqlx::query_scalar::<_, Option<String>>("SELECT github_login FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(db)
            .await
            .map(Option::flatten)
    })
}

/// Ends a session token (by its id) before its expiry (seconds).
pub async fn revoke_token(db: &Db, jti: &str, expires_at: i64) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query(
            "INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(jti)
        .bind(expires_at)
        .execute(db)
        .await?;
        // Tokens past their expiry are refused anyway.
        sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < $1")
            .bind(chrono::Utc::now().timestamp())
            .execute(db)
            .await?;
        Ok(())
    })
}

pub async fn token_revoked(db: &Db, jti: &str) -> sqlx::Result<bool> {
    crate::on_db!(db, db => {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM revoked_tokens WHERE jti = $1")
            .bind(jti)
            .fetch_one(db)
            .await
            .map(|n| n > 0)
    })
}

//! Single sign-on: which provider account is whose (`user_identities`),
//! and the sign-ins under way (`sso_flows`).

use sqlx::FromRow;

use super::users::UserRow;
use super::Db;

/// A sign-in under way, as stored (see the migration).
#[derive(Debug, Clone, FromRow)]
pub struct FlowRow {
    pub state_hash: String,
    pub nonce: String,
    pub verifier: String,
    pub next_path: String,
    pub purpose: String,
    pub user_id: Option<String>,
    pub invitation_hash: Option<String>,
    pub expires_at: i64,
}

/// Stores a flow, forgetting the ones that expired; false (nothing
/// stored) when `cap` flows are under way already.
pub async fn insert_flow(db: &Db, flow: &FlowRow, now: i64, cap: i64) -> sqlx::Result<bool> {
    crate::on_db!(db, db => {
        sqlx::query("DELETE FROM sso_flows WHERE expires_at <= $1")
            .bind(now)
            .execute(db)
            .await?;
        let live: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sso_flows")
            .fetch_one(db)
            .await?;
        if live >= cap {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO sso_flows (state_hash, nonce, verifier, next_path, purpose, user_id, \
             invitation_hash, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&flow.state_hash)
        .bind(&flow.nonce)
        .bind(&flow.verifier)
        .bind(&flow.next_path)
        .bind(&flow.purpose)
        .bind(&flow.user_id)
        .bind(&flow.invitation_hash)
        .bind(flow.expires_at)
        .execute(db)
        .await
        .map(|_| true)
    })
}

/// Takes the flow with this state hash out of the store (a state works
/// once); None when unknown, used or expired at `now`.
pub async fn take_flow(db: &Db, state_hash: &str, now: i64) -> sqlx::Result<Option<FlowRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(
            "DELETE FROM sso_flows WHERE state_hash = $1 AND expires_at > $2 \
             RETURNING state_hash, nonce, verifier, next_path, purpose, user_id, invitation_hash, \
             expires_at",
        )
        .bind(state_hash)
        .bind(now)
        .fetch_optional(db)
        .await
    })
}

/// The account a provider's subject belongs to, deleted ones included
/// (they are deactivated: refused, never made again).
pub async fn user_of(db: &Db, issuer: &str, subject: &str) -> sqlx::Result<Option<UserRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(
            "SELECT u.id, u.username, u.password_hash, u.role, u.created_at, u.deactivated_at, \
             u.sessions_valid_from FROM user_identities i JOIN users u ON u.id = i.user_id \
             WHERE i.issuer = $1 AND i.subject = $2",
        )
        .bind(issuer)
        .bind(subject)
        .fetch_optional(db)
        .await
    })
}

/// Links a provider account to `user_id`, replacing the one they had at
/// this issuer, in one transaction; a subject linked to someone already
/// fails with a unique violation (and their old link stays).
pub async fn relink(
    db: &Db,
    issuer: &str,
    subject: &str,
    user_id: &str,
    email: Option<&str>,
    now: i64,
) -> sqlx::Result<()> {
    {
        let mut tx = db.begin().await?;
        replace_in(&mut tx, issuer, subject, user_id, email, now).await?;
        tx.commit().await
    }
}

/// [`relink`] inside a transaction.
pub async fn replace_in(
    tx: &mut super::Tx,
    issuer: &str,
    subject: &str,
    user_id: &str,
    email: Option<&str>,
    now: i64,
) -> sqlx::Result<()> {
    crate::on_tx!(&mut *tx, tx => {
        sqlx::query("DELETE FROM user_identities WHERE issuer = $1 AND user_id = $2")
            .bind(issuer)
            .bind(user_id)
            .execute(&mut **tx)
            .await?;
    });
    link_in(tx, issuer, subject, user_id, email, now).await
}

/// Links a provider account to `user_id`, on a connection or inside a
/// transaction; a subject linked already fails with a unique violation.
pub async fn link_in(
    tx: &mut super::Tx,
    issuer: &str,
    subject: &str,
    user_id: &str,
    email: Option<&str>,
    now: i64,
) -> sqlx::Result<()> {
    crate::on_tx!(tx, tx => {
        sqlx::query(
            "INSERT INTO user_identities (issuer, subject, user_id, email, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(issuer)
        .bind(subject)
        .bind(user_id)
        .bind(email)
        .bind(now)
        .execute(&mut **tx)
        .await
        .map(|_| ())
    })
}

/// Keeps the email the provider last gave (shown, never trusted).
pub async fn seen(db: &Db, issuer: &str, subject: &str, email: Option<&str>) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query("UPDATE user_identities SET email = $3 WHERE issuer = $1 AND subject = $2")
            .bind(issuer)
            .bind(subject)
            .bind(email)
            .execute(db)
            .await
            .map(|_| ())
    })
}

/// Unlinks `user_id`'s provider accounts of `issuer`; answers how many.
pub async fn unlink(db: &Db, issuer: &str, user_id: &str) -> sqlx::Result<u64> {
    crate::on_db!(db, db => {
        sqlx::query("DELETE FROM user_identities WHERE issuer = $1 AND user_id = $2")
            .bind(issuer)
            .bind(user_id)
            .execute(db)
            .await
            .map(|r| r.rows_affected())
    })
}

/// The email (or, without one, the subject) `user_id` is linked with at
/// `issuer`.
pub async fn linked_as(db: &Db, issuer: &str, user_id: &str) -> sqlx::Result<Option<String>> {
    crate::on_db!(db, db => {
        sqlx::query_scalar(
            "SELECT COALESCE(email, subject) FROM user_identities \
             WHERE issuer = $1 AND user_id = $2 ORDER BY created_at LIMIT 1",
        )
        .bind(issuer)
        .bind(user_id)
        .fetch_optional(db)
        .await
    })
}

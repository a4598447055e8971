//! Invitations: one-time links to join with a role, stored as hashes. The
//! claim that uses one up is a single conditional `UPDATE`, so a link
//! raced from two browsers makes one account.

use app::model::Role;
use sqlx::FromRow;

use super::Db;

#[derive(Debug, Clone, FromRow)]
pub struct InvitationRow {
    pub id: String,
    pub role: Role,
    pub email: Option<String>,
    pub created_by: String,
    /// The inviting admin's name (joined, read only).
    pub created_by_name: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub accepted_at: Option<i64>,
    /// Who joined with it (joined, read only).
    pub accepted_by_name: Option<String>,
    /// A password reset link: for this user (`None`: an invitation).
    pub user_id: Option<String>,
    /// Their username (joined, read only).
    pub for_username: Option<String>,
}

const SELECT: &str = "SELECT i.id, i.role, i.email, i.created_by, c.username AS created_by_name, \
    i.created_at, i.expires_at, i.revoked_at, i.accepted_at, a.username AS accepted_by_name, \
    i.user_id, f.username AS for_username \
    FROM invitations i JOIN users c ON c.id = i.created_by LEFT JOIN users a ON a.id = i.accepted_by \
    LEFT JOIN users f ON f.id = i.user_id";

/// A link works only while the admin who made it still is one (demoting
/// or deactivating them also revokes their unused links).
const MAKER_IS_ADMIN: &str = "EXISTS (SELECT 1 FROM users c WHERE c.id = invitations.created_by \
     AND c.role = 'admin' AND c.deactivated_at IS NULL)";

pub struct NewInvitation<'a> {
    pub id: &'a str,
    pub token_hash: &'a str,
    pub role: Role,
    pub email: Option<&'a str>,
    pub created_by: &'a str,
    pub created_at: i64,
    pub expires_at: i64,
    pub user_id: Option<&'a str>,
}

pub async fn insert(db: &Db, new: &NewInvitation<'_>) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query(
            "INSERT INTO invitations (id, token_hash, role, email, created_by, created_at, expires_at, \
             user_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(new.id)
        .bind(new.token_hash)
        .bind(new.role)
        .bind(new.email)
        .bind(new.created_by)
        .bind(new.created_at)
        .bind(new.expires_at)
        .bind(new.user_id)
        .execute(db)
        .await
        .map(|_| ())
    })
}

/// The newest `limit` invitations, used or not.
pub async fn list(db: &Db, limit: i64) -> sqlx::Result<Vec<InvitationRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(&format!("{SELECT} ORDER BY i.created_at DESC LIMIT $1"))
            .bind(limit)
            .fetch_all(db)
            .await
    })
}

pub async fn find(db: &Db, id: &str) -> sqlx::Result<Option<InvitationRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(&format!("{SELECT} WHERE i.id = $1"))
            .bind(id)
            .fetch_optional(db)
            .await
    })
}

pub async fn find_by_hash(db: &Db, hash: &str) -> sqlx::Result<Option<InvitationRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(&format!("{SELECT} WHERE i.token_hash = $1"))
            .bind(hash)
            .fetch_optional(db)
            .await
    })
}

/// Revokes an invitation not yet used. False if it was used, revoked or
/// does not exist.
pub async fn revoke(db: &Db, id: &str, now: i64) -> sqlx::Result<bool> {
    crate::on_db!(db, db => {
        sqlx::query(
            "UPDATE invitations SET revoked_at = $2 \
             WHERE id = $1 AND revoked_at IS NULL AND accepted_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .execute(db)
        .await
        .map(|r| r.rows_affected() == 1)
    })
}

/// Uses up the invitation with this hash for a new user, inside the
/// transaction that creates them: answers its role, or None when it is
/// unknown, used, revoked or expired at `now`.
pub async fn claim(
    tx: &mut super::Tx,
    hash: &str,
    user_id: &str,
    now: i64,
) -> sqlx::Result<Option<Role>> {
    crate::on_tx!(tx, tx => {
        sqlx::query_scalar(&format!(
            "UPDATE invitations SET accepted_at = $3, accepted_by = $2 \
             WHERE token_hash = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $3 \
             AND user_id IS NULL AND {MAKER_IS_ADMIN} RETURNING role"
        ))
        .bind(hash)
        .bind(user_id)
        .bind(now)
        .fetch_optional(&mut **tx)
        .await
    })
}

/// Uses up the reset link with this hash and sets its user's password
/// (their sessions from before `now` end), in one transaction. Answers
/// the user's id, or None when the link is unknown, used, revoked or
/// expired, or its user was deactivated.
pub async fn claim_reset(
    db: &Db,
    hash: &str,
    password_hash: &str,
    now: i64,
) -> sqlx::Result<Option<String>> {
    let mut tx = db.begin().await?;
    let Some(user) = claim_reset_in(&mut tx, hash, now).await? else {
        return Ok(None);
    };
    let set = crate::on_tx!(&mut tx, tx => {
        sqlx::query(
            "UPDATE users SET password_hash = $2, sessions_valid_from = $3 \
             WHERE id = $1 AND deactivated_at IS NULL",
        )
        .bind(&user)
        .bind(password_hash)
        .bind(now)
        .execute(&mut **tx)
        .await?
        .rows_affected()
    });
    if set != 1 {
        return Ok(None);
    }
    tx.commit().await?;
    Ok(Some(user))
}

/// Uses up the reset link with this hash inside a transaction: answers
/// its user's id, or None when it is unknown, used, revoked or expired.
pub async fn claim_reset_in(
    tx: &mut super::Tx,
    hash: &str,
    now: i64,
) -> sqlx::Result<Option<String>> {
    crate::on_tx!(tx, tx => {
        sqlx::query_scalar(&format!(
            "UPDATE invitations SET accepted_at = $2, accepted_by = user_id \
             WHERE token_hash = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2 \
             AND user_id IS NOT NULL AND {MAKER_IS_ADMIN} RETURNING user_id"
        ))
        .bind(hash)
        .bind(now)
        .fetch_optional(&mut **tx)
        .await
    })
}

/// Revokes the unused links `user_id` made (they stopped being an active
/// admin); answers how many.
pub async fn revoke_made_by(db: &Db, user_id: &str, now: i64) -> sqlx::Result<u64> {
    crate::on_db!(db, db => {
        sqlx::query(
            "UPDATE invitations SET revoked_at = $2 \
             WHERE created_by = $1 AND revoked_at IS NULL AND accepted_at IS NULL",
        )
        .bind(user_id)
        .bind(now)
        .execute(db)
        .await
        .map(|r| r.rows_affected())
    })
}

//! GitHub webhook deliveries: each `X-GitHub-Delivery` is claimed once.

use super::Db;

/// A claim older than this whose application never finished (the server
/// died mid-way) may be taken again by a redelivery.
pub const STALE_CLAIM_MS: i64 = 5 * 60 * 1000;

/// Claims a webhook delivery: true for the first claim of this id (or one
/// whose earlier claim was left unfinished), false for a redelivery of an
/// applied one or a concurrent duplicate.
pub async fn claim_delivery(db: &Db, delivery: &str, event: &str, now: i64) -> sqlx::Result<bool> {
    crate::on_db!(db, db => {
        sqlx::query(
            "INSERT INTO github_deliveries (delivery_id, event, outcome, received_at) \
             VALUES ($1, $2, 'processing', $3) ON CONFLICT (delivery_id) DO UPDATE \
             SET received_at = excluded.received_at \
             WHERE github_deliveries.outcome = 'processing' AND github_deliveries.received_at < $4",
        )
        .bind(delivery)
        .bind(event)
        .bind(now)
        .bind(now - STALE_CLAIM_MS)
        .execute(db)
        .await
        .map(|r| r.rows_affected() == 1)
    })
}

/// Forgets deliveries older than `before` (GitHub redelivers for days, not
/// months).
pub async fn prune_deliveries(db: &Db, before: i64) -> sqlx::Result<u64> {
    crate::on_db!(db, db => {
        sqlx::query("DELETE FROM github_deliveries WHERE received_at < $1")
            .bind(before)
            .execute(db)
            .await
            .map(|r| r.rows_affected())
    })
}

pub async fn set_delivery_outcome(db: &Db, delivery: &str, outcome: &str) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query("UPDATE github_deliveries SET outcome = $2 WHERE delivery_id = $1")
            .bind(delivery)
            .bind(outcome)
            .execute(db)
            .await
            .map(|_| ())
    })
}

/// Forgets a claimed delivery whose application failed, so GitHub's
/// redelivery is applied.
pub async fn release_delivery(db: &Db, delivery: &str) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query("DELETE FROM github_deliveries WHERE delivery_id = $1")
            .bind(delivery)
            .execute(db)
            .await
            .map(|_| ())
    })
}

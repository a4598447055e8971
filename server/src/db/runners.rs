//! Runner tokens, runners, and the remote side of executions (claims,
//! leases, applied report numbers).

use super::Json;
use app::model::{AgentType, ExecutionStatus, RunnerLost};
use sqlx::FromRow;

use super::Db;

#[derive(Debug, Clone, FromRow)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub token_hash: String,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

const TOKEN_COLUMNS: &str =
    "id, name, token_hash, created_by, created_at, revoked_at, last_used_at";

pub async fn insert_token(db: &Db, row: &TokenRow) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query(
            "INSERT INTO runner_tokens (id, name, token_hash, created_by, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&row.id)
        .bind(&row.name)
        .bind(&row.token_hash)
        .bind(&row.created_by)
        .bind(row.created_at)
        .execute(db)
        .await
        .map(|_| ())
    })
}

pub async fn find_token_by_hash(db: &Db, hash: &str) -> sqlx::Result<Option<TokenRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(&format!(
            "SELECT {TOKEN_COLUMNS} FROM runner_tokens WHERE token_hash = $1"
        ))
        .bind(hash)
        .fetch_optional(db)
        .await
    })
}

pub async fn list_tokens(db: &Db) -> sqlx::Result<Vec<TokenRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(&format!(
            "SELECT {TOKEN_COLUMNS} FROM runner_tokens ORDER BY created_at DESC"
        ))
        .fetch_all(db)
        .await
    })
}

/// Revokes a token; false when there is no such token or it was revoked.
pub async fn revoke_token(db: &Db, id: &str, now: i64) -> sqlx::Result<bool> {
    crate::on_db!(db, db => {
        sqlx::query("UPDATE runner_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(db)
            .await
            .map(|r| r.rows_affected() > 0)
    })
}

pub async fn touch_token(db: &Db, id: &str, now: i64) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query("UPDATE runner_tokens SET last_used_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(db)
            .await
            .map(|_| ())
    })
}

#[derive(Debug, Clone, FromRow)]
pub struct RunnerRow {
    pub id: String,
    pub token_id: String,
    pub name: String,
    pub capabilities: Json<Vec<String>>,
    pub version: String,
    pub concurrency: i64,
    pub online: bool,
    pub connected_at: Option<i64>,
    pub last_heartbeat_at: Option<i64>,
}

const RUNNER_COLUMNS: &str =
    "id, token_id, name, capabilities, version, concurrency, online, connected_at, last_heartbeat_at";

/// Records a runner coming online: the same token and name is the same
/// runner (its id is kept). Returns the runner's id.
pub async fn upsert_online(db: &Db, row: &RunnerRow) -> sqlx::Result<String> {
    crate::on_db!(db, db => {
        sqlx::query_scalar(
            "INSERT INTO runners (id, token_id, name, capabilities, version, concurrency, online, connected_at, \
             last_heartbeat_at) VALUES ($1, $2, $3, $4, $5, $6, TRUE, $7, $7) \
             ON CONFLICT (token_id, name) DO UPDATE SET capabilities = excluded.capabilities, \
             version = excluded.version, concurrency = excluded.concurrency, online = TRUE, \
             connected_at = excluded.connected_at, last_heartbeat_at = excluded.last_heartbeat_at \
             RETURNING id",
        )
        .bind(&row.id)
        .bind(&row.token_id)
        .bind(&row.name)
        .bind(&row.capabilities)
        .bind(&row.version)
        .bind(row.concurrency)
        .bind(row.connected_at)
        .fetch_one(db)
        .await
    })
}

pub async fn set_offline(db: &Db, id: &str) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query("UPDATE runners SET online = FALSE WHERE id = $1")
            .bind(id)
            .execute(db)
            .await
            .map(|_| ())
    })
}

/// Every runner is offline when the server starts (none is connected yet).
pub async fn all_offline(db: &Db) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query("UPDATE runners SET online = FALSE WHERE online")
            .execute(db)
            .await
            .map(|_| ())
    })
}

pub async fn list_runners(db: &Db) -> sqlx::Result<Vec<RunnerRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(&format!(
            "SELECT {RUNNER_COLUMNS} FROM runners ORDER BY online DESC, lower(name)"
        ))
        .fetch_all(db)
        .await
    })
}

pub async fn find_runner(db: &Db, id: &str) -> sqlx::Result<Option<RunnerRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(&format!(
            "SELECT {RUNNER_COLUMNS} FROM runners WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(db)
        .await
    })
}

/// A heartbeat: the runner's time, and every lease it holds renewed.
pub async fn heartbeat(db: &Db, runner_id: &str, now: i64, lease_until: i64) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        let mut tx = db.begin().await?;
        sqlx::query("UPDATE runners SET last_heartbeat_at = $2 WHERE id = $1")
            .bind(runner_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE executions SET lease_expires_at = $2 WHERE runner_id = $1 \
             AND status IN ('queued', 'running', 'paused')",
        )
        .bind(runner_id)
        .bind(lease_until)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    })
}

/// Claims a queued execution for a runner, atomically: only one claim can
/// win, whichever server replica makes it.
pub async fn claim(
    db: &Db,
    execution_id: &str,
    runner_id: &str,
    lease_until: i64,
) -> sqlx::Result<bool> {
    crate::on_db!(db, db => {
        sqlx::query(
            "UPDATE executions SET runner_id = $2, lease_expires_at = $3 \
             WHERE id = $1 AND status = 'queued' AND runner_id IS NULL AND replica_id IS NULL AND last_seq > 0",
        )
        .bind(execution_id)
        .bind(runner_id)
        .bind(lease_until)
        .execute(db)
        .await
        .map(|r| r.rows_affected() == 1)
    })
}

/// Takes over an execution whose runner's lease ran out: true for the one
/// replica that wins it.
pub async fn take_expired(db: &Db, id: &str, runner_id: &str, now: i64) -> sqlx::Result<bool> {
    crate::on_db!(db, db => {
        sqlx::query(
            "UPDATE executions SET lease_expires_at = NULL \
             WHERE id = $1 AND runner_id = $2 AND lease_expires_at < $3",
        )
        .bind(id)
        .bind(runner_id)
        .bind(now)
        .execute(db)
        .await
        .map(|r| r.rows_affected() == 1)
    })
}

/// Marks offline the runners no replica has heard from since `before`
/// (with several replicas, a starting one must not mark offline the
/// runners connected to the others).
pub async fn offline_unless_seen_since(db: &Db, before: i64) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query(
            "UPDATE runners SET online = FALSE WHERE online \
             AND (last_heartbeat_at IS NULL OR last_heartbeat_at < $1)",
        )
        .bind(before)
        .execute(db)
        .await
        .map(|_| ())
    })
}

/// Executions whose runner stopped renewing the lease.
pub async fn expired_leases(
    db: &Db,
    now: i64,
) -> sqlx::Result<Vec<(String, String, AgentType, RunnerLost)>> {
    crate::on_db!(db, db => {
        sqlx::query_as(
            "SELECT id, runner_id, agent_type, on_runner_lost FROM executions WHERE runner_id IS NOT NULL \
             AND status IN ('queued', 'running', 'paused') AND lease_expires_at < $1",
        )
        .bind(now)
        .fetch_all(db)
        .await
    })
}

/// The runner holding an execution, the report seq applied so far, and its status.
pub async fn remote_state(
    db: &Db,
    execution_id: &str,
) -> sqlx::Result<Option<(Option<String>, i64, ExecutionStatus)>> {
    crate::on_db!(db, db => {
        sqlx::query_as("SELECT runner_id, remote_seq, status FROM executions WHERE id = $1")
            .bind(execution_id)
            .fetch_optional(db)
            .await
    })
}

/// Executions a runner holds that have not ended.
pub async fn held_by(db: &Db, runner_id: &str) -> sqlx::Result<Vec<String>> {
    crate::on_db!(db, db => {
        sqlx::query_scalar(
            "SELECT id FROM executions WHERE runner_id = $1 AND status IN ('queued', 'running', 'paused')",
        )
        .bind(runner_id)
        .fetch_all(db)
        .await
    })
}

/// Number of unfinished executions each runner holds.
pub async fn load(db: &Db) -> sqlx::Result<Vec<(String, i64)>> {
    crate::on_db!(db, db => {
        sqlx::query_as(
            "SELECT runner_id, COUNT(*) FROM executions WHERE runner_id IS NOT NULL \
             AND status IN ('queued', 'running', 'paused') GROUP BY runner_id",
        )
        .fetch_all(db)
        .await
    })
}

/// Gives a claim back (the runner could not be reached).
pub async fn unclaim(db: &Db, execution_id: &str) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query(
            "UPDATE executions SET runner_id = NULL, lease_expires_at = NULL WHERE id = $1 AND status = 'queued'",
        )
        .bind(execution_id)
        .execute(db)
        .await
        .map(|_| ())
    })
}

/// Gives every unfinished remote execution a lease until `until`.
pub async fn extend_leases(db: &Db, until: i64) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query(
            "UPDATE executions SET lease_expires_at = $1 WHERE runner_id IS NOT NULL \
             AND status IN ('queued', 'running', 'paused')",
        )
        .bind(until)
        .execute(db)
        .await
        .map(|_| ())
    })
}

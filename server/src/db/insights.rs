//! The Insights page's raw figures: runs and workflow runs of a period,
//! and what the event log took in the last minute. Aggregation that SQL
//! dialects disagree on (percentiles, days) is done by the caller.

use sqlx::FromRow;

use super::Db;

/// Most runs read for one period; beyond, the newest.
const MAX_ROWS: i64 = 50_000;

/// A run, as the figures need it.
#[derive(Debug, Clone, FromRow)]
pub struct RunRow {
    /// The agent's name (executions) or the workflow's (workflow runs).
    pub name: String,
    pub status: String,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

/// Agent runs created since `since` (ms), newest first.
pub async fn executions_since(db: &Db, since: i64) -> sqlx::Result<Vec<RunRow>> {
    sqlx::query_as(
        "SELECT agent_name AS name, status, created_at, started_at, finished_at \
         FROM executions WHERE created_at >= $1 ORDER BY created_at DESC LIMIT $2",
    )
    .bind(since)
    .bind(MAX_ROWS)
    .fetch_all(db)
    .await
}

/// Workflow runs created since `since` (ms), newest first.
pub async fn workflow_runs_since(db: &Db, since: i64) -> sqlx::Result<Vec<RunRow>> {
    sqlx::query_as(
        "SELECT workflow_name AS name, status, created_at, created_at AS started_at, finished_at \
         FROM workflow_runs WHERE created_at >= $1 ORDER BY created_at DESC LIMIT $2",
    )
    .bind(since)
    .bind(MAX_ROWS)
    .fetch_all(db)
    .await
}

/// Events and log lines stored since `since` (ms), among the runs that
/// could have written any then (running, or finished since).
pub async fn events_since(db: &Db, since: i64) -> sqlx::Result<(i64, i64)> {
    sqlx::query_as(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN e.kind = 'log' THEN 1 ELSE 0 END), 0) \
         FROM execution_events e WHERE e.at_ms >= $1 AND e.execution_id IN \
         (SELECT id FROM executions WHERE status IN ('running', 'paused') \
          OR finished_at >= $1)",
    )
    .bind(since)
    .fetch_one(db)
    .await
}

/// Runs queued and running now.
pub async fn queued_and_running(db: &Db) -> sqlx::Result<(i64, i64)> {
    sqlx::query_as(
        "SELECT COALESCE(SUM(CASE WHEN status = 'queued' THEN 1 ELSE 0 END), 0), \
         COALESCE(SUM(CASE WHEN status IN ('running', 'paused') THEN 1 ELSE 0 END), 0) \
         FROM executions WHERE status IN ('queued', 'running', 'paused')",
    )
    .fetch_one(db)
    .await
}

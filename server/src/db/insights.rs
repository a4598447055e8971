//! The Insights page's raw figures: runs and workflow runs of a period,
//! counted by day and status and by name and status in SQL (every run
//! counts), and the durations of the newest ones (a bounded sample).

use sqlx::FromRow;

use super::Db;

/// Most durations read for one period's percentiles: the newest.
pub const SAMPLE: i64 = 20_000;

/// Runs of one day (UTC, days since 1970) with one status.
#[derive(Debug, Clone, FromRow)]
pub struct DayCount {
    pub day: i64,
    pub status: String,
    pub runs: i64,
}

/// Runs of one agent or workflow with one status.
#[derive(Debug, Clone, FromRow)]
pub struct NameCount {
    pub name: String,
    pub status: String,
    pub runs: i64,
}

/// How long one ended run took (ms), by name.
#[derive(Debug, Clone, FromRow)]
pub struct Took {
    pub name: String,
    pub ms: i64,
}

/// Agent runs created since `since` (ms), by UTC day and status.
pub async fn executions_per_day(db: &Db, since: i64) -> sqlx::Result<Vec<DayCount>> {
    crate::on_db!(db, db => {
        sqlx::query_as(
            "SELECT created_at / 86400000 AS day, status, COUNT(*) AS runs FROM executions \
             WHERE created_at >= $1 GROUP BY created_at / 86400000, status",
        )
        .bind(since)
        .fetch_all(db)
        .await
    })
}

/// Agent runs created since `since`, by agent and status.
pub async fn executions_by_name(db: &Db, since: i64) -> sqlx::Result<Vec<NameCount>> {
    crate::on_db!(db, db => {
        sqlx::query_as(
            "SELECT agent_name AS name, status, COUNT(*) AS runs FROM executions \
             WHERE created_at >= $1 GROUP BY agent_name, status",
        )
        .bind(since)
        .fetch_all(db)
        .await
    })
}

/// Workflow runs created since `since`, by workflow and status.
pub async fn workflow_runs_by_name(db: &Db, since: i64) -> sqlx::Result<Vec<NameCount>> {
    crate::on_db!(db, db => {
        sqlx::query_as(
            "SELECT workflow_name AS name, status, COUNT(*) AS runs FROM workflow_runs \
             WHERE created_at >= $1 GROUP BY workflow_name, status",
        )
        .bind(since)
        .fetch_all(db)
        .await
    })
}

/// How long the newest [`SAMPLE`] agent runs created since `since` that
/// ended took, start to end.
pub async fn execution_durations(db: &Db, since: i64) -> sqlx::Result<Vec<Took>> {
    crate::on_db!(db, db => {
        sqlx::query_as(
            "SELECT agent_name AS name, finished_at - started_at AS ms FROM executions \
             WHERE created_at >= $1 AND started_at IS NOT NULL AND finished_at IS NOT NULL \
             ORDER BY created_at DESC LIMIT $2",
        )
        .bind(since)
        .bind(SAMPLE)
        .fetch_all(db)
        .await
    })
}

/// How long the newest [`SAMPLE`] workflow runs created since `since`
/// that ended took.
pub async fn workflow_durations(db: &Db, since: i64) -> sqlx::Result<Vec<Took>> {
    crate::on_db!(db, db => {
        sqlx::query_as(
            "SELECT workflow_name AS name, finished_at - created_at AS ms FROM workflow_runs \
             WHERE created_at >= $1 AND finished_at IS NOT NULL \
             ORDER BY created_at DESC LIMIT $2",
        )
        .bind(since)
        .bind(SAMPLE)
        .fetch_all(db)
        .await
    })
}

/// How long the newest [`SAMPLE`] agent runs created since `since` waited
/// from created to started.
pub async fn queue_waits(db: &Db, since: i64) -> sqlx::Result<Vec<i64>> {
    crate::on_db!(db, db => {
        sqlx::query_scalar(
            "SELECT started_at - created_at FROM executions \
             WHERE created_at >= $1 AND started_at IS NOT NULL \
             ORDER BY created_at DESC LIMIT $2",
        )
        .bind(since)
        .bind(SAMPLE)
        .fetch_all(db)
        .await
    })
}

/// Runs queued and running now.
pub async fn queued_and_running(db: &Db) -> sqlx::Result<(i64, i64)> {
    crate::on_db!(db, db => {
        sqlx::query_as(
            "SELECT COALESCE(SUM(CASE WHEN status = 'queued' THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(CASE WHEN status IN ('running', 'paused') THEN 1 ELSE 0 END), 0) \
             FROM executions WHERE status IN ('queued', 'running', 'paused')",
        )
        .fetch_one(db)
        .await
    })
}

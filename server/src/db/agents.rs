//! Agent definitions.

use std::collections::BTreeMap;

use super::Json;
use app::model::{AgentType, Budget, RunnerLost};
use sqlx::FromRow;

use super::Db;

#[derive(Debug, Clone, FromRow)]
pub struct AgentRow {
    pub id: String,
    pub name: String,
    pub agent_type: AgentType,
    /// The argv template.
    pub command: Json<Vec<String>>,
    pub env: Json<BTreeMap<String, String>>,
    pub timeout_secs: i64,
    pub output_cap_bytes: i64,
    /// What a runner must offer to run it.
    pub capabilities: Json<Vec<String>>,
    pub on_runner_lost: RunnerLost,
    /// Extra paths its sandbox may read and write.
    pub sandbox_paths: Json<Vec<String>>,
    /// What its runs may spend.
    pub budget: Json<Budget>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str =
    "id, name, agent_type, command, env, timeout_secs, output_cap_bytes, capabilities, \
    on_runner_lost, created_at, updated_at, sandbox_paths, budget";

pub async fn list(db: &Db) -> sqlx::Result<Vec<AgentRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM agents ORDER BY lower(name)"
        ))
        .fetch_all(db)
        .await
    })
}

pub async fn find(db: &Db, id: &str) -> sqlx::Result<Option<AgentRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM agents WHERE id = $1"))
            .bind(id)
            .fetch_optional(db)
            .await
    })
}

/// The agent called `name`, ignoring case.
pub async fn find_by_name(db: &Db, name: &str) -> sqlx::Result<Option<AgentRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM agents WHERE lower(name) = lower($1) LIMIT 1"
        ))
        .bind(name)
        .fetch_optional(db)
        .await
    })
}

pub async fn count(db: &Db) -> sqlx::Result<i64> {
    crate::on_db!(db, db => {
        sqlx::query_scalar("SELECT COUNT(*) FROM agents")
            .fetch_one(db)
            .await
    })
}

pub async fn create(db: &Db, row: &AgentRow) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query(&format!(
            "INSERT INTO agents ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(&row.id)
        .bind(&row.name)
        .bind(row.agent_type)
        .bind(row.command.clone())
        .bind(row.env.clone())
        .bind(row.timeout_secs)
        .bind(row.output_cap_bytes)
        .bind(row.capabilities.clone())
        .bind(row.on_runner_lost)
        .bind(row.created_at)
        .bind(row.updated_at)
        .bind(row.sandbox_paths.clone())
        .bind(row.budget)
        .execute(db)
        .await
        .map(|_| ())
    })
}

/// Replaces an agent's definition; false when there is no such agent.
pub async fn update(db: &Db, row: &AgentRow) -> sqlx::Result<bool> {
    crate::on_db!(db, db => {
        let done = sqlx::query(
            "UPDATE agents SET name = $2, agent_type = $3, command = $4, env = $5, timeout_secs = $6, \
             output_cap_bytes = $7, updated_at = $8, capabilities = $9, on_runner_lost = $10, \
             sandbox_paths = $11, budget = $12 WHERE id = $1",
        )
        .bind(&row.id)
        .bind(&row.name)
        .bind(row.agent_type)
        .bind(row.command.clone())
        .bind(row.env.clone())
        .bind(row.timeout_secs)
        .bind(row.output_cap_bytes)
        .bind(row.updated_at)
        .bind(row.capabilities.clone())
        .bind(row.on_runner_lost)
        .bind(row.sandbox_paths.clone())
        .bind(row.budget)
        .execute(db)
        .await?;
        Ok(done.rows_affected() == 1)
    })
}

pub async fn delete(db: &Db, id: &str) -> sqlx::Result<bool> {
    crate::on_db!(db, db => {
        let done = sqlx::query("DELETE FROM agents WHERE id = $1")
            .bind(id)
            .execute(db)
            .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// Replaces an agent's environment (sealing values stored in the clear).
pub async fn set_env(db: &Db, id: &str, env: &BTreeMap<String, String>) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query("UPDATE agents SET env = $2 WHERE id = $1")
            .bind(id)
            .bind(Json(env))
            .execute(db)
            .await
            .map(|_| ())
    })
}

/// What each agent's runs add up to.
#[derive(Debug, Clone, FromRow)]
pub struct AgentStatsRow {
    pub agent_id: String,
    pub runs: i64,
    pub completed: i64,
    /// Failed or timed out (cancelled runs count neither way).
    pub failed: i64,
    pub avg_wall_ms: Option<i64>,
    pub last_at: i64,
    pub last_status: String,
}

/// Runs per agent, how many succeeded, their mean wall time, and the
/// latest run's status and time.
pub async fn stats(db: &Db) -> sqlx::Result<Vec<AgentStatsRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(
            "SELECT s.agent_id, s.runs, s.completed, s.failed, s.avg_wall_ms, s.last_at, \
                    (SELECT e.status FROM executions e WHERE e.agent_id = s.agent_id \
                     ORDER BY e.created_at DESC, e.id DESC LIMIT 1) AS last_status \
             FROM (SELECT agent_id, COUNT(*) AS runs, \
                          SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS completed, \
                          SUM(CASE WHEN status IN ('failed', 'timed_out') THEN 1 ELSE 0 END) AS failed, \
                          CAST(AVG(wall_ms) AS BIGINT) AS avg_wall_ms, \
                          MAX(created_at) AS last_at \
                   FROM executions WHERE agent_id IS NOT NULL GROUP BY agent_id) s",
        )
        .fetch_all(db)
        .await
    })
}

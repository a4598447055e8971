//! Executions and their events: the event store.

use std::collections::BTreeMap;

use super::Json;
use app::model::{AgentType, ExecutionStatus, RunnerLost};
use sqlx::{FromRow, QueryBuilder};

use super::Db;

pub use super::event_batches::{append, Effect, Finished};

#[derive(Debug, Clone, FromRow)]
pub struct ExecutionRow {
    pub id: String,
    pub agent_id: Option<String>,
    pub agent_name: String,
    pub agent_type: AgentType,
    pub prompt: String,
    /// The command as it runs (placeholders filled).
    pub argv: Json<Vec<String>>,
    pub env: Json<BTreeMap<String, String>>,
    pub timeout_secs: i64,
    pub output_cap_bytes: i64,
    pub status: ExecutionStatus,
    pub progress: i64,
    pub current_step: Option<String>,
    pub result: Option<Json<serde_json::Value>>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub exit_code: Option<i64>,
    pub signal: Option<i64>,
    pub cpu_ms: Option<i64>,
    pub peak_memory_kb: Option<i64>,
    pub wall_ms: Option<i64>,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub last_seq: i64,
    pub issue_id: Option<String>,
    pub workflow_run_id: Option<String>,
    /// From the issue, when there is one (read only).
    pub issue_number: Option<i64>,
    pub issue_title: Option<String>,
    pub issue_repository_id: Option<String>,
    /// What a runner must offer to run it.
    pub capabilities: Json<Vec<String>>,
    pub runner_id: Option<String>,
    /// Seed 000's task fields.
    pub task_name: Option<String>,
    pub description: Option<String>,
    pub tags: Json<Vec<String>>,
    pub metadata: Option<Json<serde_json::Value>>,
    /// What happens when its runner is lost.
    pub on_runner_lost: RunnerLost,
    /// Tokens and cost reported ([`super::usage`]); `usage_at` is NULL
    /// while nothing was.
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_micros: i64,
    pub usage_at: Option<i64>,
    /// The branch it worked on, when it worked in a repository.
    pub branch: Option<String>,
    /// The pull request a person opened from its branch.
    pub pr_url: Option<String>,
}

pub(super) const COLUMNS: &str = "e.id, e.agent_id, e.agent_name, e.agent_type, e.prompt, e.argv, e.env, e.timeout_secs, \
    e.output_cap_bytes, e.status, e.progress, e.current_step, e.result, e.error_code, e.error_message, e.exit_code, \
    e.signal, e.cpu_ms, e.peak_memory_kb, e.wall_ms, e.created_by, e.created_at, e.started_at, e.finished_at, \
    e.last_seq, e.issue_id, e.workflow_run_id, i.number AS issue_number, i.title AS issue_title, \
    i.repository_id AS issue_repository_id, e.capabilities, e.runner_id, e.task_name, e.description, e.tags, \
    e.metadata, e.on_runner_lost, e.input_tokens + e.live_input_tokens AS input_tokens, \
    e.output_tokens + e.live_output_tokens AS output_tokens, e.cost_micros, e.usage_at, e.branch, e.pr_url";

pub(super) const FROM: &str = "executions e LEFT JOIN issues i ON i.id = e.issue_id";

/// A new execution, as it is queued.
#[derive(Debug, Clone)]
pub struct NewExecution {
    pub id: String,
    pub agent_id: Option<String>,
    pub agent_name: String,
    pub agent_type: AgentType,
    pub prompt: String,
    pub argv: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub timeout_secs: i64,
    pub output_cap_bytes: i64,
    /// `queued` (the scheduler's to start), unless made by other means.
    pub status: ExecutionStatus,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub issue_id: Option<String>,
    pub workflow_run_id: Option<String>,
    pub capabilities: Vec<String>,
    pub task_name: Option<String>,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub metadata: Option<Json<serde_json::Value>>,
    pub on_runner_lost: RunnerLost,
    /// Only a runner can take it (a task made without an agent).
    pub needs_runner: bool,
}

/// Inserts a new execution (no events yet).
pub async fn create(db: &Db, row: &NewExecution) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query(
            "INSERT INTO executions (id, agent_id, agent_name, agent_type, prompt, argv, env, timeout_secs, \
             output_cap_bytes, status, created_by, created_at, issue_id, workflow_run_id, capabilities, task_name, \
             description, tags, metadata, on_runner_lost, needs_runner) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)",
        )
        .bind(&row.id)
        .bind(&row.agent_id)
        .bind(&row.agent_name)
        .bind(row.agent_type)
        .bind(&row.prompt)
        .bind(Json(&row.argv))
        .bind(Json(&row.env))
        .bind(row.timeout_secs)
        .bind(row.output_cap_bytes)
        .bind(row.status)
        .bind(&row.created_by)
        .bind(row.created_at)
        .bind(&row.issue_id)
        .bind(&row.workflow_run_id)
        .bind(Json(&row.capabilities))
        .bind(&row.task_name)
        .bind(&row.description)
        .bind(Json(&row.tags))
        .bind(&row.metadata)
        .bind(row.on_runner_lost)
        .bind(row.needs_runner)
        .execute(db)
        .await
        .map(|_| ())
    })
}

pub async fn find(db: &Db, id: &str) -> sqlx::Result<Option<ExecutionRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM {FROM} WHERE e.id = $1"))
            .bind(id)
            .fetch_optional(db)
            .await
    })
}

/// Filters for [`list`]; `None` means any.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub status: Option<ExecutionStatus>,
    pub agent_id: Option<String>,
    /// Only executions created at or after this time (ms).
    pub since_ms: Option<i64>,
    pub issue_id: Option<String>,
}

fn push_filter<'a, DB>(q: &mut QueryBuilder<'a, DB>, f: &'a Filter)
where
    DB: sqlx::Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    ExecutionStatus: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    q.push(" WHERE 1 = 1");
    if let Some(s) = f.status {
        q.push(" AND e.status = ").push_bind(s);
    }
    if let Some(a) = &f.agent_id {
        q.push(" AND e.agent_id = ").push_bind(a);
    }
    if let Some(t) = f.since_ms {
        q.push(" AND e.created_at >= ").push_bind(t);
    }
    if let Some(i) = &f.issue_id {
        q.push(" AND e.issue_id = ").push_bind(i);
    }
}

/// Newest first.
pub async fn list(
    db: &Db,
    filter: &Filter,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<ExecutionRow>> {
    crate::on_db!(db, db => {
        let mut q = QueryBuilder::new(format!("SELECT {COLUMNS} FROM {FROM}"));
        push_filter(&mut q, filter);
        q.push(" ORDER BY e.created_at DESC, e.id DESC LIMIT ")
            .push_bind(limit)
            .push(" OFFSET ")
            .push_bind(offset);
        q.build_query_as().fetch_all(db).await
    })
}

/// The newest execution started on each of `issue_ids` by itself (not as
/// a workflow's step).
pub async fn latest_standalone_of_issues(
    db: &Db,
    issue_ids: &[String],
) -> sqlx::Result<Vec<ExecutionRow>> {
    crate::on_db!(db, db => {
        if issue_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = QueryBuilder::new(format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE e.id IN (SELECT id FROM (SELECT id, \
             ROW_NUMBER() OVER (PARTITION BY issue_id ORDER BY created_at DESC, id DESC) AS n \
             FROM executions WHERE workflow_run_id IS NULL AND issue_id IN ("
        ));
        let mut list = q.separated(", ");
        for id in issue_ids {
            list.push_bind(id);
        }
        q.push(")) latest WHERE n = 1)");
        q.build_query_as().fetch_all(db).await
    })
}

pub async fn count(db: &Db, filter: &Filter) -> sqlx::Result<i64> {
    crate::on_db!(db, db => {
        let mut q = QueryBuilder::new("SELECT COUNT(*) FROM executions e");
        push_filter(&mut q, filter);
        q.build_query_scalar().fetch_one(db).await
    })
}

/// Counts per status of executions created since `since_ms`.
pub async fn count_by_status(db: &Db, since_ms: i64) -> sqlx::Result<Vec<(ExecutionStatus, i64)>> {
    crate::on_db!(db, db => {
        sqlx::query_as("SELECT status, COUNT(*) FROM executions WHERE created_at >= $1 GROUP BY status")
            .bind(since_ms)
            .fetch_all(db)
            .await
    })
}

/// Oldest queued executions not yet claimed by a runner or a replica
/// first, with the capabilities each needs and whether only a runner can
/// take it. Only once their `queued` event is stored (`last_seq > 0`): the
/// replica that made one and the one that runs it number events in order.
pub async fn queued(db: &Db, limit: i64) -> sqlx::Result<Vec<(String, Json<Vec<String>>, bool)>> {
    crate::on_db!(db, db => {
        sqlx::query_as(
            "SELECT id, capabilities, needs_runner FROM executions WHERE status = 'queued' \
             AND runner_id IS NULL AND replica_id IS NULL AND last_seq > 0 ORDER BY created_at, id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(db)
        .await
    })
}

/// Local executions this replica (`replica`) left running when it
/// stopped, and those of a version that did not record replicas.
pub async fn unfinished(db: &Db, replica: &str) -> sqlx::Result<Vec<ExecutionRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE e.status IN ('running', 'paused') AND e.runner_id IS NULL \
             AND (e.replica_id IS NULL OR e.replica_id = $1)"
        ))
        .bind(replica)
        .fetch_all(db)
        .await
    })
}

pub async fn last_seq(db: &Db, id: &str) -> sqlx::Result<Option<i64>> {
    crate::on_db!(db, db => {
        sqlx::query_scalar("SELECT last_seq FROM executions WHERE id = $1")
            .bind(id)
            .fetch_optional(db)
            .await
    })
}

/// A stored event row.
#[derive(Debug, Clone, FromRow)]
pub struct EventRow {
    pub execution_id: String,
    pub seq: i64,
    pub kind: String,
    pub payload: String,
    pub at_ms: i64,
}

/// Events of one execution with `seq > after`, in order.
pub async fn events_after(
    db: &Db,
    id: &str,
    after: i64,
    limit: i64,
) -> sqlx::Result<Vec<EventRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(
            "SELECT execution_id, seq, kind, payload, at_ms FROM execution_events \
             WHERE execution_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(id)
        .bind(after)
        .bind(limit)
        .fetch_all(db)
        .await
    })
}

/// The last `limit` log events of one execution, in order.
pub async fn log_tail(db: &Db, id: &str, limit: i64) -> sqlx::Result<Vec<EventRow>> {
    crate::on_db!(db, db => {
        let mut rows: Vec<EventRow> = sqlx::query_as(
            "SELECT execution_id, seq, kind, payload, at_ms FROM execution_events \
             WHERE execution_id = $1 AND kind = 'log' ORDER BY seq DESC LIMIT $2",
        )
        .bind(id)
        .bind(limit)
        .fetch_all(db)
        .await?;
        rows.reverse();
        Ok(rows)
    })
}

/// Executions with events at or after `since_ms`, each with the seq just
/// before its first such event (where a follower that missed them
/// resumes). Only executions still going or ended since then are looked at.
pub async fn active_since(db: &Db, since_ms: i64) -> sqlx::Result<Vec<(String, i64)>> {
    crate::on_db!(db, db => {
        sqlx::query_as(
            "SELECT e.id, COALESCE((SELECT MIN(v.seq) FROM execution_events v \
                                    WHERE v.execution_id = e.id AND v.at_ms >= $1), e.last_seq + 1) - 1 \
             FROM executions e \
             WHERE e.status IN ('queued', 'running', 'paused') OR e.finished_at >= $1 OR e.created_at >= $1",
        )
        .bind(since_ms)
        .fetch_all(db)
        .await
    })
}

/// Seed 000's task fields of an execution.
pub async fn update_task_fields(
    db: &Db,
    id: &str,
    name: Option<&str>,
    description: Option<&str>,
    tags: &[String],
    timeout_secs: i64,
) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query(
            "UPDATE executions SET task_name = $2, description = $3, tags = $4, timeout_secs = $5 WHERE id = $1",
        )
        .bind(id)
        .bind(name)
        .bind(description)
        .bind(Json(tags))
        .bind(timeout_secs)
        .execute(db)
        .await
        .map(|_| ())
    })
}

/// Deletes an ended execution with its events; false when there is none.
pub async fn delete_ended(db: &Db, id: &str) -> sqlx::Result<bool> {
    crate::on_db!(db, db => {
        sqlx::query(
            "DELETE FROM executions WHERE id = $1 AND status IN ('completed', 'failed', 'cancelled', 'timed_out')",
        )
        .bind(id)
        .execute(db)
        .await
        .map(|r| r.rows_affected() > 0)
    })
}

/// The first `limit` log messages of an execution.
pub async fn log_messages(db: &Db, id: &str, limit: i64) -> sqlx::Result<Vec<(i64, String)>> {
    crate::on_db!(db, db => {
        sqlx::query_as(
            "SELECT seq, payload FROM execution_events WHERE execution_id = $1 AND kind = 'log' ORDER BY seq LIMIT $2",
        )
        .bind(id)
        .bind(limit)
        .fetch_all(db)
        .await
    })
}

/// How many events of `kind` an execution has (e.g. how often it was requeued).
pub async fn count_events(db: &Db, id: &str, kind: &str) -> sqlx::Result<i64> {
    crate::on_db!(db, db => {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM execution_events WHERE execution_id = $1 AND kind = $2",
        )
        .bind(id)
        .bind(kind)
        .fetch_one(db)
        .await
    })
}

/// Where an execution works in a repository.
pub async fn set_execution_worktree(
    db: &Db,
    id: &str,
    repository_id: &str,
    branch: &str,
    base_commit: &str,
    worktree: &str,
) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query(
            "UPDATE executions SET repository_id = $2, branch = $3, base_commit = $4, worktree = $5 WHERE id = $1",
        )
        .bind(id)
        .bind(repository_id)
        .bind(branch)
        .bind(base_commit)
        .bind(worktree)
        .execute(db)
        .await
        .map(|_| ())
    })
}

/// Every execution's environment that is not empty, by id.
pub async fn environments(db: &Db) -> sqlx::Result<Vec<(String, Json<BTreeMap<String, String>>)>> {
    crate::on_db!(db, db => {
        sqlx::query_as("SELECT id, env FROM executions WHERE env <> '{}'")
            .fetch_all(db)
            .await
    })
}

/// Replaces an execution's environment (sealing values stored in the clear).
pub async fn set_env(db: &Db, id: &str, env: &BTreeMap<String, String>) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query("UPDATE executions SET env = $2 WHERE id = $1")
            .bind(id)
            .bind(Json(env))
            .execute(db)
            .await
            .map(|_| ())
    })
}

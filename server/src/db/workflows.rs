//! Workflow definitions, their runs, each run's steps and its event
//! stream (the run's history).

use super::Json;
use app::model::{AgentType, Budget, OnFailure, RunStatus, StepStatus, WorkflowDefinition};
use sqlx::{FromRow, QueryBuilder};

use super::Db;

#[derive(Debug, Clone, FromRow)]
pub struct WorkflowRow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub trigger_label: Option<String>,
    pub trigger_assignee: Option<String>,
    /// JSON (app::model::WorkflowDefinition).
    pub definition: Json<WorkflowDefinition>,
    /// What one run may spend.
    pub budget: Json<Budget>,
    pub created_at: i64,
    pub updated_at: i64,
}

const WORKFLOW_COLUMNS: &str =
    "id, name, description, trigger_label, trigger_assignee, definition, budget, created_at, updated_at";

pub async fn list(db: &Db) -> sqlx::Result<Vec<WorkflowRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(&format!(
            "SELECT {WORKFLOW_COLUMNS} FROM workflows ORDER BY lower(name)"
        ))
        .fetch_all(db)
        .await
    })
}

pub async fn find(db: &Db, id: &str) -> sqlx::Result<Option<WorkflowRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(&format!(
            "SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(db)
        .await
    })
}

/// Workflows started by a label, ignoring case.
pub async fn triggered_by(db: &Db, label: &str) -> sqlx::Result<Vec<WorkflowRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(&format!(
            "SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE lower(trigger_label) = lower($1) ORDER BY name"
        ))
        .bind(label)
        .fetch_all(db)
        .await
    })
}

/// Workflows started by assigning an issue to `login`, ignoring case.
pub async fn triggered_by_assignee(db: &Db, login: &str) -> sqlx::Result<Vec<WorkflowRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(&format!(
            "SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE lower(trigger_assignee) = lower($1) ORDER BY name"
        ))
        .bind(login)
        .fetch_all(db)
        .await
    })
}

pub async fn insert(db: &Db, row: &WorkflowRow) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query(
            "INSERT INTO workflows (id, name, description, trigger_label, definition, created_at, updated_at, trigger_assignee, \
             budget) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&row.id)
        .bind(&row.name)
        .bind(&row.description)
        .bind(&row.trigger_label)
        .bind(&row.definition)
        .bind(row.created_at)
        .bind(row.updated_at)
        .bind(&row.trigger_assignee)
        .bind(row.budget)
        .execute(db)
        .await
        .map(|_| ())
    })
}

/// Replaces a definition; false when there is no such workflow.
pub async fn update(db: &Db, row: &WorkflowRow) -> sqlx::Result<bool> {
    crate::on_db!(db, db => {
        sqlx::query(
            "UPDATE workflows SET name = $2, description = $3, trigger_label = $4, definition = $5, updated_at = $6, \
             trigger_assignee = $7, budget = $8 WHERE id = $1",
        )
        .bind(&row.id)
        .bind(&row.name)
        .bind(&row.description)
        .bind(&row.trigger_label)
        .bind(&row.definition)
        .bind(row.updated_at)
        .bind(&row.trigger_assignee)
        .bind(row.budget)
        .execute(db)
        .await
        .map(|r| r.rows_affected() > 0)
    })
}

pub async fn delete(db: &Db, id: &str) -> sqlx::Result<bool> {
    crate::on_db!(db, db => {
        sqlx::query("DELETE FROM workflows WHERE id = $1")
            .bind(id)
            .execute(db)
            .await
            .map(|r| r.rows_affected() > 0)
    })
}

#[derive(Debug, Clone, FromRow)]
pub struct RunRow {
    pub id: String,
    pub workflow_id: Option<String>,
    pub workflow_name: String,
    pub definition: Json<WorkflowDefinition>,
    pub issue_id: Option<String>,
    pub status: RunStatus,
    pub error: Option<String>,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
    pub rerun_of: Option<String>,
    pub last_seq: i64,
    pub branch: Option<String>,
    pub pr_url: Option<String>,
    pub github_reported: i64,
    pub github_error: Option<String>,
    /// From the issue (read only).
    pub issue_number: Option<i64>,
    pub issue_title: Option<String>,
    pub issue_repository_id: Option<String>,
}

const RUN_COLUMNS: &str =
    "w.id, w.workflow_id, w.workflow_name, w.definition, w.issue_id, w.status, w.error, \
    w.created_by, w.created_at, w.finished_at, w.rerun_of, w.last_seq, w.branch, w.pr_url, \
    w.github_reported, w.github_error, i.number AS issue_number, \
    i.title AS issue_title, i.repository_id AS issue_repository_id";
const RUN_FROM: &str = "workflow_runs w LEFT JOIN issues i ON i.id = w.issue_id";

#[derive(Debug, Clone, FromRow)]
pub struct StepRow {
    pub run_id: String,
    pub stage: i64,
    pub step_index: i64,
    pub step_key: String,
    pub agent_id: Option<String>,
    pub agent_name: String,
    pub agent_type: AgentType,
    pub prompt: String,
    pub on_failure: OnFailure,
    pub approval: bool,
    pub status: StepStatus,
    pub execution_id: Option<String>,
    pub result: Option<Json<serde_json::Value>>,
    pub error: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub reused: bool,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

const STEP_COLUMNS: &str = "run_id, stage, step_index, step_key, agent_id, agent_name, agent_type, prompt, \
    on_failure, approval, status, execution_id, result, error, decided_by, decided_at, reused, started_at, finished_at";

pub async fn find_run(db: &Db, id: &str) -> sqlx::Result<Option<RunRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(&format!(
            "SELECT {RUN_COLUMNS} FROM {RUN_FROM} WHERE w.id = $1"
        ))
        .bind(id)
        .fetch_optional(db)
        .await
    })
}

pub async fn steps(db: &Db, run_id: &str) -> sqlx::Result<Vec<StepRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(&format!(
            "SELECT {STEP_COLUMNS} FROM workflow_steps WHERE run_id = $1 ORDER BY stage, step_index"
        ))
        .bind(run_id)
        .fetch_all(db)
        .await
    })
}

/// Steps of many runs at once (for lists).
pub async fn steps_of(db: &Db, run_ids: &[String]) -> sqlx::Result<Vec<StepRow>> {
    crate::on_db!(db, db => {
        if run_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = QueryBuilder::new(format!(
            "SELECT {STEP_COLUMNS} FROM workflow_steps WHERE run_id IN ("
        ));
        let mut list = q.separated(", ");
        for id in run_ids {
            list.push_bind(id);
        }
        q.push(") ORDER BY run_id, stage, step_index");
        q.build_query_as().fetch_all(db).await
    })
}

#[derive(Debug, Default, Clone)]
pub struct RunFilter {
    pub workflow_id: Option<String>,
    pub issue_id: Option<String>,
    /// Only runs that have not ended.
    pub active: bool,
}

/// Newest first (oldest first for active runs).
pub async fn list_runs(db: &Db, filter: &RunFilter, limit: i64) -> sqlx::Result<Vec<RunRow>> {
    crate::on_db!(db, db => {
        let mut q =
            QueryBuilder::new(format!("SELECT {RUN_COLUMNS} FROM {RUN_FROM} WHERE 1 = 1"));
        if let Some(w) = &filter.workflow_id {
            q.push(" AND w.workflow_id = ").push_bind(w);
        }
        if let Some(i) = &filter.issue_id {
            q.push(" AND w.issue_id = ").push_bind(i);
        }
        if filter.active {
            q.push(" AND w.status IN ('running', 'waiting_approval') ORDER BY w.created_at, w.id");
        } else {
            q.push(" ORDER BY w.created_at DESC, w.id DESC");
        }
        q.push(" LIMIT ").push_bind(limit);
        q.build_query_as().fetch_all(db).await
    })
}

/// The newest run on each of `issue_ids` (issues nothing ran on have none).
pub async fn latest_runs_of_issues(db: &Db, issue_ids: &[String]) -> sqlx::Result<Vec<RunRow>> {
    crate::on_db!(db, db => {
        if issue_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = QueryBuilder::new(format!(
            "SELECT {RUN_COLUMNS} FROM {RUN_FROM} WHERE w.id IN (SELECT id FROM (SELECT id, \
             ROW_NUMBER() OVER (PARTITION BY issue_id ORDER BY created_at DESC, id DESC) AS n \
             FROM workflow_runs WHERE issue_id IN ("
        ));
        let mut list = q.separated(", ");
        for id in issue_ids {
            list.push_bind(id);
        }
        q.push(")) latest WHERE n = 1)");
        q.build_query_as().fetch_all(db).await
    })
}

/// Records the pull request a person opened from a run's branch (once).
pub async fn set_run_pr_url(db: &Db, id: &str, url: &str) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query("UPDATE workflow_runs SET pr_url = $2 WHERE id = $1 AND pr_url IS NULL")
            .bind(id)
            .bind(url)
            .execute(db)
            .await?;
        Ok(())
    })
}

/// Ids of runs that have not ended.
pub async fn active_run_ids(db: &Db) -> sqlx::Result<Vec<String>> {
    crate::on_db!(db, db => {
        sqlx::query_scalar(
            "SELECT id FROM workflow_runs WHERE status IN ('running', 'waiting_approval') ORDER BY created_at",
        )
        .fetch_all(db)
        .await
    })
}

/// The run a step's execution belongs to.
pub async fn run_of_execution(db: &Db, execution_id: &str) -> sqlx::Result<Option<String>> {
    crate::on_db!(db, db => {
        sqlx::query_scalar("SELECT workflow_run_id FROM executions WHERE id = $1")
            .bind(execution_id)
            .fetch_optional(db)
            .await
            .map(Option::flatten)
    })
}

/// Inserts a new run and its steps (no events yet).
pub async fn insert_run(db: &Db, run: &RunRow, steps: &[StepRow]) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        let mut tx = db.begin().await?;
        sqlx::query(
            "INSERT INTO workflow_runs (id, workflow_id, workflow_name, definition, issue_id, status, error, \
             created_by, created_at, finished_at, rerun_of, last_seq) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0)",
        )
        .bind(&run.id)
        .bind(&run.workflow_id)
        .bind(&run.workflow_name)
        .bind(&run.definition)
        .bind(&run.issue_id)
        .bind(run.status)
        .bind(&run.error)
        .bind(&run.created_by)
        .bind(run.created_at)
        .bind(run.finished_at)
        .bind(&run.rerun_of)
        .execute(&mut *tx)
        .await?;
        for step in steps {
            sqlx::query(&format!(
                "INSERT INTO workflow_steps ({STEP_COLUMNS}) VALUES \
                 ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
            ))
            .bind(&step.run_id)
            .bind(step.stage)
            .bind(step.step_index)
            .bind(&step.step_key)
            .bind(&step.agent_id)
            .bind(&step.agent_name)
            .bind(step.agent_type)
            .bind(&step.prompt)
            .bind(step.on_failure)
            .bind(step.approval)
            .bind(step.status)
            .bind(&step.execution_id)
            .bind(&step.result)
            .bind(&step.error)
            .bind(&step.decided_by)
            .bind(step.decided_at)
            .bind(step.reused)
            .bind(step.started_at)
            .bind(step.finished_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    })
}

/// Writes one event of a run together with the state it changes, in one
/// transaction: the run's status, the given steps, and the next `seq`.
/// Returns that `seq`.
pub async fn commit(
    db: &Db,
    run: &RunRow,
    steps: &[&StepRow],
    kind: &str,
    payload: &str,
    at_ms: i64,
) -> sqlx::Result<i64> {
    crate::on_db!(db, db => {
        let mut tx = db.begin().await?;
        let seq: i64 = sqlx::query_scalar(
            "UPDATE workflow_runs SET status = $2, error = $3, finished_at = $4, last_seq = last_seq + 1 \
             WHERE id = $1 RETURNING last_seq",
        )
        .bind(&run.id)
        .bind(run.status)
        .bind(&run.error)
        .bind(run.finished_at)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO workflow_events (run_id, seq, kind, payload, at_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&run.id)
        .bind(seq)
        .bind(kind)
        .bind(payload)
        .bind(at_ms)
        .execute(&mut *tx)
        .await?;
        for step in steps {
            sqlx::query(
                "UPDATE workflow_steps SET status = $4, execution_id = $5, result = $6, error = $7, decided_by = $8, \
                 decided_at = $9, started_at = $10, finished_at = $11 \
                 WHERE run_id = $1 AND stage = $2 AND step_index = $3",
            )
            .bind(&step.run_id)
            .bind(step.stage)
            .bind(step.step_index)
            .bind(step.status)
            .bind(&step.execution_id)
            .bind(&step.result)
            .bind(&step.error)
            .bind(&step.decided_by)
            .bind(step.decided_at)
            .bind(step.started_at)
            .bind(step.finished_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(seq)
    })
}

#[derive(Debug, Clone, FromRow)]
pub struct RunEventRow {
    pub seq: i64,
    pub payload: String,
    pub at_ms: i64,
}

/// Events of one run with `seq > after`, in order.
pub async fn events_after(
    db: &Db,
    run_id: &str,
    after: i64,
    limit: i64,
) -> sqlx::Result<Vec<RunEventRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(
            "SELECT seq, payload, at_ms FROM workflow_events WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(run_id)
        .bind(after)
        .bind(limit)
        .fetch_all(db)
        .await
    })
}

pub async fn set_run_branch(db: &Db, run: &str, branch: &str) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query("UPDATE workflow_runs SET branch = $2 WHERE id = $1 AND branch IS NULL")
            .bind(run)
            .bind(branch)
            .execute(db)
            .await
            .map(|_| ())
    })
}

/// Records how far a run was reported to GitHub (1 started, 2 ended).
pub async fn set_run_reported(
    db: &Db,
    run: &str,
    level: i64,
    pr_url: Option<&str>,
    error: Option<&str>,
) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query(
            "UPDATE workflow_runs SET github_reported = CASE WHEN github_reported > $2 THEN github_reported ELSE $2 END, \
             pr_url = COALESCE(pr_url, $3), github_error = $4 WHERE id = $1",
        )
        .bind(run)
        .bind(level)
        .bind(pr_url)
        .bind(error)
        .execute(db)
        .await
        .map(|_| ())
    })
}

/// Runs on issues of connected repositories that still owe GitHub a
/// report (started ones not yet announced, ended ones not yet reported),
/// made after `since`: a report that keeps failing is given up after a day.
pub async fn runs_to_report(db: &Db, since: i64) -> sqlx::Result<Vec<String>> {
    crate::on_db!(db, db => {
        sqlx::query_scalar(
            "SELECT w.id FROM workflow_runs w JOIN issues i ON i.id = w.issue_id \
             JOIN repositories r ON r.id = i.repository_id \
             WHERE r.github_credentials IS NOT NULL AND i.html_url IS NOT NULL AND w.created_at > $1 AND \
             (w.github_reported = 0 OR (w.github_reported < 2 AND w.finished_at IS NOT NULL)) \
             ORDER BY w.created_at LIMIT 50",
        )
        .bind(since)
        .fetch_all(db)
        .await
    })
}

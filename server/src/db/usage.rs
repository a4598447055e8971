//! Tokens and cost of runs: what the event writer adds as usage lines are
//! stored, what a budget check reads, and the sums Insights shows.

use app::model::{Budget, UsageReport};
use sqlx::FromRow;

use super::{Arg, Db, Json, Statement};

fn i(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `column + $n`, stopped at `MAX_TOKENS` (reports are capped per line,
/// so the sum itself cannot overflow; sums over a million runs cannot
/// either).
fn plus(column: &str, param: &str) -> String {
    format!(
        "CASE WHEN {column} + {param} > {max} THEN {max} ELSE {column} + {param} END",
        max = app::model::MAX_TOKENS
    )
}

/// The statement that applies one usage report to its execution's
/// totals, run inside the transaction that stores the line it came in.
pub fn statement(execution_id: &str, report: &UsageReport, at_ms: i64) -> super::Statement {
    let execution = || Arg::Text(execution_id.to_string());
    match report {
        UsageReport::Add {
            input_tokens,
            output_tokens,
            cost_micros,
        } => {
            Statement::new(format!(
                "UPDATE executions SET input_tokens = {}, output_tokens = {}, cost_micros = {}, usage_at = $5 \
                 WHERE id = $1",
                plus("input_tokens", "$2"),
                plus("output_tokens", "$3"),
                plus("cost_micros", "$4"),
            ))
            .arg(execution())
            .arg(Arg::Int(i(*input_tokens)))
            .arg(Arg::Int(i(*output_tokens)))
            .arg(Arg::Int(i(*cost_micros)))
            .arg(Arg::Int(at_ms))
        }
        // The events of one message repeat its figures: the last one counted
        // is remembered and not counted again.
        UsageReport::Message {
            id,
            input_tokens,
            output_tokens,
        } => {
            let repeat = "COALESCE(usage_message, '') = $2 AND $2 <> ''";
            Statement::new(format!(
                "UPDATE executions SET \
                 live_input_tokens = CASE WHEN {repeat} THEN live_input_tokens ELSE {} END, \
                 live_output_tokens = CASE WHEN {repeat} THEN live_output_tokens ELSE {} END, \
                 usage_message = $2, usage_at = $5 WHERE id = $1",
                plus("live_input_tokens", "$3"),
                plus("live_output_tokens", "$4"),
            ))
            .arg(execution())
            .arg(Arg::Text(id.clone()))
            .arg(Arg::Int(i(*input_tokens)))
            .arg(Arg::Int(i(*output_tokens)))
            .arg(Arg::Int(at_ms))
        }
        // A session's result holds its totals so far: of a session settled
        // before, only what grew is added.
        UsageReport::Settle {
            session,
            input_tokens,
            output_tokens,
            cost_micros,
        } => {
            let grew = |param: &str, before: &str| {
                format!(
                    "CASE WHEN COALESCE(usage_session, '') <> $6 THEN {param} \
                     WHEN {param} > {before} THEN {param} - {before} ELSE 0 END"
                )
            };
            Statement::new(format!(
                "UPDATE executions SET input_tokens = {}, output_tokens = {}, cost_micros = {}, \
                 live_input_tokens = 0, live_output_tokens = 0, usage_message = NULL, usage_session = $6, \
                 session_input_tokens = $2, session_output_tokens = $3, session_cost_micros = $4, usage_at = $5 \
                 WHERE id = $1",
                plus("input_tokens", &format!("({})", grew("$2", "session_input_tokens"))),
                plus("output_tokens", &format!("({})", grew("$3", "session_output_tokens"))),
                plus("cost_micros", &format!("({})", grew("$4", "session_cost_micros"))),
            ))
            .arg(execution())
            .arg(Arg::Int(i(*input_tokens)))
            .arg(Arg::Int(i(*output_tokens)))
            .arg(Arg::Int(i(*cost_micros)))
            .arg(Arg::Int(at_ms))
            .arg(Arg::Text(session.clone()))
        }
    }
}

/// Tokens (input, output) and cost as summed by SQL.
#[derive(Debug, Clone, Copy, Default, FromRow)]
pub struct Sums {
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_micros: i64,
}

impl Sums {
    pub fn usage(&self) -> app::model::TokenUsage {
        app::model::TokenUsage {
            input_tokens: self.input_tokens.max(0) as u64,
            output_tokens: self.output_tokens.max(0) as u64,
            cost_usd: self.cost_micros.max(0) as f64 / 1e6,
        }
    }
}

/// Sums cast back to BIGINT (PostgreSQL's SUM of BIGINT is NUMERIC).
const SUMS: &str =
    "CAST(COALESCE(SUM(e.input_tokens + e.live_input_tokens), 0) AS BIGINT) AS input_tokens, \
    CAST(COALESCE(SUM(e.output_tokens + e.live_output_tokens), 0) AS BIGINT) AS output_tokens, \
    CAST(COALESCE(SUM(e.cost_micros), 0) AS BIGINT) AS cost_micros";

/// What a budget check needs to know of one execution.
#[derive(Debug, Clone, FromRow)]
pub struct BudgetSubject {
    pub status: app::model::ExecutionStatus,
    pub agent_id: Option<String>,
    pub agent_name: String,
    pub workflow_run_id: Option<String>,
    pub runner_id: Option<String>,
    pub created_by: Option<String>,
    pub budget_stopped_at: Option<i64>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_micros: i64,
    pub agent_budget: Option<Json<Budget>>,
    pub workflow_id: Option<String>,
    pub workflow_name: Option<String>,
    pub workflow_budget: Option<Json<Budget>>,
}

pub async fn budget_subject(db: &Db, id: &str) -> sqlx::Result<Option<BudgetSubject>> {
    crate::on_db!(db, db => {
        sqlx::query_as(
            "SELECT e.status, e.agent_id, e.agent_name, e.workflow_run_id, e.runner_id, e.created_by, \
             e.budget_stopped_at, e.input_tokens + e.live_input_tokens AS input_tokens, \
             e.output_tokens + e.live_output_tokens AS output_tokens, e.cost_micros, a.budget AS agent_budget, \
             w.id AS workflow_id, w.name AS workflow_name, w.budget AS workflow_budget \
             FROM executions e LEFT JOIN agents a ON a.id = e.agent_id \
             LEFT JOIN workflow_runs r ON r.id = e.workflow_run_id \
             LEFT JOIN workflows w ON w.id = r.workflow_id WHERE e.id = $1",
        )
        .bind(id)
        .fetch_optional(db)
        .await
    })
}

/// What an agent's runs created since `since_ms` spent.
pub async fn agent_since(db: &Db, agent_id: &str, since_ms: i64) -> sqlx::Result<Sums> {
    crate::on_db!(db, db => {
        sqlx::query_as(&format!(
            "SELECT {SUMS} FROM executions e WHERE e.agent_id = $1 AND e.created_at >= $2"
        ))
        .bind(agent_id)
        .bind(since_ms)
        .fetch_one(db)
        .await
    })
}

/// What one workflow run's steps spent.
pub async fn workflow_run(db: &Db, run_id: &str) -> sqlx::Result<Sums> {
    crate::on_db!(db, db => {
        sqlx::query_as(&format!(
            "SELECT {SUMS} FROM executions e WHERE e.workflow_run_id = $1"
        ))
        .bind(run_id)
        .fetch_one(db)
        .await
    })
}

/// What a workflow's runs' steps created since `since_ms` spent.
pub async fn workflow_since(db: &Db, workflow_id: &str, since_ms: i64) -> sqlx::Result<Sums> {
    crate::on_db!(db, db => {
        sqlx::query_as(&format!(
            "SELECT {SUMS} FROM executions e JOIN workflow_runs r ON r.id = e.workflow_run_id \
             WHERE r.workflow_id = $1 AND e.created_at >= $2"
        ))
        .bind(workflow_id)
        .bind(since_ms)
        .fetch_one(db)
        .await
    })
}

/// Marks the run as stopped by a budget (`by`: `agent` or `workflow`);
/// false when a budget already did (a budget stops a run once) or the run
/// is no longer going.
pub async fn claim_stop(db: &Db, id: &str, now_ms: i64, by: &str) -> sqlx::Result<bool> {
    crate::on_db!(db, db => {
        let done = sqlx::query(
            "UPDATE executions SET budget_stopped_at = $2, budget_stopped_by = $3 WHERE id = $1 \
             AND budget_stopped_at IS NULL AND status IN ('running', 'paused')",
        )
        .bind(id)
        .bind(now_ms)
        .bind(by)
        .execute(db)
        .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// Whether a budget stopped a step of this workflow run before (a
/// workflow's budget stops its run once, like an agent's).
pub async fn run_was_stopped(db: &Db, run_id: &str) -> sqlx::Result<bool> {
    crate::on_db!(db, db => {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM executions WHERE workflow_run_id = $1 AND budget_stopped_by = 'workflow')",
        )
        .bind(run_id)
        .fetch_one(db)
        .await
    })
}

/// Lets a budget stop the run again (its pause did not take).
pub async fn unclaim_stop(db: &Db, id: &str) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query(
            "UPDATE executions SET budget_stopped_at = NULL, budget_stopped_by = NULL WHERE id = $1",
        )
        .bind(id)
        .execute(db)
        .await
        .map(|_| ())
    })
}

/// Going runs that reported usage since `since_ms` and no budget stopped
/// (looked at again when live notices were missed).
pub async fn going_with_usage(db: &Db, since_ms: i64) -> sqlx::Result<Vec<String>> {
    crate::on_db!(db, db => {
        sqlx::query_scalar(
            "SELECT id FROM executions WHERE usage_at >= $1 AND budget_stopped_at IS NULL \
             AND status IN ('running', 'paused')",
        )
        .bind(since_ms)
        .fetch_all(db)
        .await
    })
}

/// Usage per UTC day (days since the epoch) of runs created since `since_ms`.
#[derive(Debug, Clone, FromRow)]
pub struct DayRow {
    pub day: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_micros: i64,
}

pub async fn by_day(db: &Db, since_ms: i64) -> sqlx::Result<Vec<DayRow>> {
    crate::on_db!(db, db => {
        sqlx::query_as(&format!(
            "SELECT e.created_at / 86400000 AS day, {SUMS} FROM executions e \
             WHERE e.created_at >= $1 AND e.usage_at IS NOT NULL GROUP BY e.created_at / 86400000 ORDER BY day"
        ))
        .bind(since_ms)
        .fetch_all(db)
        .await
    })
}

/// Usage per group (an agent, a workflow, an issue), highest first.
#[derive(Debug, Clone, FromRow)]
pub struct GroupRow {
    pub name: String,
    pub runs: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_micros: i64,
}

/// Which grouping [`by_group`] sums by.
#[derive(Debug, Clone, Copy)]
pub enum Group {
    Agent,
    Workflow,
    Issue,
}

pub async fn by_group(db: &Db, group: Group, since_ms: i64) -> sqlx::Result<Vec<GroupRow>> {
    crate::on_db!(db, db => {
        let (name, from) = match group {
            Group::Agent => ("e.agent_name", "executions e"),
            // The name the run was started under (workflows may be renamed or
            // deleted since).
            Group::Workflow => (
                "r.workflow_name",
                "executions e JOIN workflow_runs r ON r.id = e.workflow_run_id",
            ),
            Group::Issue => (
                "p.name || ' #' || CAST(i.number AS TEXT) || ' ' || i.title",
                "executions e JOIN issues i ON i.id = e.issue_id JOIN repositories p ON p.id = i.repository_id",
            ),
        };
        sqlx::query_as(&format!(
            "SELECT {name} AS name, CAST(COUNT(*) AS BIGINT) AS runs, {SUMS} FROM {from} \
             WHERE e.created_at >= $1 AND e.usage_at IS NOT NULL GROUP BY {name} \
             ORDER BY SUM(e.input_tokens + e.live_input_tokens + e.output_tokens + e.live_output_tokens) DESC, name \
             LIMIT 10"
        ))
        .bind(since_ms)
        .fetch_all(db)
        .await
    })
}

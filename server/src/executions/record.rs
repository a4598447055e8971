use crate::error::OrInternal;
use app::api::ApiError;
use app::model::{Execution, IssueRef, ResourceUsage};

use crate::db::executions::ExecutionRow;

/// A stored row as the API shows it.
pub fn to_execution(row: ExecutionRow) -> Result<Execution, ApiError> {
    let usage = match (row.cpu_ms, row.peak_memory_kb, row.wall_ms) {
        (None, None, None) => None,
        (cpu, mem, wall) => Some(ResourceUsage {
            cpu_ms: cpu.unwrap_or(0).max(0) as u64,
            peak_memory_kb: mem.unwrap_or(0).max(0) as u64,
            wall_ms: wall.unwrap_or(0).max(0) as u64,
        }),
    };
    Ok(Execution {
        id: row.id.parse().or_internal("stored execution id")?,
        agent_id: row.agent_id.as_deref().and_then(|a| a.parse().ok()),
        agent_name: row.agent_name,
        agent_type: row.agent_type,
        prompt: row.prompt,
        argv: row.argv.0,
        status: row.status,
        progress: row.progress.clamp(0, 100) as u8,
        current_step: row.current_step,
        result: row.result.map(|j| j.0),
        error_code: row.error_code,
        error_message: row.error_message,
        exit_code: row.exit_code.map(|c| c as i32),
        signal: row.signal.map(|s| s as i32),
        usage,
        token_usage: row.usage_at.map(|_| {
            crate::db::usage::Sums {
                input_tokens: row.input_tokens,
                output_tokens: row.output_tokens,
                cost_micros: row.cost_micros,
            }
            .usage()
        }),
        created_by: row.created_by,
        created_at: row.created_at,
        started_at: row.started_at,
        finished_at: row.finished_at,
        last_seq: row.last_seq.max(0) as u64,
        issue: match (&row.issue_id, row.issue_number, &row.issue_repository_id) {
            (Some(id), Some(number), Some(repo)) => Some(IssueRef {
                id: id.parse().or_internal("stored issue id")?,
                repository_id: repo.parse().or_internal("stored repository id")?,
                number: number.max(0) as u64,
                title: row.issue_title.clone().unwrap_or_default(),
            }),
            _ => None,
        },
        workflow_run_id: row.workflow_run_id.as_deref().and_then(|r| r.parse().ok()),
        branch: row.branch,
        pr_url: row.pr_url,
    })
}

/// What a finished run's page is served with: the last `limit` log events
/// (`rows` holds one more when there are more), within 256 KiB of text.
pub fn log_tail(
    id: app::model::ExecutionId,
    mut rows: Vec<crate::db::executions::EventRow>,
    limit: usize,
) -> app::model::LogTail {
    const BUDGET: usize = 256 * 1024;
    let mut complete = rows.len() <= limit;
    if !complete {
        rows.remove(0);
    }
    // From the end, as many as fit the budget.
    let mut used = 0;
    let mut keep = rows.len();
    for row in rows.iter().rev() {
        used += row.payload.len();
        if used > BUDGET {
            complete = false;
            break;
        }
        keep -= 1;
    }
    let events = rows
        .split_off(keep)
        .into_iter()
        .filter_map(|r| {
            Some(app::model::ExecutionEvent {
                execution_id: id,
                seq: u64::try_from(r.seq).ok()?,
                at_ms: r.at_ms,
                body: serde_json::from_str(&r.payload).ok()?,
            })
        })
        .collect();
    app::model::LogTail { events, complete }
}

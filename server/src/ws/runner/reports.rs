//! Task reports on a runner's socket: each applied once and in order (by
//! its `seq`), reports about tasks that are not the runner's acknowledged
//! and refused, and a task its runner lost handed to the lost-runner
//! policy.

use std::collections::HashMap;

use app::model::{AgentType, EventBody, ExecutionId, ExecutionStatus};
use app::protocol::ktcp::{CancelData, ClientFrame, ServerFrame};
use chrono::Utc;

use crate::db::runners as store;
use crate::runners::report as remote;
use crate::state::AppState;

/// What the session knows of one task it receives reports for.
pub(super) struct TaskState {
    /// The highest report number applied (reports that carry one).
    pub applied: u64,
    pub agent_type: AgentType,
    pub issue_number: Option<u64>,
    /// Not (or no longer) this runner's: reports are dropped.
    pub foreign: bool,
    /// Its execution has started: a status update reports progress only.
    pub started: bool,
    /// It ended: later reports change nothing.
    pub ended: bool,
}

/// Fails an execution its runner lost.
pub(super) async fn lose(state: &AppState, id: ExecutionId, why: String) {
    let Ok(execution) = state.executions.get(id).await else {
        return;
    };
    if execution.status.is_terminal() {
        return;
    }
    let policy = crate::db::executions::find(&state.db, &id.to_string())
        .await
        .ok()
        .flatten()
        .map(|row| row.on_runner_lost)
        .unwrap_or_default();
    state
        .runners
        .lose(id, execution.agent_type, policy, "RUNNER_LOST", why)
        .await;
    state.executions.wake();
}

/// The error code of the last report a restarted `yagura runner` makes
/// for a task its death interrupted.
pub const RUNNER_RESTARTED: &str = "RUNNER_RESTARTED";

/// Applies one task report and notes it for the next ack. A report with a
/// number (`yagura runner`'s) is applied once and in order; one without (a
/// seed 000 provider's) in the order it arrives. Answers with a frame to
/// send back, if any.
pub(super) async fn report(
    state: &AppState,
    (runner_id, runner_name): (&str, &str),
    tasks: &mut HashMap<ExecutionId, TaskState>,
    pending: &mut HashMap<ExecutionId, u64>,
    task: &str,
    seq: Option<u64>,
    frame: &ClientFrame,
) -> Option<ServerFrame> {
    let Ok(id) = task.parse::<ExecutionId>() else {
        return Some(ServerFrame::error(
            None,
            "UNKNOWN_TASK",
            format!("{task:?} is not a task id"),
        ));
    };
    if let std::collections::hash_map::Entry::Vacant(slot) = tasks.entry(id) {
        let owner = store::remote_state(&state.db, task).await.ok().flatten();
        let execution = state.executions.get(id).await.ok();
        let (foreign, applied) = match (&owner, &execution) {
            (Some((Some(r), applied, _)), Some(_)) if r == runner_id => (false, *applied as u64),
            _ => (true, 0),
        };
        let status = execution.as_ref().map(|e| e.status);
        slot.insert(TaskState {
            applied,
            agent_type: execution
                .as_ref()
                .map(|e| e.agent_type)
                .unwrap_or(AgentType::Custom),
            issue_number: execution
                .as_ref()
                .and_then(|e| e.issue.as_ref().map(|i| i.number)),
            foreign,
            started: status.is_some_and(|s| s != ExecutionStatus::Queued),
            ended: status.is_some_and(|s| s.is_terminal()),
        });
    }
    let t = tasks.get_mut(&id)?;
    if t.foreign {
        // Not this runner's: never applied, but acknowledged, so that the
        // runner's outbox lets go of it.
        if let Some(seq) = seq {
            let entry = pending.entry(id).or_insert(0);
            *entry = (*entry).max(seq);
        }
        return Some(ServerFrame::TaskCancel {
            task_id: task.to_string(),
            data: CancelData {
                reason: "this task is not assigned to this runner".into(),
                force: true,
            },
            timestamp: Utc::now(),
        });
    }
    if let Some(seq) = seq {
        if seq <= t.applied {
            // Sent again after a reconnect: already stored; acknowledge again.
            let entry = pending.entry(id).or_insert(0);
            *entry = (*entry).max(seq);
            return None;
        }
        if seq != t.applied + 1 {
            tracing::warn!(
                task,
                seq,
                applied = t.applied,
                "report out of order; waiting for the missing ones"
            );
            return None;
        }
    }
    let writer = state.executions.writer();
    if let ClientFrame::TaskError { data, .. } = frame {
        if data.error_code == RUNNER_RESTARTED && !t.ended {
            // The runner stopped while the task ran (its outbox, kept on
            // disk, brought every line first): a lost runner, so the
            // agent's policy decides between failing and the queue.
            if let Some(seq) = seq {
                if writer.note_remote(id, seq).await.is_err() {
                    return None;
                }
                t.applied = seq;
                pending.insert(id, seq);
            }
            t.ended = true;
            t.foreign = true; // what may follow belongs to no attempt
            lose(
                state,
                id,
                format!("runner {runner_name} stopped while this task ran (it restarted)"),
            )
            .await;
            return None;
        }
    }
    let bodies = if t.ended {
        Vec::new()
    } else {
        remote::events(frame, t.agent_type, t.issue_number, t.started)
    };
    let mut queued = Ok(());
    for body in &bodies {
        match body {
            EventBody::Started { .. } => t.started = true,
            EventBody::Finished { .. } => t.ended = true,
            _ => {}
        }
        queued = match seq {
            Some(seq) => writer.enqueue_remote(id, body.clone(), seq).await,
            None => writer.enqueue(id, body.clone()).await,
        };
        if queued.is_err() {
            break;
        }
    }
    if bodies.is_empty() {
        if let Some(seq) = seq {
            // A report that changes nothing still has its number stored.
            queued = writer.note_remote(id, seq).await;
        }
    }
    if t.ended {
        state.executions.wake();
    }
    if queued.is_err() {
        return None;
    }
    if let Some(seq) = seq {
        t.applied = seq;
        pending.insert(id, seq);
    }
    None
}

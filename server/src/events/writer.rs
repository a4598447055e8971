//! The one task that writes events. It numbers each execution's events
//! (1, 2, 3… from the stored `last_seq`), writes whatever is queued in one
//! transaction, and only after the commit hands the events to the hub and
//! tells the callers their `seq`. One writer means no two tasks ever race
//! for a sequence number, and SQLite sees one write transaction at a time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use app::model::{EventBody, ExecutionEvent, ExecutionId, ExecutionStatus};
use tokio::sync::{mpsc, oneshot};

use super::{kind, Hub, Published};
use crate::db::{
    self,
    executions::{self, Effect, EventRow, Finished},
    Db,
};

/// Events waiting for the writer; a full queue slows producers (the
/// executor's pipe readers), never drops.
const QUEUE: usize = 8192;
/// Most events in one transaction.
const MAX_BATCH: usize = 4096;

#[derive(Debug, Clone, thiserror::Error)]
#[error("the event store is unavailable: {0}")]
pub struct WriteError(String);

struct Append {
    execution_id: ExecutionId,
    /// `None`: a barrier, answered once everything queued before it is committed.
    body: Option<EventBody>,
    /// The runner's report number this event comes from (remote executions).
    remote_seq: Option<u64>,
    done: Option<oneshot::Sender<Result<u64, WriteError>>>,
}

#[derive(Clone)]
pub struct EventWriter {
    tx: mpsc::Sender<Append>,
}

impl EventWriter {
    /// Starts the writer task. It ends when every `EventWriter` clone is dropped.
    pub fn start(db: Db, hub: Arc<Hub>) -> (EventWriter, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let handle = tokio::spawn(run(db, hub, rx));
        (EventWriter { tx }, handle)
    }

    /// Appends an event and waits until it is committed; returns its `seq`.
    pub async fn append(
        &self,
        execution_id: ExecutionId,
        body: EventBody,
    ) -> Result<u64, WriteError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Append {
                execution_id,
                body: Some(body),
                remote_seq: None,
                done: Some(done),
            })
            .await
            .map_err(|_| WriteError("writer stopped".into()))?;
        wait.await
            .map_err(|_| WriteError("writer stopped".into()))?
    }

    /// Queues an event reported by a runner, with the runner's report
    /// number, which is stored in the same transaction (so that a report
    /// sent again after a reconnect is recognised as a duplicate).
    pub async fn enqueue_remote(
        &self,
        execution_id: ExecutionId,
        body: EventBody,
        remote_seq: u64,
    ) -> Result<(), WriteError> {
        self.tx
            .send(Append {
                execution_id,
                body: Some(body),
                remote_seq: Some(remote_seq),
                done: None,
            })
            .await
            .map_err(|_| WriteError("writer stopped".into()))
    }

    /// Records that a runner's report `remote_seq` was applied although it
    /// made no event (so that it is not applied again after a reconnect).
    pub async fn note_remote(
        &self,
        execution_id: ExecutionId,
        remote_seq: u64,
    ) -> Result<(), WriteError> {
        self.tx
            .send(Append {
                execution_id,
                body: None,
                remote_seq: Some(remote_seq),
                done: None,
            })
            .await
            .map_err(|_| WriteError("writer stopped".into()))
    }

    /// Waits until everything queued before this call is committed (or
    /// has failed: then the error).
    pub async fn flush(&self) -> Result<(), WriteError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Append {
                execution_id: ExecutionId(uuid::Uuid::nil()),
                body: None,
                remote_seq: None,
                done: Some(done),
            })
            .await
            .map_err(|_| WriteError("writer stopped".into()))?;
        wait.await
            .map_err(|_| WriteError("writer stopped".into()))?
            .map(|_| ())
    }

    /// Queues an event without waiting for its commit (log lines). Waits
    /// only while the writer's queue is full.
    pub async fn enqueue(
        &self,
        execution_id: ExecutionId,
        body: EventBody,
    ) -> Result<(), WriteError> {
        self.tx
            .send(Append {
                execution_id,
                body: Some(body),
                remote_seq: None,
                done: None,
            })
            .await
            .map_err(|_| WriteError("writer stopped".into()))
    }
}

async fn run(db: Db, hub: Arc<Hub>, mut rx: mpsc::Receiver<Append>) {
    let mut last_seq: HashMap<ExecutionId, u64> = HashMap::new();
    let mut batch: Vec<Append> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        write_batch(&db, &hub, &mut last_seq, &mut batch).await;
    }
}

async fn write_batch(
    db: &Db,
    hub: &Hub,
    last_seq: &mut HashMap<ExecutionId, u64>,
    batch: &mut Vec<Append>,
) {
    let now = db::now_ms();
    let mut rows = Vec::with_capacity(batch.len());
    let mut events = Vec::with_capacity(batch.len());
    let mut failed: Option<WriteError> = None;
    let mut remote: Vec<(String, i64)> = Vec::new();
    for append in batch.iter() {
        if let Some(r) = append.remote_seq {
            remote.push((append.execution_id.to_string(), r as i64));
        }
        let Some(body) = &append.body else {
            continue;
        };
        let seq = match next_seq(db, last_seq, append.execution_id).await {
            Ok(seq) => seq,
            Err(e) => {
                failed = Some(e);
                break;
            }
        };
        let event = ExecutionEvent {
            execution_id: append.execution_id,
            seq,
            at_ms: now,
            body: body.clone(),
        };
        rows.push((
            EventRow {
                execution_id: append.execution_id.to_string(),
                seq: seq as i64,
                kind: kind(&event.body).to_string(),
                payload: serde_json::to_string(&event.body).unwrap_or_default(),
                at_ms: now,
            },
            effect(&event),
        ));
        events.push(event);
    }

    if failed.is_none() && !(rows.is_empty() && remote.is_empty()) {
        let mut delay = Duration::from_millis(50);
        for attempt in 1..=6 {
            match executions::append(db, &rows, &remote).await {
                Ok(()) => break,
                Err(e) if attempt < 6 => {
                    tracing::warn!(error = %e, attempt, "event batch not written; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(e) => {
                    tracing::error!(error = %e, events = rows.len(), "event batch lost: the store keeps failing");
                    failed = Some(WriteError(e.to_string()));
                }
            }
        }
    }

    if let Some(err) = failed {
        // Numbers handed out for this batch were not used: reload from the store next time.
        for append in batch.drain(..) {
            last_seq.remove(&append.execution_id);
            if let Some(done) = append.done {
                let _ = done.send(Err(err.clone()));
            }
        }
        return;
    }

    let mut events = events.into_iter();
    for append in batch.drain(..) {
        if append.body.is_none() {
            if let Some(done) = append.done {
                let _ = done.send(Ok(0));
            }
            continue;
        }
        let Some(event) = events.next() else { break };
        let seq = event.seq;
        let terminal = matches!(event.body, EventBody::Finished { .. });
        if terminal {
            last_seq.remove(&event.execution_id);
        }
        hub.publish(Published::new(event));
        if let Some(done) = append.done {
            let _ = done.send(Ok(seq));
        }
    }
}

async fn next_seq(
    db: &Db,
    cache: &mut HashMap<ExecutionId, u64>,
    id: ExecutionId,
) -> Result<u64, WriteError> {
    let last = match cache.get(&id) {
        Some(last) => *last,
        None => executions::last_seq(db, &id.to_string())
            .await
            .map_err(|e| WriteError(e.to_string()))?
            .ok_or_else(|| WriteError(format!("no execution {id}")))? as u64,
    };
    cache.insert(id, last + 1);
    Ok(last + 1)
}

/// What an event changes in its execution's row.
fn effect(event: &ExecutionEvent) -> Effect {
    match &event.body {
        EventBody::Queued { .. } | EventBody::Log { .. } => Effect::None,
        EventBody::Started { .. } => Effect::Started { at_ms: event.at_ms },
        EventBody::Progress {
            progress,
            current_step,
        } => Effect::Progress {
            progress: i64::from(*progress),
            current_step: current_step.clone(),
        },
        EventBody::Paused => Effect::Status {
            status: ExecutionStatus::Paused,
        },
        EventBody::Resumed => Effect::Status {
            status: ExecutionStatus::Running,
        },
        EventBody::Requeued { .. } => Effect::Requeued,
        EventBody::Finished {
            status,
            result,
            error_code,
            error_message,
            exit_code,
            signal,
            usage,
            ..
        } => Effect::Finished(Box::new(Finished {
            status: *status,
            result: result.clone(),
            error_code: error_code.clone(),
            error_message: error_message.clone(),
            exit_code: exit_code.map(i64::from),
            signal: signal.map(i64::from),
            cpu_ms: usage.map(|u| u.cpu_ms as i64),
            peak_memory_kb: usage.map(|u| u.peak_memory_kb as i64),
            wall_ms: usage.map(|u| u.wall_ms as i64),
            at_ms: event.at_ms,
        })),
    }
}

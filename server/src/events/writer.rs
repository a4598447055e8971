//! The one task that writes events. It numbers each execution's events
//! (1, 2, 3… from the stored `last_seq`), writes whatever is queued in one
//! transaction, and only after the commit hands the events to the hub and
//! tells the callers their `seq`. One writer means no two tasks ever race
//! for a sequence number, and SQLite sees one write transaction at a time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use app::model::{EventBody, ExecutionEvent, ExecutionId, ExecutionStatus, LogStream};
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

impl WriteError {
    /// The error code a run ends with when its events cannot be stored.
    pub fn code(&self) -> &'static str {
        let m = self.0.to_ascii_lowercase();
        if m.contains("full") || m.contains("no space") {
            "STORAGE_FULL"
        } else if m.contains("readonly") || m.contains("read-only") {
            "STORAGE_READ_ONLY"
        } else {
            "STORAGE"
        }
    }
}

/// Executions whose events could not be stored (a full disk, a read-only
/// database): their further events are refused at once, so that the
/// executor stops the process and ends the run, instead of the writer
/// retrying a full disk without end. A terminal event is still taken,
/// and clears the mark once stored.
#[derive(Debug, Default)]
struct Broken(std::sync::Mutex<HashMap<ExecutionId, WriteError>>);

impl Broken {
    /// Refuses a non-terminal event of a broken run. A runner's report is
    /// always taken: refusing it would leave the runner resending it (and
    /// its later reports unapplied); a failed write is not acknowledged,
    /// so the runner keeps it and sends it again.
    fn check(
        &self,
        id: ExecutionId,
        body: Option<&EventBody>,
        remote: bool,
    ) -> Result<(), WriteError> {
        if remote || matches!(body, Some(EventBody::Finished { .. })) {
            return Ok(());
        }
        match self.0.lock().ok().and_then(|b| b.get(&id).cloned()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Space kept free in the data dir: a file deleted when the disk fills,
/// so that the runs it stops can still write how they ended.
const RESERVE_BYTES: usize = 2 << 20;

/// Makes the reserve file if it is missing (and there is room for it).
pub fn ensure_reserve(path: &std::path::Path) {
    if path.exists() {
        return;
    }
    if let Err(e) = std::fs::write(path, vec![0u8; RESERVE_BYTES]) {
        let _ = std::fs::remove_file(path);
        tracing::warn!(error = %e, "cannot keep {} bytes in reserve for a full disk", RESERVE_BYTES);
    }
}

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
    broken: Arc<Broken>,
}

impl EventWriter {
    /// Starts the writer task. It ends when every `EventWriter` clone is
    /// dropped. `reserve`: the file freed when the disk fills (see
    /// [`ensure_reserve`]). `origin`: this replica's id, with which other
    /// replicas on the same PostgreSQL database are told of what it wrote.
    pub fn start(
        db: Db,
        hub: Arc<Hub>,
        reserve: Option<std::path::PathBuf>,
        origin: String,
    ) -> (EventWriter, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let broken = Arc::new(Broken::default());
        let handle = tokio::spawn(run(db, hub, rx, broken.clone(), reserve, origin));
        (EventWriter { tx, broken }, handle)
    }

    /// Appends an event and waits until it is committed; returns its `seq`.
    pub async fn append(
        &self,
        execution_id: ExecutionId,
        body: EventBody,
    ) -> Result<u64, WriteError> {
        self.broken.check(execution_id, Some(&body), false)?;
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
        self.broken.check(execution_id, Some(&body), false)?;
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

async fn run(
    db: Db,
    hub: Arc<Hub>,
    mut rx: mpsc::Receiver<Append>,
    broken: Arc<Broken>,
    reserve: Option<std::path::PathBuf>,
    origin: String,
) {
    let mut last_seq: HashMap<ExecutionId, u64> = HashMap::new();
    let mut pieces = super::pieces::Pieces::default();
    let mut batch: Vec<Append> = Vec::with_capacity(MAX_BATCH);
    let mut reserve_used_at: Option<std::time::Instant> = None;
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        // Events of runs whose storage failed are refused before writing:
        // what was queued before the failure must not eat the space freed
        // for their end.
        batch.retain_mut(|a| {
            match broken.check(a.execution_id, a.body.as_ref(), a.remote_seq.is_some()) {
                Ok(()) => true,
                Err(e) => {
                    if let Some(done) = a.done.take() {
                        let _ = done.send(Err(e));
                    }
                    false
                }
            }
        });
        if batch.is_empty() {
            continue;
        }
        let ids: Vec<(ExecutionId, bool)> = batch
            .iter()
            .filter(|a| a.body.is_some())
            .map(|a| {
                (
                    a.execution_id,
                    matches!(a.body, Some(EventBody::Finished { .. })),
                )
            })
            .collect();
        match write_batch(&db, &hub, &origin, &mut last_seq, &mut pieces, &mut batch).await {
            // Only the store itself failing (full, read-only) stops runs;
            // anything else fails just this batch's waiters.
            Some(err) if err.code() == "STORAGE" => {}
            Some(err) => {
                if let Ok(mut b) = broken.0.lock() {
                    for (id, _) in &ids {
                        b.insert(*id, err.clone());
                    }
                }
                // Room for the stopped runs to say how they ended.
                if let Some(path) = reserve.as_ref().filter(|p| p.exists()) {
                    if std::fs::remove_file(path).is_ok() {
                        tracing::warn!(error = %err, "storage failing: released the reserve file so runs can end");
                        reserve_used_at = Some(std::time::Instant::now());
                    }
                }
            }
            None => {
                if let Ok(mut b) = broken.0.lock() {
                    for (id, terminal) in &ids {
                        if *terminal {
                            b.remove(id);
                        }
                    }
                }
                // Space came back: keep a reserve again (at most once a minute).
                if let (Some(path), Some(at)) = (&reserve, reserve_used_at) {
                    if at.elapsed() > Duration::from_secs(60) {
                        ensure_reserve(path);
                        reserve_used_at = if path.exists() {
                            None
                        } else {
                            Some(std::time::Instant::now())
                        };
                    }
                }
            }
        }
    }
}

/// Writes one batch; answers the error when it could not be stored.
async fn write_batch(
    db: &Db,
    hub: &Hub,
    origin: &str,
    last_seq: &mut HashMap<ExecutionId, u64>,
    pieces: &mut super::pieces::Pieces,
    batch: &mut Vec<Append>,
) -> Option<WriteError> {
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
            effect(&event, pieces),
        ));
        events.push(event);
    }

    if failed.is_none() && !(rows.is_empty() && remote.is_empty()) {
        failed = match store_batch(db, &rows, &remote, origin).await {
            Ok(result) => result,
            // Another replica wrote events of one of these executions since
            // they were numbered here: numbered again from the store, once.
            Err(Conflict) => {
                tracing::warn!("events written by another replica meanwhile; numbering again");
                for append in batch.iter() {
                    last_seq.remove(&append.execution_id);
                }
                match renumber(db, last_seq, &mut rows, &mut events).await {
                    Err(e) => Some(e),
                    Ok(()) => match store_batch(db, &rows, &remote, origin).await {
                        Ok(result) => result,
                        Err(Conflict) => Some(WriteError(
                            "events of these executions were being written elsewhere at the same time"
                                .into(),
                        )),
                    },
                }
            }
        };
    }

    if let Some(err) = failed {
        // Numbers handed out for this batch were not used: reload from the store next time.
        for append in batch.drain(..) {
            last_seq.remove(&append.execution_id);
            if let Some(done) = append.done {
                let _ = done.send(Err(err.clone()));
            }
        }
        return Some(err);
    }

    let mut usage: Vec<ExecutionId> = Vec::new();
    for (event, (_, effect)) in events.iter().zip(&rows) {
        if matches!(effect, Effect::Usage(_)) && !usage.contains(&event.execution_id) {
            usage.push(event.execution_id);
        }
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
            pieces.forget(event.execution_id);
        }
        hub.publish(Published::new(event));
        if let Some(done) = append.done {
            let _ = done.send(Ok(seq));
        }
    }
    for id in usage {
        hub.usage_reported(id);
    }
    None
}

/// Numbers a batch again from the store (after a conflict).
async fn renumber(
    db: &Db,
    last_seq: &mut HashMap<ExecutionId, u64>,
    rows: &mut [(EventRow, Effect)],
    events: &mut [ExecutionEvent],
) -> Result<(), WriteError> {
    for ((row, _), event) in rows.iter_mut().zip(events.iter_mut()) {
        let seq = next_seq(db, last_seq, event.execution_id).await?;
        row.seq = seq as i64;
        event.seq = seq;
    }
    Ok(())
}

/// Another replica stored an event with a number given out here.
struct Conflict;

/// Stores one numbered batch, retrying while the store is busy; the error
/// that stopped it, if any.
async fn store_batch(
    db: &Db,
    rows: &[(EventRow, Effect)],
    remote: &[(String, i64)],
    origin: &str,
) -> Result<Option<WriteError>, Conflict> {
    let mut delay = Duration::from_millis(50);
    for attempt in 1..=6 {
        let started = std::time::Instant::now();
        match executions::append(db, rows, remote, origin).await {
            Ok(()) => {
                let lines = rows.iter().filter(|(r, _)| r.kind == "log").count();
                crate::metrics::events_written(rows.len(), lines, started.elapsed());
                return Ok(None);
            }
            Err(e) if db::is_unique_violation(&e) => return Err(Conflict),
            // A full disk or a read-only database does not pass in
            // milliseconds: fail the batch now, so its runs end.
            Err(e) if WriteError(e.to_string()).code() != "STORAGE" => {
                tracing::error!(error = %e, events = rows.len(), "event batch not written: storage failing");
                return Ok(Some(WriteError(e.to_string())));
            }
            Err(e) if attempt < 6 => {
                tracing::warn!(error = %e, attempt, "event batch not written; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(e) => {
                tracing::error!(error = %e, events = rows.len(), "event batch lost: the store keeps failing");
                return Ok(Some(WriteError(e.to_string())));
            }
        }
    }
    Ok(None)
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

/// What an event changes in its execution's row (usage is read from the
/// whole line, its pieces put back together).
fn effect(event: &ExecutionEvent, pieces: &mut super::pieces::Pieces) -> Effect {
    match &event.body {
        EventBody::Log {
            stream: stream @ (LogStream::Stdout | LogStream::Stderr),
            message,
            end,
            ..
        } => match pieces
            .whole(event.execution_id, *stream, message, *end)
            .and_then(|line| app::model::parse_usage(&line))
        {
            Some(report) => Effect::Usage(Box::new(report)),
            None => Effect::None,
        },
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
            result: result.clone().map(crate::db::Json),
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

//! One subscriber's view of one execution: every event after `since`, in
//! `seq` order, each exactly once, from the store while behind and live
//! from the hub once caught up.

use std::collections::VecDeque;
use std::sync::Arc;

use app::model::{EventBody, ExecutionEvent, ExecutionId};
use tokio::sync::broadcast::error::RecvError;

use super::{hub::Receiver, Hub, Published};
use crate::db::{executions, Db};

/// Events read from the store per query while catching up.
const PAGE: i64 = 2000;

/// Pages read at once across all subscribers. A thousand viewers coming
/// back at once take turns at the store, a page each, instead of filling
/// the database pool and the CPU with reads while live events wait. A
/// permit is held only for one read (never while a client is sent to),
/// so a client that does not read cannot hold others up.
static PAGE_READS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

pub struct ExecutionStream {
    id: ExecutionId,
    db: Db,
    rx: Receiver,
    /// Changes when the hub may have missed events (see [`Hub::resync_all`]).
    resync: tokio::sync::watch::Receiver<u64>,
    /// Highest seq handed out.
    last: u64,
    pending: VecDeque<Arc<Published>>,
    /// Behind the live tail: read the store before trusting `rx`.
    catching_up: bool,
}

impl ExecutionStream {
    /// Registers with the hub *before* anything is read from the store, so
    /// that no event can fall between history and live.
    pub fn open(hub: &Hub, db: Db, id: ExecutionId, since: u64) -> Self {
        let rx = hub.subscribe(id);
        ExecutionStream {
            id,
            db,
            rx,
            resync: hub.watch_resync(),
            last: since,
            pending: VecDeque::new(),
            catching_up: true,
        }
    }

    pub fn last_seq(&self) -> u64 {
        self.last
    }

    /// The next event; `Ok(None)` when the hub has gone (server stopping).
    pub async fn next(&mut self) -> Result<Option<Arc<Published>>, sqlx::Error> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                self.last = event.seq();
                return Ok(Some(event));
            }
            if self.catching_up {
                let permit = PAGE_READS.acquire().await.ok();
                let rows = executions::events_after(
                    &self.db,
                    &self.id.to_string(),
                    self.last as i64,
                    PAGE,
                )
                .await;
                drop(permit);
                let rows = rows?;
                if rows.is_empty() {
                    self.catching_up = false;
                } else {
                    for row in rows {
                        let body: EventBody = match serde_json::from_str(&row.payload) {
                            Ok(body) => body,
                            Err(e) => {
                                tracing::error!(execution = %self.id, seq = row.seq, error = %e, "unreadable stored event");
                                continue;
                            }
                        };
                        self.pending.push_back(Published::new(ExecutionEvent {
                            execution_id: self.id,
                            seq: row.seq as u64,
                            at_ms: row.at_ms,
                            body,
                        }));
                    }
                }
                continue;
            }
            let received = tokio::select! {
                received = self.rx.recv() => received,
                changed = self.resync.changed() => {
                    if changed.is_err() {
                        return Ok(None);
                    }
                    self.catching_up = true;
                    continue;
                }
            };
            match received {
                Ok(event) if event.seq() <= self.last => continue,
                Ok(event) if event.seq() == self.last + 1 => {
                    self.last = event.seq();
                    return Ok(Some(event));
                }
                // A gap: something was missed; the store has it.
                Ok(_) | Err(RecvError::Lagged(_)) => self.catching_up = true,
                Err(RecvError::Closed) => return Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use app::model::{AgentType, ExecutionStatus, LineEnd, LogLevel, LogStream, RunnerLost};

    use super::*;
    use crate::db::executions::{self, Effect, EventRow, NewExecution};

    async fn store_only(db: &Db, id: ExecutionId, seq: i64) {
        let body = EventBody::Log {
            stream: LogStream::Stdout,
            level: LogLevel::Info,
            message: format!("line {seq}"),
            end: LineEnd::Lf,
        };
        let row = EventRow {
            execution_id: id.to_string(),
            seq,
            kind: "log".into(),
            payload: serde_json::to_string(&body).unwrap(),
            at_ms: seq,
        };
        executions::append(db, &[(row, Effect::None)], &[], "another-replica")
            .await
            .unwrap();
    }

    /// Events another replica stored while this one was not told (its
    /// relay was reconnecting) reach a caught-up subscriber on a resync.
    #[tokio::test]
    async fn a_resync_reads_what_the_hub_was_not_given() {
        let (_dir, store) = crate::db::test_store().await;
        let id = ExecutionId(uuid::Uuid::new_v4());
        executions::create(
            &store.db,
            &NewExecution {
                id: id.to_string(),
                agent_id: None,
                agent_name: "test".into(),
                agent_type: AgentType::Custom,
                prompt: String::new(),
                argv: Vec::new(),
                env: Default::default(),
                timeout_secs: 60,
                output_cap_bytes: 1 << 20,
                status: ExecutionStatus::Running,
                created_by: None,
                created_at: 0,
                issue_id: None,
                workflow_run_id: None,
                capabilities: Vec::new(),
                task_name: None,
                description: None,
                tags: Vec::new(),
                metadata: None,
                on_runner_lost: RunnerLost::Fail,
                needs_runner: false,
            },
        )
        .await
        .unwrap();
        let hub = Hub::default();
        let mut stream = ExecutionStream::open(&hub, store.db.clone(), id, 0);
        store_only(&store.db, id, 1).await;
        assert_eq!(stream.next().await.unwrap().unwrap().seq(), 1);
        // Caught up: the next event would come from the hub.
        assert!(
            tokio::time::timeout(Duration::from_millis(200), stream.next())
                .await
                .is_err()
        );
        store_only(&store.db, id, 2).await;
        assert!(
            tokio::time::timeout(Duration::from_millis(200), stream.next())
                .await
                .is_err(),
            "nothing told this hub of event 2 yet"
        );
        hub.resync_all();
        let next = tokio::time::timeout(Duration::from_secs(2), stream.next())
            .await
            .expect("a resync reads the store")
            .unwrap()
            .unwrap();
        assert_eq!(next.seq(), 2);
    }
}

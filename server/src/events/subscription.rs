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
            match self.rx.recv().await {
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

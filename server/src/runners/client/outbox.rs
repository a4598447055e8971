//! The runner's outbox: every report about a task, numbered per task
//! (1, 2, 3…), kept in order until the server acknowledges it, and sent
//! again after a reconnect.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use app::model::EventBody;
use tokio::sync::Notify;

use crate::executions::drive::Sink;
use crate::runners::report;

/// Reports kept until acknowledged; more than this and tasks wait (their
/// output pipes fill, so the agents slow down) instead of memory growing.
const OUTBOX_LIMIT: usize = 200_000;

struct Pending {
    key: u64,
    task: String,
    seq: u64,
    json: String,
}

#[derive(Default)]
struct OutboxState {
    items: VecDeque<Pending>,
    next_key: u64,
    seqs: HashMap<String, u64>,
}

/// Unacknowledged reports, in the order they were made.
#[derive(Default)]
pub struct Outbox {
    state: Mutex<OutboxState>,
    pub added: Notify,
    room: Notify,
}

impl Outbox {
    pub async fn push(&self, task: &str, body: &EventBody) {
        loop {
            let notified = self.room.notified();
            {
                let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
                if s.items.len() < OUTBOX_LIMIT {
                    let seq = {
                        let seq = s.seqs.entry(task.to_string()).or_insert(0);
                        *seq += 1;
                        *seq
                    };
                    let Some(frame) = report::report(task, seq, body) else {
                        // Nothing to report; give the number back.
                        if let Some(n) = s.seqs.get_mut(task) {
                            *n -= 1;
                        }
                        return;
                    };
                    let key = s.next_key;
                    s.next_key += 1;
                    s.items.push_back(Pending {
                        key,
                        task: task.to_string(),
                        seq,
                        json: serde_json::to_string(&frame).unwrap_or_default(),
                    });
                    drop(s);
                    self.added.notify_waiters();
                    return;
                }
            }
            notified.await;
        }
    }

    pub fn ack(&self, task: &str, seq: u64) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.items.retain(|p| !(p.task == task && p.seq <= seq));
        drop(s);
        self.room.notify_waiters();
    }

    /// Reports from `key` on, in order.
    pub fn from(&self, key: u64) -> Vec<(u64, String)> {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.items
            .iter()
            .filter(|p| p.key >= key)
            .map(|p| (p.key, p.json.clone()))
            .collect()
    }

    pub fn forget_task(&self, task: &str) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if !s.items.iter().any(|p| p.task == task) {
            s.seqs.remove(task);
        }
    }
}

/// A task's events go to the outbox.
pub struct OutboxSink {
    pub outbox: Arc<Outbox>,
    pub task: String,
}

#[async_trait::async_trait]
impl Sink for OutboxSink {
    async fn append(&self, body: EventBody) -> anyhow::Result<()> {
        self.outbox.push(&self.task, &body).await;
        Ok(())
    }
    async fn enqueue(&self, body: EventBody) -> anyhow::Result<()> {
        self.outbox.push(&self.task, &body).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_outbox_numbers_per_task_and_forgets_what_is_acknowledged() {
        let outbox = Outbox::default();
        let log = |m: &str| EventBody::Log {
            stream: app::model::LogStream::Stdout,
            level: app::model::LogLevel::Info,
            message: m.into(),
            end: Default::default(),
        };
        outbox.push("a", &log("1")).await;
        outbox.push("b", &log("x")).await;
        outbox.push("a", &log("2")).await;
        let all = outbox.from(0);
        assert_eq!(all.len(), 3);
        assert!(all[2].1.contains(r#""seq":2"#));
        outbox.ack("a", 1);
        let left = outbox.from(0);
        assert_eq!(left.len(), 2);
        assert!(left[0].1.contains(r#""taskId":"b""#));
        // From a key on: what a connection has not sent yet.
        assert_eq!(outbox.from(all[2].0).len(), 1);
    }
}

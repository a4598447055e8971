//! The in-memory fan-out of committed events: one broadcast channel per
//! execution that somebody watches, and one for every execution's
//! lifecycle (no log lines). Broadcasting never waits for a receiver, so
//! one slow subscriber cannot slow the writer or the others; a receiver
//! that falls more than [`STREAM_CAPACITY`] behind sees `Lagged` and
//! resynchronises from the store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use app::model::ExecutionId;
use tokio::sync::broadcast;

use super::{Broadcast, Published};

/// Events buffered per watched execution.
pub const STREAM_CAPACITY: usize = 4096;
/// Lifecycle events buffered for all executions.
pub const LIFECYCLE_CAPACITY: usize = 1024;
/// Workspace events (issues, workflow runs, notifications) buffered.
pub const WORKSPACE_CAPACITY: usize = 1024;
/// Every event of every execution, for watchers of everything.
pub const ALL_CAPACITY: usize = 16384;
/// Executions whose tokens or cost changed, for the budget watch.
pub const USAGE_CAPACITY: usize = 1024;

pub type Receiver = broadcast::Receiver<Arc<Published>>;

pub struct Hub {
    streams: Mutex<HashMap<ExecutionId, broadcast::Sender<Arc<Published>>>>,
    lifecycle: broadcast::Sender<Arc<Published>>,
    all: broadcast::Sender<Arc<Published>>,
    usage: broadcast::Sender<ExecutionId>,
    workspace: broadcast::Sender<Arc<Broadcast>>,
    /// Bumped when events may have been missed (another replica's notices
    /// while the relay was reconnecting): every subscription reads the
    /// store again.
    resync: tokio::sync::watch::Sender<u64>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            streams: Mutex::new(HashMap::new()),
            lifecycle: broadcast::channel(LIFECYCLE_CAPACITY).0,
            all: broadcast::channel(ALL_CAPACITY).0,
            usage: broadcast::channel(USAGE_CAPACITY).0,
            workspace: broadcast::channel(WORKSPACE_CAPACITY).0,
            resync: tokio::sync::watch::channel(0).0,
        }
    }
}

impl Hub {
    /// Registers interest in one execution's events from now on.
    pub fn subscribe(&self, id: ExecutionId) -> Receiver {
        let mut streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        // Forget channels nobody listens to any more (watchers of finished runs).
        if streams.len() > 64 {
            streams.retain(|_, tx| tx.receiver_count() > 0);
        }
        streams
            .entry(id)
            .or_insert_with(|| broadcast::channel(STREAM_CAPACITY).0)
            .subscribe()
    }

    /// Lifecycle events (everything but log lines) of every execution.
    pub fn subscribe_lifecycle(&self) -> Receiver {
        self.lifecycle.subscribe()
    }

    /// Every event of every execution, log lines included, live only.
    pub fn subscribe_all(&self) -> Receiver {
        self.all.subscribe()
    }

    /// Hands a committed event to its watchers. Must only be called after
    /// the event's transaction committed.
    pub fn publish(&self, event: Arc<Published>) {
        let id = event.execution_id();
        {
            let mut streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(tx) = streams.get(&id) {
                if tx.send(event.clone()).is_err()
                    || (event.is_terminal() && tx.receiver_count() == 0)
                {
                    streams.remove(&id);
                }
            }
        }
        if self.all.receiver_count() > 0 {
            let _ = self.all.send(event.clone());
        }
        if !event.is_log() {
            let _ = self.lifecycle.send(event);
        }
    }

    /// Executions whose reported tokens or cost changed (committed).
    pub fn subscribe_usage(&self) -> broadcast::Receiver<ExecutionId> {
        self.usage.subscribe()
    }

    /// Tells the budget watch that an execution's usage changed. Must only
    /// be called after the change committed.
    pub fn usage_reported(&self, id: ExecutionId) {
        let _ = self.usage.send(id);
    }

    /// Issue, workflow and notification events for every connection (each
    /// connection filters by audience). Live only: a receiver that lags is
    /// told to `resync`.
    pub fn subscribe_workspace(&self) -> broadcast::Receiver<Arc<Broadcast>> {
        self.workspace.subscribe()
    }

    /// Hands a committed workspace event to every connection.
    pub fn publish_workspace(&self, event: Arc<Broadcast>) {
        let _ = self.workspace.send(event);
    }

    /// Tells every subscription to read the store again (events may have
    /// been committed that this hub was not given).
    pub fn resync_all(&self) {
        self.resync.send_modify(|n| *n += 1);
    }

    /// Changes when subscriptions must read the store again.
    pub fn watch_resync(&self) -> tokio::sync::watch::Receiver<u64> {
        self.resync.subscribe()
    }

    /// Executions currently watched (for tests and metrics).
    pub fn watched(&self) -> usize {
        self.streams.lock().map(|s| s.len()).unwrap_or(0)
    }
}

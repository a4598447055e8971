//! The scheduler: one task that starts queued executions oldest first, at
//! most `concurrency` at a time on this server, hands those that need a
//! runner to [`RemoteRunners`], and checks runners' leases. It looks at the
//! queue when woken (an execution was queued or ended, a runner came) and
//! at least every [`LEASE_CHECK`].

use std::sync::{atomic::Ordering, Arc};
use std::time::Duration;

use app::model::ExecutionId;
use tokio::sync::mpsc;

use super::process::Control;
use super::{local, Inner};
use crate::db::executions as store;

/// How often leases are checked (and the queue looked at) without a wake-up.
pub const LEASE_CHECK: Duration = Duration::from_millis(500);

/// Runs until the server shuts down, then asks every running process to stop.
pub(super) fn spawn(inner: Arc<Inner>) {
    let tasks = inner.tasks.clone();
    tasks.spawn(async move {
        loop {
            schedule(&inner).await;
            inner.remote.expire_leases().await;
            tokio::select! {
                _ = inner.shutdown.cancelled() => break,
                _ = inner.wake.notified() => {}
                _ = tokio::time::sleep(LEASE_CHECK) => {}
            }
        }
        inner.stopping.store(true, Ordering::SeqCst);
        let running: Vec<_> = inner
            .running
            .lock()
            .map(|r| r.values().cloned().collect())
            .unwrap_or_default();
        for control in running {
            let _ = control.send(Control::Cancel).await;
        }
    });
}

async fn schedule(inner: &Arc<Inner>) {
    if inner.shutdown.is_cancelled() {
        return;
    }
    let queued = match store::queued(&inner.db, 500).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the queue");
            return;
        }
    };
    let runners_only = inner.remote.runners_only();
    for (id, capabilities, needs_runner) in queued {
        let Ok(id) = id.parse::<ExecutionId>() else {
            continue;
        };
        let required = capabilities.0;
        if runners_only || needs_runner || !required.is_empty() {
            // Without a runner that can take it, it stays queued.
            inner.remote.dispatch(id, &required).await;
            continue;
        }
        let (tx, rx) = mpsc::channel(64);
        {
            let Ok(mut running) = inner.running.lock() else {
                return;
            };
            if running.len() >= inner.config.concurrency || running.contains_key(&id) {
                continue;
            }
            running.insert(id, tx);
        }
        let inner = inner.clone();
        let tasks = inner.tasks.clone();
        tasks.spawn(async move {
            if let Err(e) = local::run_one(&inner, id, rx).await {
                tracing::error!(execution = %id, error = %e, "execution bookkeeping failed");
            }
            if let Ok(mut running) = inner.running.lock() {
                running.remove(&id);
            }
            inner.wake.notify_one();
        });
    }
}

//! The scheduler: one task that starts queued executions oldest first, at
//! most `concurrency` at a time on this server, hands those that need a
//! runner to [`RemoteRunners`], and checks runners' leases. It looks at the
//! queue when woken (an execution was queued or ended, a runner came) and
//! at least every [`LEASE_CHECK`]. A local execution is claimed in the store
//! first (with several replicas on one database, one claim wins) and held
//! under this replica's lease, renewed every third of it; a run whose
//! claim another replica took over (this one stalled past its lease) is
//! stopped here.

use std::sync::{atomic::Ordering, Arc};
use std::time::Duration;

use app::model::ExecutionId;
use tokio::sync::mpsc;

use super::process::Control;
use super::{local, Inner};
use crate::db::executions as store;
use crate::db::replicas::claim_local;

/// How often leases are checked (and the queue looked at) without a wake-up.
pub const LEASE_CHECK: Duration = Duration::from_millis(500);

/// Runs until the server shuts down, then asks every running process to stop.
pub(super) fn spawn(inner: Arc<Inner>) {
    let tasks = inner.tasks.clone();
    tasks.spawn(async move {
        let mut renewed = std::time::Instant::now();
        loop {
            schedule(&inner).await;
            if renewed.elapsed() >= inner.replica.lease / 3 {
                renewed = std::time::Instant::now();
                renew(&inner).await;
            }
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
        let claimed = claim_local(
            &inner.db,
            &id.to_string(),
            &inner.replica.id,
            inner.replica.lease_until(),
        )
        .await;
        if !matches!(claimed, Ok(true)) {
            // Another replica (or a runner) took it, or the store failed.
            if let Err(e) = claimed {
                tracing::error!(execution = %id, error = %e, "cannot claim a queued execution");
            }
            if let Ok(mut running) = inner.running.lock() {
                running.remove(&id);
            }
            continue;
        }
        let inner = inner.clone();
        let tasks = inner.tasks.clone();
        tasks.spawn(async move {
            if let Err(e) = local::run_one(&inner, id, rx).await {
                tracing::error!(execution = %id, error = %e, "execution bookkeeping failed");
            }
            // A start that failed before the process ran leaves the run
            // queued: give the claim back so it can run (here or elsewhere).
            let _ =
                crate::db::replicas::release_claim(&inner.db, &id.to_string(), &inner.replica.id)
                    .await;
            if let Ok(mut running) = inner.running.lock() {
                running.remove(&id);
            }
            inner.wake.notify_one();
        });
    }
}

/// Renews this replica's lease on its local executions; stops any it no
/// longer holds (another replica failed or requeued it after this one
/// stalled past its lease).
async fn renew(inner: &Arc<Inner>) {
    let held = match crate::db::replicas::renew_local(
        &inner.db,
        &inner.replica.id,
        inner.replica.lease_until(),
    )
    .await
    {
        Ok(held) => held,
        Err(e) => {
            tracing::error!(error = %e, "cannot renew this replica's lease");
            return;
        }
    };
    let lost: Vec<_> = match inner.running.lock() {
        Ok(running) => running
            .iter()
            .filter(|(id, _)| !held.contains(&id.to_string()))
            .map(|(id, control)| (*id, control.clone()))
            .collect(),
        Err(_) => return,
    };
    for (id, control) in lost {
        // Only runs that started count: a claim in flight is not renewed yet.
        if inner
            .pids
            .lock()
            .map(|p| p.contains_key(&id))
            .unwrap_or(false)
        {
            tracing::warn!(execution = %id, "another replica took this execution over; stopping it here");
            let _ = control.send(Control::Kill).await;
        }
    }
}

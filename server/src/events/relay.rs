//! Events across replicas (several `yagura serve` on one PostgreSQL
//! database). The table stays the truth: a replica's event writer notifies
//! `yagura_events` with "execution E has events F..=L" in the transaction
//! that writes them, and every other replica reads those rows from the
//! table and hands them to its own hub, so a browser on replica B sees a
//! run executing on replica A, in order and gap-free (a subscription that
//! sees a gap reads the store, as it does after lagging).
//!
//! Notices sent while the listening connection is down are lost: after it
//! reconnects, every subscription on this replica reads the store again
//! ([`Hub::resync_all`]), so a viewer waiting for a run's last event gets it.

use std::sync::Arc;
use std::time::Duration;

use app::model::{EventBody, ExecutionEvent, ExecutionId};
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Hub, Published};
use crate::db::{self, executions, Db};

/// Starts relaying other replicas' events into `hub` (PostgreSQL only).
pub fn spawn(
    db: Db,
    hub: Arc<Hub>,
    origin: String,
    shutdown: CancellationToken,
    tasks: TaskTracker,
) {
    let Db::Postgres(pool) = &db else {
        return;
    };
    let pool = pool.clone();
    tasks.spawn(async move {
        let mut reconnecting = false;
        loop {
            let mut listener = match PgListener::connect_with(&pool).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for other replicas' events; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            };
            if let Err(e) = listener.listen(db::event_batches::EVENTS_CHANNEL).await {
                tracing::warn!(error = %e, "cannot listen for other replicas' events; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            // Notices sent while this replica was not listening are gone:
            // every viewer here reads the store again.
            if reconnecting {
                hub.resync_all();
            }
            reconnecting = true;
            loop {
                let notice = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    n = listener.try_recv() => n,
                };
                match notice {
                    Ok(Some(n)) => relay(&db, &hub, &origin, n.payload()).await,
                    // The connection dropped (and notices with it): listen anew.
                    Ok(None) => {
                        tracing::warn!("lost the connection listening for other replicas' events");
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "listening for other replicas' events failed");
                        break;
                    }
                }
            }
        }
    });
}

/// One notice: `origin exec:first:last …`.
async fn relay(db: &Db, hub: &Hub, origin: &str, payload: &str) {
    let mut items = payload.split(' ');
    if items.next() == Some(origin) {
        return;
    }
    for item in items {
        let mut parts = item.split(':');
        let (Some(id), Some(first), Some(last)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let (Ok(execution_id), Ok(first), Ok(last)) = (
            id.parse::<ExecutionId>(),
            first.parse::<i64>(),
            last.parse::<i64>(),
        ) else {
            continue;
        };
        let rows = match executions::events_after(db, id, first - 1, last - first + 1).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(execution = id, error = %e, "cannot read another replica's events");
                continue;
            }
        };
        for row in rows {
            let Ok(body) = serde_json::from_str::<EventBody>(&row.payload) else {
                continue;
            };
            hub.publish(Published::relayed(ExecutionEvent {
                execution_id,
                seq: row.seq as u64,
                at_ms: row.at_ms,
                body,
            }));
        }
    }
}

//! Writing a batch of execution events with their effects on the
//! executions' rows, in one transaction (the event writer's only write).

use app::model::ExecutionStatus;
use sqlx::QueryBuilder;

use super::executions::EventRow;
use super::{Db, Json};

/// The state change an event makes to its execution row.
#[derive(Debug, Clone)]
pub enum Effect {
    None,
    Started {
        at_ms: i64,
    },
    Progress {
        progress: i64,
        current_step: String,
    },
    Status {
        status: ExecutionStatus,
    },
    /// Back to the queue, unclaimed, its runner's report numbers forgotten.
    Requeued,
    Finished(Box<Finished>),
    /// A line that reports tokens or cost.
    Usage(Box<app::model::UsageReport>),
}

#[derive(Debug, Clone)]
pub struct Finished {
    pub status: ExecutionStatus,
    pub result: Option<Json<serde_json::Value>>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub exit_code: Option<i64>,
    pub signal: Option<i64>,
    pub cpu_ms: Option<i64>,
    pub peak_memory_kb: Option<i64>,
    pub wall_ms: Option<i64>,
    pub at_ms: i64,
}

/// Writes a batch of events and their effects in one transaction: rows
/// into `execution_events`, state into `executions`, `last_seq` advanced.
/// A terminal state is written only over a non-terminal one.
///
/// On PostgreSQL the same transaction notifies [`EVENTS_CHANNEL`] of the
/// range of `seq` written per execution (delivered on commit, never for a
/// batch rolled back), so other replicas read them from the table and
/// hand them to their own subscribers. `origin` names this replica.
pub async fn append(
    db: &Db,
    events: &[(EventRow, Effect)],
    remote_seqs: &[(String, i64)],
    origin: &str,
) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    match append_in(&mut tx, events, remote_seqs, origin).await {
        Ok(()) => tx.commit().await,
        Err(e) => {
            // Rolled back now, not whenever the pool reuses the connection:
            // a full disk must not leave the write lock held.
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

/// The PostgreSQL channel on which replicas announce written events.
pub const EVENTS_CHANNEL: &str = "yagura_events";

/// `origin exec:first:last exec:first:last …`, split to stay below
/// PostgreSQL's 8,000-byte payload limit.
pub fn notices(origin: &str, events: &[(EventRow, Effect)]) -> Vec<String> {
    let mut ranges: Vec<(&str, i64, i64)> = Vec::new();
    for (row, _) in events {
        match ranges.iter_mut().find(|r| r.0 == row.execution_id) {
            Some(r) => {
                r.1 = r.1.min(row.seq);
                r.2 = r.2.max(row.seq);
            }
            None => ranges.push((&row.execution_id, row.seq, row.seq)),
        }
    }
    let mut out = Vec::new();
    let mut current = origin.to_string();
    for (id, first, last) in ranges {
        let item = format!(" {id}:{first}:{last}");
        if current.len() + item.len() > 7_000 {
            out.push(std::mem::replace(&mut current, origin.to_string()));
        }
        current.push_str(&item);
    }
    if current.len() > origin.len() {
        out.push(current);
    }
    out
}

async fn append_in(
    tx: &mut super::Tx,
    events: &[(EventRow, Effect)],
    remote_seqs: &[(String, i64)],
    origin: &str,
) -> sqlx::Result<()> {
    match &mut *tx {
        super::Tx::Sqlite(tx) => {
            for chunk in events.chunks(1000).filter(|c| !c.is_empty()) {
                let mut q = QueryBuilder::new(
                    "INSERT INTO execution_events (execution_id, seq, kind, payload, at_ms) ",
                );
                q.push_values(chunk, |mut b, (row, _)| {
                    b.push_bind(&row.execution_id)
                        .push_bind(row.seq)
                        .push_bind(&row.kind)
                        .push_bind(&row.payload)
                        .push_bind(row.at_ms);
                });
                q.build().execute(&mut **tx).await?;
            }
        }
        // One statement for the whole batch: five arrays, however many rows
        // (a multi-row VALUES would be parsed anew for each batch size).
        super::Tx::Postgres(tx) if !events.is_empty() => {
            let column = |f: fn(&EventRow) -> &str| -> Vec<&str> {
                events.iter().map(|(row, _)| f(row)).collect()
            };
            let ints = |f: fn(&EventRow) -> i64| -> Vec<i64> {
                events.iter().map(|(row, _)| f(row)).collect()
            };
            sqlx::query(
                "INSERT INTO execution_events (execution_id, seq, kind, payload, at_ms) \
                 SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::text[], $5::int8[])",
            )
            .bind(column(|r| &r.execution_id))
            .bind(ints(|r| r.seq))
            .bind(column(|r| &r.kind))
            .bind(column(|r| &r.payload))
            .bind(ints(|r| r.at_ms))
            .execute(&mut **tx)
            .await?;
            for notice in notices(origin, events) {
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(EVENTS_CHANNEL)
                    .bind(notice)
                    .execute(&mut **tx)
                    .await?;
            }
        }
        super::Tx::Postgres(_) => {}
    }
    crate::on_tx!(tx, tx => {
        for (id, seq) in remote_seqs {
            sqlx::query("UPDATE executions SET remote_seq = $2 WHERE id = $1 AND remote_seq < $2")
                .bind(id)
                .bind(seq)
                .execute(&mut **tx)
                .await?;
        }
        for (row, effect) in events {
            match effect {
                Effect::None => {}
                Effect::Usage(report) => {
                    super::usage::statement(&row.execution_id, report, row.at_ms)
                        .query()
                        .execute(&mut **tx)
                        .await?;
                }
                Effect::Started { at_ms } => {
                    sqlx::query(
                        "UPDATE executions SET status = 'running', started_at = $2 WHERE id = $1",
                    )
                    .bind(&row.execution_id)
                    .bind(at_ms)
                    .execute(&mut **tx)
                    .await?;
                }
                Effect::Progress {
                    progress,
                    current_step,
                } => {
                    sqlx::query("UPDATE executions SET progress = $2, current_step = $3 WHERE id = $1")
                        .bind(&row.execution_id)
                        .bind(progress)
                        .bind(current_step)
                        .execute(&mut **tx)
                        .await?;
                }
                Effect::Status { status } => {
                    sqlx::query(
                        "UPDATE executions SET status = $2 WHERE id = $1 \
                         AND status NOT IN ('completed', 'failed', 'cancelled', 'timed_out')",
                    )
                    .bind(&row.execution_id)
                    .bind(*status)
                    .execute(&mut **tx)
                    .await?;
                }
                Effect::Requeued => {
                    sqlx::query(
                        "UPDATE executions SET status = 'queued', runner_id = NULL, lease_expires_at = NULL, \
                         replica_id = NULL, replica_lease_until = NULL, remote_seq = 0, started_at = NULL, progress = 0, current_step = NULL \
                         WHERE id = $1 AND status IN ('queued', 'running', 'paused')",
                    )
                    .bind(&row.execution_id)
                    .execute(&mut **tx)
                    .await?;
                }
                Effect::Finished(f) => {
                    sqlx::query(
                        "UPDATE executions SET status = $2, result = $3, error_code = $4, error_message = $5, \
                         exit_code = $6, signal = $7, cpu_ms = $8, peak_memory_kb = $9, wall_ms = $10, finished_at = $11, \
                         progress = CASE WHEN $2 = 'completed' THEN 100 ELSE progress END \
                         WHERE id = $1 AND status NOT IN ('completed', 'failed', 'cancelled', 'timed_out')",
                    )
                    .bind(&row.execution_id)
                    .bind(f.status)
                    .bind(&f.result)
                    .bind(&f.error_code)
                    .bind(&f.error_message)
                    .bind(f.exit_code)
                    .bind(f.signal)
                    .bind(f.cpu_ms)
                    .bind(f.peak_memory_kb)
                    .bind(f.wall_ms)
                    .bind(f.at_ms)
                    .execute(&mut **tx)
                    .await?;
                }
            }
        }
        // One last_seq update per execution in the batch: its highest seq.
        let mut highest: Vec<(&str, i64)> = Vec::new();
        for (row, _) in events {
            match highest.iter_mut().find(|(id, _)| *id == row.execution_id) {
                Some(entry) => entry.1 = entry.1.max(row.seq),
                None => highest.push((&row.execution_id, row.seq)),
            }
        }
        for (id, seq) in highest {
            sqlx::query("UPDATE executions SET last_seq = $2 WHERE id = $1")
                .bind(id)
                .bind(seq)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, seq: i64) -> (EventRow, Effect) {
        (
            EventRow {
                execution_id: id.into(),
                seq,
                kind: "log".into(),
                payload: "{}".into(),
                at_ms: 0,
            },
            Effect::None,
        )
    }

    #[test]
    fn notices_name_each_executions_range_and_stay_small() {
        let events = [row("a", 3), row("b", 7), row("a", 4), row("a", 5)];
        assert_eq!(notices("r1", &events), vec!["r1 a:3:5 b:7:7".to_string()]);
        assert!(notices("r1", &[]).is_empty());
        let many: Vec<_> = (0..400).map(|i| row(&format!("{:036}", i), 1)).collect();
        let split = notices("r1", &many);
        assert!(split.len() > 1);
        assert!(split
            .iter()
            .all(|n| n.len() <= 7_000 && n.starts_with("r1 ")));
        let items: usize = split.iter().map(|n| n.split(' ').count() - 1).sum();
        assert_eq!(items, 400);
    }
}

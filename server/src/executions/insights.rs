//! The Insights page's figures, from the store: runs per day by outcome,
//! durations and success rates per agent and per workflow, time spent
//! queued, and the event log's rate over the last minute.

use std::collections::BTreeMap;

use app::api::ApiError;
use app::model::{DayOutcomes, GroupStats, Insights, Percentiles};

use crate::db::{insights as store, Db};
use crate::error::OrInternal;

const DAY_MS: i64 = 86_400_000;
/// The longest period asked for.
pub const MAX_DAYS: u32 = 90;

/// How a run ended, in the four colours of the chart.
enum Outcome {
    Completed,
    Failed,
    Cancelled,
    Unfinished,
}

fn outcome(status: &str) -> Outcome {
    match status {
        "completed" => Outcome::Completed,
        "failed" | "timed_out" | "rejected" => Outcome::Failed,
        "cancelled" => Outcome::Cancelled,
        _ => Outcome::Unfinished,
    }
}

/// Per name: runs that ended, how many succeeded, how long they took.
fn groups(rows: &[store::RunRow]) -> Vec<GroupStats> {
    let mut by_name: BTreeMap<&str, (u32, u32, Vec<i64>)> = BTreeMap::new();
    for row in rows {
        let ended = !matches!(outcome(&row.status), Outcome::Unfinished);
        let entry = by_name.entry(row.name.as_str()).or_default();
        if ended {
            entry.0 += 1;
            if matches!(outcome(&row.status), Outcome::Completed) {
                entry.1 += 1;
            }
            if let (Some(start), Some(end)) = (row.started_at, row.finished_at) {
                entry.2.push((end - start).max(0));
            }
        }
    }
    let mut list: Vec<GroupStats> = by_name
        .into_iter()
        .map(|(name, (finished, succeeded, durations))| GroupStats {
            name: name.to_string(),
            finished,
            succeeded,
            duration: Percentiles::of(durations),
        })
        .collect();
    // The busiest first.
    list.sort_by(|a, b| b.finished.cmp(&a.finished).then(a.name.cmp(&b.name)));
    list
}

/// The figures of the last `days` days (1–90) at `now` (ms). The host's
/// load is the caller's to add.
pub async fn figures(db: &Db, days: u32, now: i64) -> Result<Insights, ApiError> {
    let days = days.clamp(1, MAX_DAYS);
    let first_day = (now.div_euclid(DAY_MS) - i64::from(days) + 1) * DAY_MS;
    let runs = store::executions_since(db, first_day)
        .await
        .or_internal("reading runs")?;
    let workflow_runs = store::workflow_runs_since(db, first_day)
        .await
        .or_internal("reading workflow runs")?;
    let mut per_day: Vec<DayOutcomes> = (0..i64::from(days))
        .map(|i| DayOutcomes {
            day: first_day + i * DAY_MS,
            ..Default::default()
        })
        .collect();
    for run in &runs {
        let index = ((run.created_at - first_day) / DAY_MS) as usize;
        let Some(day) = per_day.get_mut(index) else {
            continue;
        };
        match outcome(&run.status) {
            Outcome::Completed => day.completed += 1,
            Outcome::Failed => day.failed += 1,
            Outcome::Cancelled => day.cancelled += 1,
            Outcome::Unfinished => day.unfinished += 1,
        }
    }
    let queue_wait = Percentiles::of(
        runs.iter()
            .filter_map(|r| r.started_at.map(|s| (s - r.created_at).max(0)))
            .collect(),
    );
    let (events, lines) = store::events_since(db, now - 60_000)
        .await
        .or_internal("reading event rates")?;
    let (queued, running) = store::queued_and_running(db)
        .await
        .or_internal("counting runs")?;
    Ok(Insights {
        days,
        per_day,
        agents: groups(&runs),
        workflows: groups(&workflow_runs),
        queue_wait,
        events_per_second: events as f64 / 60.0,
        lines_per_second: lines as f64 / 60.0,
        queued_now: queued as u32,
        running_now: running as u32,
        host: None,
        at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, status: &str, start: i64, end: Option<i64>) -> store::RunRow {
        store::RunRow {
            name: name.into(),
            status: status.into(),
            created_at: start - 10,
            started_at: Some(start),
            finished_at: end,
        }
    }

    #[test]
    fn groups_count_only_ended_runs() {
        let rows = vec![
            row("a", "completed", 0, Some(100)),
            row("a", "failed", 0, Some(300)),
            row("a", "running", 0, None),
            row("b", "completed", 0, Some(50)),
        ];
        let g = groups(&rows);
        assert_eq!(g[0].name, "a");
        assert_eq!((g[0].finished, g[0].succeeded), (2, 1));
        assert_eq!(g[0].duration.p50, Some(100));
        assert_eq!(g[0].duration.p99, Some(300));
        assert_eq!(g[1].success_rate(), Some(100));
    }
}

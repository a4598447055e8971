//! The Insights page's figures, from the store: runs per day by outcome,
//! durations and success rates per agent and per workflow, time spent
//! queued, and the event log's rate over the last minute.

use std::collections::BTreeMap;

use app::api::ApiError;
use app::model::{
    DayOutcomes, DayUsage, GroupStats, Insights, LiveLoad, Percentiles, UsageGroup, UsageInsights,
};

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

/// Per name: runs that ended, how many succeeded (every run), how long
/// they took (the sample).
fn groups(counts: &[store::NameCount], took: Vec<store::Took>) -> Vec<GroupStats> {
    let mut by_name: BTreeMap<String, (u32, u32, Vec<i64>)> = BTreeMap::new();
    for c in counts {
        if matches!(outcome(&c.status), Outcome::Unfinished) {
            continue;
        }
        let entry = by_name.entry(c.name.clone()).or_default();
        entry.0 += c.runs as u32;
        if matches!(outcome(&c.status), Outcome::Completed) {
            entry.1 += c.runs as u32;
        }
    }
    for t in took {
        if let Some(entry) = by_name.get_mut(&t.name) {
            entry.2.push(t.ms.max(0));
        }
    }
    let mut list: Vec<GroupStats> = by_name
        .into_iter()
        .map(|(name, (finished, succeeded, durations))| GroupStats {
            name,
            finished,
            succeeded,
            duration: Percentiles::of(durations),
        })
        .collect();
    // The busiest first.
    list.sort_by(|a, b| b.finished.cmp(&a.finished).then(a.name.cmp(&b.name)));
    list
}

/// The figures of the last `days` days (1–90) at `now` (ms), with the
/// load as this server sees it (the host's is the caller's to add).
pub async fn figures(db: &Db, days: u32, now: i64) -> Result<Insights, ApiError> {
    let days = days.clamp(1, MAX_DAYS);
    let first_day = now.div_euclid(DAY_MS) - i64::from(days) + 1;
    let since = first_day * DAY_MS;
    let read = "reading the insights";
    let per_day_counts = store::executions_per_day(db, since)
        .await
        .or_internal(read)?;
    let mut per_day: Vec<DayOutcomes> = (0..i64::from(days))
        .map(|i| DayOutcomes {
            day: (first_day + i) * DAY_MS,
            ..Default::default()
        })
        .collect();
    for c in &per_day_counts {
        let Some(day) = usize::try_from(c.day - first_day)
            .ok()
            .and_then(|i| per_day.get_mut(i))
        else {
            continue;
        };
        let n = c.runs as u32;
        match outcome(&c.status) {
            Outcome::Completed => day.completed += n,
            Outcome::Failed => day.failed += n,
            Outcome::Cancelled => day.cancelled += n,
            Outcome::Unfinished => day.unfinished += n,
        }
    }
    let agents = groups(
        &store::executions_by_name(db, since)
            .await
            .or_internal(read)?,
        store::execution_durations(db, since)
            .await
            .or_internal(read)?,
    );
    let workflows = groups(
        &store::workflow_runs_by_name(db, since)
            .await
            .or_internal(read)?,
        store::workflow_durations(db, since)
            .await
            .or_internal(read)?,
    );
    let queue_wait = Percentiles::of(
        store::queue_waits(db, since)
            .await
            .or_internal(read)?
            .into_iter()
            .map(|w| w.max(0))
            .collect(),
    );
    Ok(Insights {
        days,
        per_day,
        agents,
        workflows,
        queue_wait,
        now: live(db, now).await?,
        usage: usage(db, first_day, days).await.or_internal(read)?,
    })
}

/// Tokens and cost per day from `first_day` (days since the epoch), and
/// per agent, workflow and issue.
async fn usage(db: &Db, first_day: i64, days: u32) -> sqlx::Result<UsageInsights> {
    use crate::db::usage::{self as spent, Group};
    let since = first_day * DAY_MS;
    let mut per_day: Vec<DayUsage> = (0..i64::from(days))
        .map(|i| DayUsage {
            day: (first_day + i) * DAY_MS,
            usage: Default::default(),
        })
        .collect();
    let mut total = spent::Sums::default();
    for row in spent::by_day(db, since).await? {
        total.input_tokens += row.input_tokens;
        total.output_tokens += row.output_tokens;
        total.cost_micros += row.cost_micros;
        if let Some(day) = usize::try_from(row.day - first_day)
            .ok()
            .and_then(|i| per_day.get_mut(i))
        {
            day.usage = spent::Sums {
                input_tokens: row.input_tokens,
                output_tokens: row.output_tokens,
                cost_micros: row.cost_micros,
            }
            .usage();
        }
    }
    let group = |rows: Vec<spent::GroupRow>| -> Vec<UsageGroup> {
        rows.into_iter()
            .map(|r| UsageGroup {
                name: r.name,
                runs: r.runs.max(0) as u32,
                usage: spent::Sums {
                    input_tokens: r.input_tokens,
                    output_tokens: r.output_tokens,
                    cost_micros: r.cost_micros,
                }
                .usage(),
            })
            .collect()
    };
    Ok(UsageInsights {
        per_day,
        total: total.usage(),
        agents: group(spent::by_group(db, Group::Agent, since).await?),
        workflows: group(spent::by_group(db, Group::Workflow, since).await?),
        issues: group(spent::by_group(db, Group::Issue, since).await?),
    })
}

/// The load right now: runs queued and running, and the events this
/// server wrote per second over the last minute (the host's is the
/// caller's to add).
pub async fn live(db: &Db, now: i64) -> Result<LiveLoad, ApiError> {
    let (queued, running) = store::queued_and_running(db)
        .await
        .or_internal("counting runs")?;
    let (events_per_second, lines_per_second) = crate::metrics::recent_rates();
    Ok(LiveLoad {
        events_per_second,
        lines_per_second,
        queued: queued as u32,
        running: running as u32,
        host: None,
        at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(name: &str, status: &str, runs: i64) -> store::NameCount {
        store::NameCount {
            name: name.into(),
            status: status.into(),
            runs,
        }
    }

    fn took(name: &str, ms: i64) -> store::Took {
        store::Took {
            name: name.into(),
            ms,
        }
    }

    #[test]
    fn groups_count_only_ended_runs() {
        let counts = vec![
            count("a", "completed", 1),
            count("a", "failed", 1),
            count("a", "running", 1),
            count("b", "completed", 1),
        ];
        let g = groups(&counts, vec![took("a", 100), took("a", 300), took("b", 50)]);
        assert_eq!(g[0].name, "a");
        assert_eq!((g[0].finished, g[0].succeeded), (2, 1));
        assert_eq!(g[0].duration.p50, Some(100));
        assert_eq!(g[0].duration.p99, Some(300));
        assert_eq!(g[1].success_rate(), Some(100));
    }
}

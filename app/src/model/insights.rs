//! The Insights page's figures: runs per day by outcome, durations and
//! success rates per agent and per workflow, time spent queued, live event
//! rates and the host's load.

use serde::{Deserialize, Serialize};

use super::TokenUsage;

/// Runs that were created on one day (UTC), by how they ended.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DayOutcomes {
    /// The day's first millisecond (UTC).
    pub day: i64,
    pub completed: u32,
    pub failed: u32,
    pub cancelled: u32,
    /// Queued, running or paused still.
    pub unfinished: u32,
}

impl DayOutcomes {
    pub fn total(&self) -> u32 {
        self.completed + self.failed + self.cancelled + self.unfinished
    }
}

/// Percentiles of a duration, in milliseconds (None: no sample).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Percentiles {
    pub samples: u32,
    pub p50: Option<i64>,
    pub p90: Option<i64>,
    pub p99: Option<i64>,
}

impl Percentiles {
    /// Nearest-rank percentiles of `values` (any order).
    pub fn of(mut values: Vec<i64>) -> Self {
        values.sort_unstable();
        let at = |p: f64| -> Option<i64> {
            if values.is_empty() {
                return None;
            }
            let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
            Some(values[rank.clamp(1, values.len()) - 1])
        };
        Percentiles {
            samples: values.len() as u32,
            p50: at(50.0),
            p90: at(90.0),
            p99: at(99.0),
        }
    }
}

/// One agent's or workflow's runs in the period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GroupStats {
    pub name: String,
    /// Runs that ended.
    pub finished: u32,
    pub succeeded: u32,
    /// How long the ended runs took (of the period's newest 20,000).
    pub duration: Percentiles,
}

impl GroupStats {
    /// Succeeded out of finished, 0–100 (None: none finished).
    pub fn success_rate(&self) -> Option<u32> {
        (self.finished > 0).then(|| (self.succeeded * 100 + self.finished / 2) / self.finished)
    }
}

/// The host, as the Team Dashboard's `metrics:update` reads it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct HostLoad {
    pub cpu_percent: f64,
    pub cores: u32,
    pub memory_percent: f64,
    pub memory_used: u64,
    pub memory_total: u64,
    pub disk_percent: f64,
    pub disk_used: u64,
    pub disk_total: u64,
}

/// The load right now.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LiveLoad {
    /// Events and log lines this server stored per second over the last
    /// minute.
    pub events_per_second: f64,
    pub lines_per_second: f64,
    /// Runs queued or running now.
    pub queued: u32,
    pub running: u32,
    /// The host (absent over REST).
    pub host: Option<HostLoad>,
    /// When these were read (ms).
    pub at: i64,
}

/// Everything the Insights page shows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Insights {
    /// The period, in days, ending now.
    pub days: u32,
    /// One entry per day of the period, oldest first (days without runs
    /// included). Every run counts.
    pub per_day: Vec<DayOutcomes>,
    pub agents: Vec<GroupStats>,
    pub workflows: Vec<GroupStats>,
    /// From created to started, for runs created in the period that
    /// started (the newest 20,000).
    pub queue_wait: Percentiles,
    pub now: LiveLoad,
    /// Tokens and cost reported by runs created in the period.
    #[serde(default)]
    pub usage: UsageInsights,
}

/// What one day's runs reported (UTC).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DayUsage {
    /// The day's first millisecond (UTC).
    pub day: i64,
    pub usage: TokenUsage,
}

/// What one agent's, workflow's or issue's runs reported.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UsageGroup {
    pub name: String,
    /// Runs that reported usage.
    pub runs: u32,
    pub usage: TokenUsage,
}

/// Tokens and cost over the period.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UsageInsights {
    /// One entry per day of the period, oldest first.
    pub per_day: Vec<DayUsage>,
    pub total: TokenUsage,
    /// The ten that spent most tokens, most first.
    pub agents: Vec<UsageGroup>,
    pub workflows: Vec<UsageGroup>,
    pub issues: Vec<UsageGroup>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let p = Percentiles::of((1..=100).rev().collect());
        assert_eq!((p.p50, p.p90, p.p99), (Some(50), Some(90), Some(99)));
        assert_eq!(p.samples, 100);
        let one = Percentiles::of(vec![7]);
        assert_eq!((one.p50, one.p99), (Some(7), Some(7)));
        assert_eq!(Percentiles::of(vec![]).p50, None);
    }

    #[test]
    fn success_rate_rounds() {
        let g = GroupStats {
            name: "a".into(),
            finished: 3,
            succeeded: 2,
            duration: Percentiles::default(),
        };
        assert_eq!(g.success_rate(), Some(67));
    }
}

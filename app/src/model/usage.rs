//! What a run costs: tokens and money an agent reports, and the budgets
//! that pause a run which spends too much.
//!
//! An agent reports usage in its output, read from the stored log lines
//! (so it works the same for local runs and remote runners):
//!
//! - `::usage {"inputTokens": 1200, "outputTokens": 300, "costUsd": 0.02}`
//!   adds to the run's totals (any field may be left out);
//! - Claude Code's `--output-format stream-json`: each `assistant`
//!   message's `usage` counts once (the events of one message repeat the
//!   same figures), and the closing `result` line's totals and
//!   `total_cost_usd` replace what its messages counted;
//! - Codex's `exec --json`: each `turn.completed` line's `usage` adds.

use serde::{Deserialize, Serialize};

/// Tokens and cost of a run (or a sum of runs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// In US dollars; 0 when nothing reported a cost.
    pub cost_usd: f64,
}

impl TokenUsage {
    pub fn tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }

    pub fn is_empty(&self) -> bool {
        self.input_tokens == 0 && self.output_tokens == 0 && self.cost_usd == 0.0
    }
}

/// Limits on what an agent's or a workflow's runs may spend. A run that
/// goes past one is paused (on a remote runner, which cannot pause, it is
/// cancelled) and its starter is told; a person may resume it, and the
/// budget does not stop that run again. Tokens are input plus output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", default)]
pub struct Budget {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_per_run: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_per_run_usd: Option<f64>,
    /// Over the UTC day, across all runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_per_day: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_per_day_usd: Option<f64>,
}

impl Budget {
    pub fn is_empty(&self) -> bool {
        *self == Budget::default()
    }

    pub fn validate(&self) -> Result<(), String> {
        for cost in [self.cost_per_run_usd, self.cost_per_day_usd]
            .into_iter()
            .flatten()
        {
            if !cost.is_finite() || cost <= 0.0 || cost > 1e6 {
                return Err("a cost budget is more than $0 and at most $1,000,000".into());
            }
        }
        if [self.tokens_per_run, self.tokens_per_day]
            .into_iter()
            .flatten()
            .any(|t| t == 0 || t > MAX_TOKENS)
        {
            return Err("a token budget is at least 1 token and at most 10^12".into());
        }
        Ok(())
    }

    /// What is over this budget, if anything, in words: `run` is what
    /// this run spent, `day` what `owner`'s runs spent today (UTC);
    /// `this_run` names the run ("this run", "this workflow run").
    pub fn exceeded(
        &self,
        run: &TokenUsage,
        day: &TokenUsage,
        owner: &str,
        this_run: &str,
    ) -> Option<String> {
        if let Some(limit) = self.tokens_per_run.filter(|l| run.tokens() > *l) {
            return Some(format!(
                "{this_run} used {} tokens; {owner} allows {} per run",
                thousands(run.tokens()),
                thousands(limit)
            ));
        }
        if let Some(limit) = self.cost_per_run_usd.filter(|l| run.cost_usd > *l) {
            return Some(format!(
                "{this_run} cost {}; {owner} allows {} per run",
                dollars(run.cost_usd),
                dollars(limit)
            ));
        }
        if let Some(limit) = self.tokens_per_day.filter(|l| day.tokens() > *l) {
            return Some(format!(
                "{owner}'s runs used {} tokens today; it allows {} per day",
                thousands(day.tokens()),
                thousands(limit)
            ));
        }
        if let Some(limit) = self.cost_per_day_usd.filter(|l| day.cost_usd > *l) {
            return Some(format!(
                "{owner}'s runs cost {} today; it allows {} per day",
                dollars(day.cost_usd),
                dollars(limit)
            ));
        }
        None
    }
}

/// `$0.42`; amounts under a cent keep four decimals (`$0.0031`).
pub fn dollars(usd: f64) -> String {
    if usd > 0.0 && usd < 0.01 {
        format!("${usd:.4}")
    } else {
        format!("${usd:.2}")
    }
}

/// `12400` → `"12,400"`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Most tokens one line may report; more is read as this many (a run's
/// totals stop at [`MAX_TOKENS`], so sums over many runs never overflow).
pub const MAX_TOKENS_PER_LINE: u64 = 10_000_000_000;
/// Most a run's tokens (and its cost in micro-dollars) add up to.
pub const MAX_TOKENS: u64 = 1_000_000_000_000;

/// What one line of output says about usage.
#[derive(Clone, Debug, PartialEq)]
pub enum UsageReport {
    /// Adds to the run's totals (`::usage`, a Codex turn).
    Add {
        input_tokens: u64,
        output_tokens: u64,
        cost_micros: u64,
    },
    /// One Claude Code message's usage: counted once per message id until
    /// a `Settle` replaces it.
    Message {
        id: String,
        input_tokens: u64,
        output_tokens: u64,
    },
    /// Claude Code's `result`: its session's totals so far. They replace
    /// what its messages counted since the last `Settle`; of a session
    /// settled before, only what grew since is added.
    Settle {
        session: String,
        input_tokens: u64,
        output_tokens: u64,
        cost_micros: u64,
    },
}

/// A run's totals as its lines come, the same rules the server stores
/// them by (the run page keeps one while it follows a run).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TokenTally {
    settled: (u64, u64, u64),
    live: (u64, u64),
    last_message: Option<String>,
    /// The last Claude Code session settled, with its figures then.
    session: Option<(String, u64, u64, u64)>,
}

fn add(total: &mut u64, n: u64) {
    *total = total.saturating_add(n).min(MAX_TOKENS);
}

impl TokenTally {
    pub fn apply(&mut self, report: &UsageReport) {
        match report {
            UsageReport::Add {
                input_tokens,
                output_tokens,
                cost_micros,
            } => {
                add(&mut self.settled.0, *input_tokens);
                add(&mut self.settled.1, *output_tokens);
                add(&mut self.settled.2, *cost_micros);
            }
            UsageReport::Message {
                id,
                input_tokens,
                output_tokens,
            } => {
                let repeat = !id.is_empty() && self.last_message.as_deref() == Some(id.as_str());
                if !repeat {
                    add(&mut self.live.0, *input_tokens);
                    add(&mut self.live.1, *output_tokens);
                }
                self.last_message = Some(id.clone());
            }
            UsageReport::Settle {
                session,
                input_tokens,
                output_tokens,
                cost_micros,
            } => {
                let before = match &self.session {
                    Some((s, i, o, c)) if s == session => (*i, *o, *c),
                    _ => (0, 0, 0),
                };
                add(&mut self.settled.0, input_tokens.saturating_sub(before.0));
                add(&mut self.settled.1, output_tokens.saturating_sub(before.1));
                add(&mut self.settled.2, cost_micros.saturating_sub(before.2));
                self.session = Some((session.clone(), *input_tokens, *output_tokens, *cost_micros));
                self.live = (0, 0);
                self.last_message = None;
            }
        }
    }

    pub fn total(&self) -> TokenUsage {
        TokenUsage {
            input_tokens: self.settled.0.saturating_add(self.live.0),
            output_tokens: self.settled.1.saturating_add(self.live.1),
            cost_usd: self.settled.2 as f64 / 1e6,
        }
    }
}

#[derive(Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
struct Marker {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    cost_usd: f64,
}

/// The token fields of Anthropic's and OpenAI's `usage` objects.
#[derive(Deserialize, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(default)]
struct Tokens {
    input_tokens: u64,
    output_tokens: u64,
    cache_creation_input_tokens: u64,
    cache_read_input_tokens: u64,
}

impl Tokens {
    /// Anthropic counts cached input apart from `input_tokens`; OpenAI
    /// counts it inside (`cached_input_tokens`, not read here).
    fn input(&self) -> u64 {
        self.input_tokens
            .saturating_add(self.cache_creation_input_tokens)
            .saturating_add(self.cache_read_input_tokens)
    }
}

#[derive(Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
struct JsonLine {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    message: Option<JsonMessage>,
    #[serde(default)]
    usage: Option<Tokens>,
    #[serde(default)]
    total_cost_usd: Option<f64>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
struct JsonMessage {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    usage: Option<Tokens>,
}

fn capped(tokens: u64) -> u64 {
    tokens.min(MAX_TOKENS_PER_LINE)
}

fn micros(usd: f64) -> u64 {
    if usd.is_finite() && usd > 0.0 {
        (usd * 1e6).round().min(MAX_TOKENS_PER_LINE as f64) as u64
    } else {
        0
    }
}

/// Reads a usage report from a line of output, if it is one. Cheap for
/// lines that are not: a prefix and a substring test before any parsing.
pub fn parse(line: &str) -> Option<UsageReport> {
    let line = line.trim();
    if let Some(rest) = line.strip_prefix("::usage") {
        let m: Marker = serde_json::from_str(rest.trim_start()).ok()?;
        return Some(UsageReport::Add {
            input_tokens: capped(m.input_tokens),
            output_tokens: capped(m.output_tokens),
            cost_micros: micros(m.cost_usd),
        });
    }
    if !line.starts_with('{') || !line.contains("\"usage\"") {
        return None;
    }
    let j: JsonLine = serde_json::from_str(line).ok()?;
    match j.kind.as_str() {
        "assistant" => {
            let message = j.message?;
            let usage = message.usage?;
            Some(UsageReport::Message {
                id: message.id.unwrap_or_default(),
                input_tokens: capped(usage.input()),
                output_tokens: capped(usage.output_tokens),
            })
        }
        "result" => {
            let usage = j.usage.unwrap_or_default();
            Some(UsageReport::Settle {
                session: j.session_id.unwrap_or_default(),
                input_tokens: capped(usage.input()),
                output_tokens: capped(usage.output_tokens),
                cost_micros: micros(j.total_cost_usd.unwrap_or(0.0)),
            })
        }
        "turn.completed" => {
            let usage = j.usage?;
            Some(UsageReport::Add {
                input_tokens: capped(usage.input_tokens),
                output_tokens: capped(usage.output_tokens),
                cost_micros: 0,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_add() {
        assert_eq!(
            parse(r#"::usage {"inputTokens": 1200, "outputTokens": 300, "costUsd": 0.0215}"#),
            Some(UsageReport::Add {
                input_tokens: 1200,
                output_tokens: 300,
                cost_micros: 21_500
            })
        );
        assert_eq!(
            parse(r#"::usage {"outputTokens": 5}"#),
            Some(UsageReport::Add {
                input_tokens: 0,
                output_tokens: 5,
                cost_micros: 0
            })
        );
        assert_eq!(parse("::usage lots"), None);
        assert_eq!(parse(r#"::usage {"inputTokens": -4}"#), None);
        assert_eq!(parse("a line about usage"), None);
    }

    #[test]
    fn claude_code_messages_and_result() {
        let assistant = r#"{"type":"assistant","message":{"id":"msg_01","type":"message","role":"assistant","content":[{"type":"text","text":"Hi"}],"usage":{"input_tokens":3,"cache_creation_input_tokens":1000,"cache_read_input_tokens":2000,"output_tokens":40,"service_tier":"standard"}},"session_id":"s"}"#;
        assert_eq!(
            parse(assistant),
            Some(UsageReport::Message {
                id: "msg_01".into(),
                input_tokens: 3003,
                output_tokens: 40
            })
        );
        let result = r#"{"type":"result","subtype":"success","is_error":false,"duration_ms":2100,"num_turns":2,"result":"done","session_id":"s","total_cost_usd":0.0421,"usage":{"input_tokens":6,"cache_creation_input_tokens":1000,"cache_read_input_tokens":4000,"output_tokens":90}}"#;
        assert_eq!(
            parse(result),
            Some(UsageReport::Settle {
                session: "s".into(),
                input_tokens: 5006,
                output_tokens: 90,
                cost_micros: 42_100
            })
        );
        // Other stream-json lines say nothing about usage.
        assert_eq!(
            parse(r#"{"type":"system","subtype":"init","session_id":"s","tools":[]}"#),
            None
        );
        assert_eq!(
            parse(r#"{"type":"user","message":{"role":"user","content":"the word \"usage\""}}"#),
            None
        );
    }

    #[test]
    fn a_tally_counts_a_message_once_and_settles() {
        let mut t = TokenTally::default();
        let msg = |id: &str| UsageReport::Message {
            id: id.into(),
            input_tokens: 100,
            output_tokens: 10,
        };
        t.apply(&msg("a"));
        t.apply(&msg("a"));
        t.apply(&msg("b"));
        assert_eq!((t.total().input_tokens, t.total().output_tokens), (200, 20));
        let settle = |input_tokens, cost_micros| UsageReport::Settle {
            session: "s1".into(),
            input_tokens,
            output_tokens: 30,
            cost_micros,
        };
        t.apply(&settle(250, 1_500_000));
        t.apply(&UsageReport::Add {
            input_tokens: 5,
            output_tokens: 5,
            cost_micros: 0,
        });
        assert_eq!(
            t.total(),
            TokenUsage {
                input_tokens: 255,
                output_tokens: 35,
                cost_usd: 1.5
            }
        );
        // The same session's next result is its running total: only what
        // grew counts.
        t.apply(&settle(400, 2_000_000));
        assert_eq!(
            t.total(),
            TokenUsage {
                input_tokens: 405,
                output_tokens: 35,
                cost_usd: 2.0
            }
        );
        // Nothing a line says takes a total past the cap.
        for _ in 0..200 {
            t.apply(&UsageReport::Add {
                input_tokens: MAX_TOKENS_PER_LINE,
                output_tokens: 0,
                cost_micros: 0,
            });
        }
        assert_eq!(t.total().input_tokens, MAX_TOKENS);
    }

    #[test]
    fn codex_turns_add() {
        let turn = r#"{"type":"turn.completed","usage":{"input_tokens":24763,"cached_input_tokens":24448,"output_tokens":122}}"#;
        assert_eq!(
            parse(turn),
            Some(UsageReport::Add {
                input_tokens: 24763,
                output_tokens: 122,
                cost_micros: 0
            })
        );
    }

    #[test]
    fn budgets_say_what_is_over() {
        let budget = Budget {
            tokens_per_run: Some(10_000),
            cost_per_day_usd: Some(5.0),
            ..Budget::default()
        };
        let run = TokenUsage {
            input_tokens: 9_000,
            output_tokens: 3_400,
            cost_usd: 0.5,
        };
        assert_eq!(
            budget
                .exceeded(&run, &run, "agent Coder", "this run")
                .as_deref(),
            Some("this run used 12,400 tokens; agent Coder allows 10,000 per run")
        );
        let small = TokenUsage {
            input_tokens: 10,
            ..TokenUsage::default()
        };
        let day = TokenUsage {
            cost_usd: 6.25,
            ..TokenUsage::default()
        };
        assert_eq!(
            budget
                .exceeded(&small, &day, "agent Coder", "this run")
                .as_deref(),
            Some("agent Coder's runs cost $6.25 today; it allows $5.00 per day")
        );
        let cents = Budget {
            cost_per_run_usd: Some(0.005),
            ..Budget::default()
        };
        let spent = TokenUsage {
            cost_usd: 0.0071,
            ..TokenUsage::default()
        };
        assert_eq!(
            cents
                .exceeded(&spent, &small, "workflow Ship", "this workflow run")
                .as_deref(),
            Some("this workflow run cost $0.0071; workflow Ship allows $0.0050 per run")
        );
        assert_eq!(budget.exceeded(&small, &small, "a", "b"), None);
        assert!(Budget::default().exceeded(&run, &run, "a", "b").is_none());
        assert!(Budget {
            tokens_per_day: Some(0),
            ..Budget::default()
        }
        .validate()
        .is_err());
        assert!(Budget {
            cost_per_run_usd: Some(f64::NAN),
            ..Budget::default()
        }
        .validate()
        .is_err());
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}

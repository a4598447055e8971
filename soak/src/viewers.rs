//! Viewers in the dialects that carry a run's lines: the native browser
//! protocol (`/ws`, resuming with `since`), CC-Anywhere
//! (`/ws/cc-anywhere`, history then live on every subscribe) and the Team
//! Dashboard (`/ws/team-dashboard`, `subscribe:agent` with history). Each
//! counts what it receives against the numbered lines the agent printed.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dialect {
    Native,
    CcAnywhere,
    TeamDashboard,
}

impl Dialect {
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Native => "native `/ws` (resumes with `since`)",
            Dialect::CcAnywhere => "CC-Anywhere (history on subscribe)",
            Dialect::TeamDashboard => "Team Dashboard (`subscribe:agent`, history)",
        }
    }
}

/// Line numbers seen on one chain of deliveries (for the native dialect
/// the whole life of the viewer; for the others one connection, since
/// each subscribe replays the history).
pub struct Tracker {
    seen: Vec<bool>,
    pub distinct: usize,
    max: usize,
    pub duplicated: u64,
    pub reordered: u64,
}

impl Tracker {
    pub fn new(lines: usize) -> Tracker {
        Tracker {
            seen: vec![false; lines + 1],
            distinct: 0,
            max: 0,
            duplicated: 0,
            reordered: 0,
        }
    }

    pub fn line(&mut self, k: usize) {
        if k == 0 || k >= self.seen.len() {
            self.duplicated += 1; // not a line of this run: count it as noise
            return;
        }
        if self.seen[k] {
            self.duplicated += 1;
            return;
        }
        if k < self.max {
            self.reordered += 1;
        }
        self.seen[k] = true;
        self.distinct += 1;
        self.max = self.max.max(k);
    }

    pub fn complete(&self) -> bool {
        self.distinct + 1 == self.seen.len()
    }
}

/// A printed line: `L <number> <printed at, µs since the epoch> <padding>`.
pub fn parse_line(text: &str) -> Option<(usize, u64)> {
    let mut parts = text.trim_end().split(' ');
    if parts.next()? != "L" {
        return None;
    }
    let k = parts.next()?.parse().ok()?;
    let at = parts.next()?.parse().ok()?;
    Some((k, at))
}

pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// What one viewer saw.
#[derive(Default, Debug)]
pub struct Outcome {
    pub lost: u64,
    pub duplicated: u64,
    pub reordered: u64,
    pub delivered: u64,
    pub connections: u64,
    /// Printed → received, µs, for lines printed while it was connected.
    pub latencies: Vec<u64>,
}

/// How a viewer reaches the server.
#[derive(Clone)]
pub struct Access {
    pub addr: String,
    pub token: String,
    pub api_key: String,
}

/// A tiny xorshift: the harness needs spread, not quality.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in [lo, hi).
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo).max(1)
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn envelope(kind: &str, payload: Value) -> Message {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Message::text(
        json!({"id": uuid::Uuid::new_v4().to_string(), "type": kind, "timestamp": now, "payload": payload})
            .to_string(),
    )
}

/// Connects and subscribes; `since` is the native dialect's resume point.
async fn open(
    dialect: Dialect,
    access: &Access,
    execution: &str,
    since: u64,
    client: usize,
) -> anyhow::Result<Socket> {
    let url = match dialect {
        Dialect::Native => format!("ws://{}/ws?token={}", access.addr, access.token),
        Dialect::CcAnywhere => format!("ws://{}/ws/cc-anywhere", access.addr),
        Dialect::TeamDashboard => format!("ws://{}/ws/team-dashboard", access.addr),
    };
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async(url),
    )
    .await??;
    match dialect {
        Dialect::Native => {
            ws.send(Message::text(
                json!({"type": "subscribe", "channel": "agent-execution", "executionId": execution, "since": since})
                    .to_string(),
            ))
            .await?;
        }
        Dialect::CcAnywhere => {
            ws.send(Message::text(
                json!({"type": "auth", "payload": {"apiKey": access.api_key}}).to_string(),
            ))
            .await?;
            ws.send(Message::text(
                json!({"type": "subscribe", "payload": {"taskId": execution}}).to_string(),
            ))
            .await?;
        }
        Dialect::TeamDashboard => {
            ws.send(envelope(
                "auth",
                json!({"token": access.token, "clientId": format!("soak-{client}")}),
            ))
            .await?;
            ws.send(envelope("subscribe:agent", json!({"agentId": execution})))
                .await?;
        }
    }
    Ok(ws)
}

/// One delivered line from a frame, with the native event's `seq`.
fn line_of(
    dialect: Dialect,
    frame: &Value,
    execution: &str,
) -> (Option<&'static str>, Option<String>, u64) {
    match dialect {
        Dialect::Native => {
            if frame["executionId"] != execution {
                return (None, None, 0);
            }
            let seq = frame["seq"].as_u64().unwrap_or(0);
            let text = (frame["type"] == "agent.log")
                .then(|| frame["message"].as_str().map(String::from))
                .flatten();
            (None, text, seq)
        }
        Dialect::CcAnywhere => {
            if frame["type"] == "error" {
                return (Some("error frame"), None, 0);
            }
            let p = &frame["payload"];
            if frame["type"] != "task:log" || p["taskId"] != execution {
                return (None, None, 0);
            }
            (None, p["log"].as_str().map(String::from), 0)
        }
        Dialect::TeamDashboard => {
            if frame["type"] == "ack" && frame["payload"]["success"] == false {
                return (Some("refused"), None, 0);
            }
            let p = &frame["payload"];
            if frame["type"] != "agent:output" || p["agentId"] != execution {
                return (None, None, 0);
            }
            (None, p["data"].as_str().map(String::from), 0)
        }
    }
}

/// Follows `execution` until it has all `lines` lines or `deadline`,
/// dropping the connection (without a close frame) after a random time in
/// `drops.0` (seconds) until `drops.1`, and whenever the server goes away.
pub async fn follow(
    dialect: Dialect,
    access: Access,
    execution: String,
    lines: usize,
    client: usize,
    drops: Option<((u64, u64), Instant)>,
    deadline: Instant,
) -> Outcome {
    let mut rng = Rng::new(client as u64 + 1);
    let mut out = Outcome::default();
    let mut chain = Tracker::new(lines);
    let mut since = 0u64;
    while Instant::now() < deadline {
        if dialect != Dialect::Native {
            chain = Tracker::new(lines);
        }
        let Ok(mut ws) = open(dialect, &access, &execution, since, client).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        out.connections += 1;
        let connected = now_us();
        // Live once the history is through: from the first line printed
        // after connecting on, lines are timed (not the replay).
        let mut caught_up = false;
        // Drops only while the agent prints; then it stays to the end.
        let until = drops
            .filter(|(_, last)| Instant::now() < *last)
            .map(|((lo, hi), _)| {
                Instant::now() + Duration::from_millis(rng.between(lo * 1000, hi * 1000))
            });
        loop {
            let wait = until
                .unwrap_or(deadline)
                .min(deadline)
                .saturating_duration_since(Instant::now());
            let frame = match tokio::time::timeout(wait, ws.next()).await {
                Err(_) => break, // time to drop (or give up)
                Ok(Some(Ok(Message::Text(t)))) => t,
                Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => break,
                Ok(Some(Ok(_))) => continue,
            };
            let Ok(frame) = serde_json::from_str::<Value>(&frame) else {
                continue;
            };
            let (problem, text, seq) = line_of(dialect, &frame, &execution);
            if let Some(problem) = problem {
                eprintln!("viewer {client} ({dialect:?}): {problem}: {frame}");
            }
            since = since.max(seq);
            let Some((k, printed)) = text.as_deref().and_then(parse_line) else {
                continue;
            };
            out.delivered += 1;
            chain.line(k);
            let now = now_us();
            if caught_up {
                out.latencies.push(now.saturating_sub(printed));
            } else if printed >= connected {
                caught_up = true;
            }
            if chain.complete() {
                let _ = ws.close(None).await;
                out.duplicated += chain.duplicated;
                out.reordered += chain.reordered;
                return out;
            }
        }
        // Dropped: no close frame, as when a laptop lid shuts.
        drop(ws);
        if dialect != Dialect::Native {
            out.duplicated += chain.duplicated;
            out.reordered += chain.reordered;
        }
    }
    out.lost = (lines - chain.distinct) as u64;
    if dialect == Dialect::Native {
        out.duplicated += chain.duplicated;
        out.reordered += chain.reordered;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tracker_counts_gaps_repeats_and_disorder() {
        let mut t = Tracker::new(5);
        for k in [1, 2, 2, 4, 3, 5] {
            t.line(k);
        }
        assert!(t.complete());
        assert_eq!((t.duplicated, t.reordered), (1, 1));
        let mut t = Tracker::new(3);
        t.line(1);
        t.line(3);
        assert!(!t.complete());
        assert_eq!(t.distinct, 2);
    }

    #[test]
    fn lines_parse() {
        assert_eq!(
            parse_line("L 12 1795924275299132 xxxx\n"),
            Some((12, 1795924275299132))
        );
        assert_eq!(parse_line("hello"), None);
    }
}

//! An agent's events as Team Dashboard messages: `agent:status`,
//! `agent:output` (the bytes as written, with the event's `seq` as
//! `sequence`), and for a crash `agent:error` and `system:alert`.
//!
//! Each message's `id` is derived from the agent, the event's `seq` and the
//! message's place among those the event makes, so a message rebuilt from
//! the store after a reconnect has the same id as the first time (a UUID
//! with version 4 bits, made from a SHA-256, not from randomness).

use app::model::{EventBody, ExecutionEvent, ExecutionId, ExecutionStatus, LogStream};
use app::protocol::team_dashboard::{status, Envelope, Metadata};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Which kind of message, for subscription filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Status,
    Output,
    Error,
    Alert,
}

impl Kind {
    /// Whether a subscription's `filters` let this message through: no
    /// filters means everything; a filter names a message type
    /// (`agent:status`, `agent:output`, `agent:error`, `system:alert`, or
    /// the short `status`, `output`, `error`, `alert`) or a stream
    /// (`stdout`, `stderr`).
    pub fn passes(self, stream: Option<&str>, filters: &[String]) -> bool {
        if filters.is_empty() {
            return true;
        }
        let names: &[&str] = match self {
            Kind::Status => &["agent:status", "status"],
            Kind::Output => &["agent:output", "output"],
            Kind::Error => &["agent:error", "error"],
            Kind::Alert => &["system:alert", "alert"],
        };
        filters.iter().any(|f| {
            let f = f.as_str();
            names.contains(&f) || (self == Kind::Output && stream == Some(f))
        })
    }
}

/// A message made from an event, with what filters need to know.
pub struct Made {
    pub kind: Kind,
    pub stream: Option<&'static str>,
    pub envelope: Envelope,
}

/// A message id that is the same every time it is made for the same
/// agent, event and position.
pub fn stable_id(agent: ExecutionId, seq: u64, n: u8) -> String {
    let mut h = Sha256::new();
    h.update(b"yagura/team-dashboard/");
    h.update(agent.0.as_bytes());
    h.update(seq.to_be_bytes());
    h.update([n]);
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
    uuid::Uuid::from_bytes(bytes).to_string()
}

fn envelope(
    agent: ExecutionId,
    seq: u64,
    n: u8,
    kind: &str,
    at_ms: i64,
    payload: Value,
) -> Envelope {
    Envelope {
        id: stable_id(agent, seq, n),
        kind: kind.into(),
        timestamp: at_ms,
        payload,
        metadata: Some(Metadata {
            agent_id: Some(agent.to_string()),
            ..Default::default()
        }),
    }
}

/// The messages one event of agent `event.execution_id` makes.
/// `started_at` is when the agent started, for `uptime`.
pub fn messages(event: &ExecutionEvent, started_at: Option<i64>) -> Vec<Made> {
    let agent = event.execution_id;
    let id = agent.to_string();
    let at = event.at_ms;
    let seq = event.seq;
    let status_msg = |state: &str, details: Value| Made {
        kind: Kind::Status,
        stream: None,
        envelope: envelope(
            agent,
            seq,
            0,
            "agent:status",
            at,
            json!({"agentId": id, "status": state, "details": details}),
        ),
    };
    let uptime = started_at.map(|s| (at - s).max(0)).unwrap_or(0);
    match &event.body {
        EventBody::Queued { .. } | EventBody::Requeued { .. } => {
            vec![status_msg(status::STARTING, json!({"lastActivity": at}))]
        }
        EventBody::Started { pid, .. } => vec![status_msg(
            status::RUNNING,
            json!({"pid": pid.unwrap_or(0), "uptime": 0, "lastActivity": at}),
        )],
        EventBody::Paused => vec![status_msg(
            status::PAUSED,
            json!({"uptime": uptime, "lastActivity": at}),
        )],
        EventBody::Resumed => vec![status_msg(
            status::RUNNING,
            json!({"uptime": uptime, "lastActivity": at}),
        )],
        EventBody::Progress { .. } => Vec::new(),
        EventBody::Log {
            stream,
            message,
            end,
            ..
        } => {
            let stream = match stream {
                LogStream::Stdout => "stdout",
                LogStream::Stderr => "stderr",
                // Yagura's own notes are not the agent's output.
                LogStream::System | LogStream::Stdin => return Vec::new(),
            };
            vec![Made {
                kind: Kind::Output,
                stream: Some(stream),
                envelope: envelope(
                    agent,
                    seq,
                    0,
                    "agent:output",
                    at,
                    json!({
                        "agentId": id,
                        "stream": stream,
                        "data": format!("{message}{}", end.as_str()),
                        "timestamp": at,
                        "sequence": seq,
                    }),
                ),
            }]
        }
        EventBody::Finished {
            status: outcome,
            error_code,
            error_message,
            exit_code,
            signal,
            ..
        } => {
            let details = json!({"uptime": uptime, "lastActivity": at,
                                 "exitCode": exit_code, "signal": signal});
            match outcome {
                ExecutionStatus::Completed | ExecutionStatus::Cancelled => {
                    vec![status_msg(status::STOPPED, details)]
                }
                _ => {
                    let code = error_code.clone().unwrap_or_else(|| "FAILED".into());
                    let message = error_message.clone().unwrap_or_else(|| "crashed".into());
                    vec![
                        status_msg(status::CRASHED, details),
                        Made {
                            kind: Kind::Error,
                            stream: None,
                            envelope: envelope(
                                agent,
                                seq,
                                1,
                                "agent:error",
                                at,
                                json!({"agentId": id, "error": {"code": code, "message": message}}),
                            ),
                        },
                        Made {
                            kind: Kind::Alert,
                            stream: None,
                            envelope: envelope(
                                agent,
                                seq,
                                2,
                                "system:alert",
                                at,
                                json!({"level": "error", "category": "agent",
                                       "message": format!("agent {id} crashed: {message}"),
                                       "details": {"agentId": id, "code": code}}),
                            ),
                        },
                    ]
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::{AgentType, LineEnd, LogLevel};

    fn event(seq: u64, body: EventBody) -> ExecutionEvent {
        ExecutionEvent {
            execution_id: ExecutionId(uuid::Uuid::from_u128(7)),
            seq,
            at_ms: 1_000,
            body,
        }
    }

    #[test]
    fn ids_are_stable_and_look_like_v4() {
        let a = ExecutionId(uuid::Uuid::from_u128(7));
        assert_eq!(stable_id(a, 3, 0), stable_id(a, 3, 0));
        assert_ne!(stable_id(a, 3, 0), stable_id(a, 4, 0));
        assert_ne!(stable_id(a, 3, 0), stable_id(a, 3, 1));
        let u: uuid::Uuid = stable_id(a, 3, 0).parse().unwrap();
        assert_eq!(u.get_version_num(), 4);
    }

    #[test]
    fn output_is_byte_exact_and_numbered() {
        let made = messages(
            &event(
                9,
                EventBody::Log {
                    stream: LogStream::Stdout,
                    level: LogLevel::Info,
                    message: "Name? ".into(),
                    end: LineEnd::None,
                },
            ),
            None,
        );
        let p = &made[0].envelope.payload;
        assert_eq!(p["data"], "Name? ");
        assert_eq!(p["sequence"], 9);
        assert_eq!(made[0].envelope.kind, "agent:output");
        assert!(Kind::Output.passes(Some("stdout"), &["stdout".into()]));
        assert!(!Kind::Output.passes(Some("stdout"), &["stderr".into()]));
        assert!(!Kind::Status.passes(None, &["agent:output".into()]));
    }

    #[test]
    fn a_crash_is_a_status_an_error_and_an_alert() {
        let made = messages(
            &event(
                20,
                EventBody::Finished {
                    agent_type: AgentType::Custom,
                    status: ExecutionStatus::Failed,
                    result: None,
                    error_code: Some("EXIT_CODE".into()),
                    error_message: Some("exited with code 3".into()),
                    exit_code: Some(3),
                    signal: None,
                    usage: None,
                },
            ),
            Some(500),
        );
        let kinds: Vec<&str> = made.iter().map(|m| m.envelope.kind.as_str()).collect();
        assert_eq!(kinds, ["agent:status", "agent:error", "system:alert"]);
        assert_eq!(made[0].envelope.payload["status"], "crashed");
        assert_eq!(made[0].envelope.payload["details"]["uptime"], 500);
    }
}

//! The CC-Anywhere dialect (seed 001) at `/ws/cc-anywhere`, also reached at
//! `/ws` by a first frame `{"type":"auth","payload":{"apiKey":…}}`.
//!
//! Every frame is `{"type": …, "payload": {…}}`. The first message must be
//! `auth` with an API key. Then the client subscribes to tasks by id (a
//! task is an execution) and receives `task:update` and `task:log` for
//! each: its stored history first, then live, each event once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::model::{EventBody, ExecutionEvent, ExecutionStatus, LogLevel, LogStream};

/// Seed 001's defaults (`WEBSOCKET_AUTH_TIMEOUT`, `…_HEARTBEAT_INTERVAL`,
/// `…_HEARTBEAT_TIMEOUT`), in milliseconds.
pub const AUTH_TIMEOUT_MS: u64 = 10_000;
pub const HEARTBEAT_INTERVAL_MS: u64 = 30_000;
pub const HEARTBEAT_TIMEOUT_MS: u64 = 60_000;

/// Codes of the `error` frame.
pub mod code {
    /// A message other than `auth` before authenticating (the socket stays open).
    pub const AUTH_REQUIRED: &str = "AUTH_REQUIRED";
    /// A wrong or revoked key: the socket is closed with 1008.
    pub const INVALID_API_KEY: &str = "INVALID_API_KEY";
    /// No `auth` in time: the socket is closed with 1008.
    pub const AUTH_TIMEOUT: &str = "AUTH_TIMEOUT";
    pub const TASK_NOT_FOUND: &str = "TASK_NOT_FOUND";
    /// `subscribe` / `unsubscribe` without a `taskId`.
    pub const INVALID_SUBSCRIBE: &str = "INVALID_SUBSCRIBE";
    /// Not JSON, or not an object with a string `type`.
    pub const INVALID_MESSAGE: &str = "INVALID_MESSAGE";
    pub const UNKNOWN_MESSAGE: &str = "UNKNOWN_MESSAGE";
    /// More than the allowed messages per second (the socket stays open).
    pub const RATE_LIMIT_EXCEEDED: &str = "RATE_LIMIT_EXCEEDED";
    pub const INTERNAL_ERROR: &str = "INTERNAL_ERROR";
}

/// A message the client sends.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientMessage {
    Auth { api_key: Option<String> },
    Subscribe { task_id: Option<String> },
    Unsubscribe { task_id: Option<String> },
    Ping,
}

/// Why a frame could not be read: the `error` frame's code and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    pub code: &'static str,
    pub message: String,
}

impl ClientMessage {
    /// Reads a text frame (or an already parsed first frame).
    pub fn decode(text: &str) -> Result<Self, DecodeError> {
        let value: Value = serde_json::from_str(text).map_err(|e| DecodeError {
            code: code::INVALID_MESSAGE,
            message: format!("not JSON: {e}"),
        })?;
        Self::from_value(&value)
    }

    pub fn from_value(value: &Value) -> Result<Self, DecodeError> {
        let Some(kind) = value.get("type").and_then(Value::as_str) else {
            return Err(DecodeError {
                code: code::INVALID_MESSAGE,
                message: "a message is a JSON object with a string \"type\"".into(),
            });
        };
        let text = |field: &str| {
            value["payload"][field]
                .as_str()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        Ok(match kind {
            "auth" => ClientMessage::Auth {
                api_key: text("apiKey"),
            },
            "subscribe" => ClientMessage::Subscribe {
                task_id: text("taskId"),
            },
            "unsubscribe" => ClientMessage::Unsubscribe {
                task_id: text("taskId"),
            },
            "ping" => ClientMessage::Ping,
            other => {
                return Err(DecodeError {
                    code: code::UNKNOWN_MESSAGE,
                    message: format!("unknown message type {other:?}"),
                })
            }
        })
    }
}

/// A message the server sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "payload", rename_all_fields = "camelCase")]
pub enum ServerMessage {
    #[serde(rename = "auth:success")]
    AuthSuccess { message: String },
    #[serde(rename = "subscribe:success")]
    SubscribeSuccess { task_id: String },
    #[serde(rename = "unsubscribe:success")]
    UnsubscribeSuccess { task_id: String },
    /// `status`: `pending`, `running`, `completed`, `failed`, `cancelled`.
    #[serde(rename = "task:update")]
    TaskUpdate {
        task_id: String,
        status: String,
        timestamp: DateTime<Utc>,
        metadata: Value,
    },
    /// One line of output, without its newline. `level`: `info` (stdout),
    /// `warning` (stderr), `error` (stderr that reads as an error).
    #[serde(rename = "task:log")]
    TaskLog {
        task_id: String,
        log: String,
        timestamp: DateTime<Utc>,
        level: String,
    },
    #[serde(rename = "error")]
    Error { message: String, code: String },
    /// `timestamp`: the server's clock, epoch milliseconds.
    #[serde(rename = "pong")]
    Pong { timestamp: i64 },
}

impl ServerMessage {
    pub fn error(code: &str, message: impl Into<String>) -> Self {
        ServerMessage::Error {
            message: message.into(),
            code: code.to_string(),
        }
    }

    /// The message an execution event becomes (`None`: nothing to say).
    /// The final `task:update` carries `exitCode`, `completedAt`, and
    /// `errorMessage`, `errorCode` or `result` when there are.
    pub fn from_event(event: &ExecutionEvent) -> Option<Self> {
        let task_id = event.execution_id.to_string();
        let timestamp = DateTime::<Utc>::from_timestamp_millis(event.at_ms).unwrap_or_default();
        let update = |status: &str, metadata: Value| ServerMessage::TaskUpdate {
            task_id: task_id.clone(),
            status: status.into(),
            timestamp,
            metadata,
        };
        Some(match &event.body {
            // Typed input echoed for the run page is not the task's output.
            EventBody::Log {
                stream: LogStream::Stdin,
                ..
            } => return None,
            EventBody::Queued { agent_type } => {
                update("pending", json!({ "agentType": agent_type }))
            }
            EventBody::Requeued { reason } => update("pending", json!({ "reason": reason })),
            EventBody::Started { pid, .. } => {
                let mut meta = json!({ "startedAt": timestamp });
                if let Some(pid) = pid {
                    meta["pid"] = json!(pid);
                }
                update("running", meta)
            }
            EventBody::Progress {
                progress,
                current_step,
            } => update(
                "running",
                json!({ "progress": progress, "currentStep": current_step }),
            ),
            EventBody::Paused => update("running", json!({ "paused": true })),
            EventBody::Resumed => update("running", json!({ "paused": false })),
            EventBody::Log {
                stream,
                level,
                message,
                ..
            } => ServerMessage::TaskLog {
                task_id,
                log: message.clone(),
                timestamp,
                level: match (stream, level) {
                    (_, LogLevel::Error) => "error",
                    (LogStream::Stderr, _) | (_, LogLevel::Warn) => "warning",
                    (_, LogLevel::Debug) => "debug",
                    _ => "info",
                }
                .into(),
            },
            EventBody::Finished {
                status,
                result,
                error_code,
                error_message,
                exit_code,
                ..
            } => {
                let mut meta = json!({ "exitCode": exit_code, "completedAt": timestamp });
                if let Some(m) = error_message {
                    meta["errorMessage"] = json!(m);
                }
                if let Some(c) = error_code {
                    meta["errorCode"] = json!(c);
                }
                if let Some(r) = result {
                    meta["result"] = r.clone();
                }
                let status = match status {
                    ExecutionStatus::Completed => "completed",
                    ExecutionStatus::Cancelled => "cancelled",
                    _ => "failed",
                };
                update(status, meta)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AgentType, ExecutionId, LineEnd};

    #[test]
    fn frames_read_as_the_seed_writes_them() {
        assert_eq!(
            ClientMessage::decode(r#"{"type":"auth","payload":{"apiKey":"yak_1"}}"#),
            Ok(ClientMessage::Auth {
                api_key: Some("yak_1".into())
            })
        );
        assert_eq!(
            ClientMessage::decode(r#"{"type":"subscribe","payload":{}}"#),
            Ok(ClientMessage::Subscribe { task_id: None })
        );
        assert_eq!(
            ClientMessage::decode(r#"{"type":"ping","payload":{"timestamp":1}}"#),
            Ok(ClientMessage::Ping)
        );
        assert_eq!(
            ClientMessage::decode("nope").unwrap_err().code,
            code::INVALID_MESSAGE
        );
        assert_eq!(
            ClientMessage::decode(r#"{"type":"launch"}"#)
                .unwrap_err()
                .code,
            code::UNKNOWN_MESSAGE
        );
    }

    #[test]
    fn events_become_seed_messages() {
        let id = ExecutionId(uuid::Uuid::nil());
        let ev = |body| ExecutionEvent {
            execution_id: id,
            seq: 2,
            at_ms: 1_704_110_400_000,
            body,
        };
        let log = ServerMessage::from_event(&ev(EventBody::Log {
            stream: LogStream::Stderr,
            level: LogLevel::Warn,
            message: "careful".into(),
            end: LineEnd::Lf,
        }))
        .unwrap();
        assert_eq!(
            serde_json::to_value(&log).unwrap(),
            json!({"type": "task:log", "payload": {"taskId": "00000000-0000-0000-0000-000000000000",
                   "log": "careful", "timestamp": "2024-01-01T12:00:00Z", "level": "warning"}})
        );
        let done = ServerMessage::from_event(&ev(EventBody::Finished {
            agent_type: AgentType::Custom,
            status: ExecutionStatus::TimedOut,
            result: None,
            error_code: Some("TIMEOUT".into()),
            error_message: Some("timed out after 1 s".into()),
            exit_code: None,
            signal: Some(9),
            usage: None,
        }))
        .unwrap();
        let v = serde_json::to_value(&done).unwrap();
        assert_eq!(v["payload"]["status"], "failed");
        assert_eq!(v["payload"]["metadata"]["errorCode"], "TIMEOUT");
        assert!(v["payload"]["metadata"]["completedAt"].is_string());
        assert_eq!(
            serde_json::to_value(ServerMessage::Pong { timestamp: 5 }).unwrap(),
            json!({"type": "pong", "payload": {"timestamp": 5}})
        );
    }
}

/// Hostile input, generated: every text is a message or an error with a
/// seed code, never a panic; what the server sends reads back unchanged.
#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;
    use crate::protocol::arb;

    const TYPES: &[&str] = &["auth", "subscribe", "unsubscribe", "ping"];
    const FIELDS: &[&str] = &["payload", "apiKey", "taskId", "timestamp"];
    const HINTS: &[&str] = &["yak_1", "  padded  ", "\t", ""];

    /// The `payload` member a frame's field is read from, when it is text
    /// with more than blanks: trimmed.
    fn expected_text(value: &Value, field: &str) -> Option<String> {
        let raw = value.get("payload")?.get(field)?.as_str()?;
        let trimmed = raw.trim();
        (!trimmed.is_empty()).then(|| trimmed.to_string())
    }

    fn check_value(value: &Value) -> Result<(), TestCaseError> {
        let read = ClientMessage::from_value(value);
        match value.get("type").and_then(Value::as_str) {
            None => prop_assert_eq!(read.map_err(|e| e.code), Err(code::INVALID_MESSAGE)),
            Some("auth") => prop_assert_eq!(
                read,
                Ok(ClientMessage::Auth {
                    api_key: expected_text(value, "apiKey")
                })
            ),
            Some("subscribe") => prop_assert_eq!(
                read,
                Ok(ClientMessage::Subscribe {
                    task_id: expected_text(value, "taskId")
                })
            ),
            Some("unsubscribe") => prop_assert_eq!(
                read,
                Ok(ClientMessage::Unsubscribe {
                    task_id: expected_text(value, "taskId")
                })
            ),
            Some("ping") => prop_assert_eq!(read, Ok(ClientMessage::Ping)),
            Some(_) => prop_assert_eq!(read.map_err(|e| e.code), Err(code::UNKNOWN_MESSAGE)),
        }
        Ok(())
    }

    fn check_text(text: &str) -> Result<(), TestCaseError> {
        let read = ClientMessage::decode(text);
        match serde_json::from_str::<Value>(text) {
            Ok(value) => {
                prop_assert_eq!(&read, &ClientMessage::from_value(&value));
                check_value(&value)?;
            }
            Err(_) => prop_assert_eq!(read.map_err(|e| e.code), Err(code::INVALID_MESSAGE)),
        }
        Ok(())
    }

    fn server_message() -> impl Strategy<Value = ServerMessage> {
        prop_oneof![
            arb::text().prop_map(|message| ServerMessage::AuthSuccess { message }),
            arb::text().prop_map(|task_id| ServerMessage::SubscribeSuccess { task_id }),
            arb::text().prop_map(|task_id| ServerMessage::UnsubscribeSuccess { task_id }),
            (arb::text(), arb::text(), arb::timestamp(), arb::json()).prop_map(
                |(task_id, status, timestamp, metadata)| ServerMessage::TaskUpdate {
                    task_id,
                    status,
                    timestamp,
                    metadata,
                }
            ),
            (arb::text(), arb::text(), arb::timestamp(), arb::text()).prop_map(
                |(task_id, log, timestamp, level)| ServerMessage::TaskLog {
                    task_id,
                    log,
                    timestamp,
                    level,
                }
            ),
            (arb::text(), arb::text())
                .prop_map(|(message, code)| ServerMessage::Error { message, code }),
            any::<i64>().prop_map(|timestamp| ServerMessage::Pong { timestamp }),
        ]
    }

    /// Blanks a client may put around a key or an id.
    fn padding() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop::sample::select(vec![' ', '\t', '\n', '\u{3000}']),
            0..3,
        )
        .prop_map(|blanks| blanks.into_iter().collect::<String>())
    }

    proptest! {
        #[test]
        fn prop_decode_survives_hostile_text(text in arb::hostile_text()) {
            check_text(&text)?;
        }

        #[test]
        fn prop_decode_survives_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            check_text(&String::from_utf8_lossy(&bytes))?;
        }

        #[test]
        fn prop_decode_survives_truncated_json(text in arb::truncated_json()) {
            check_text(&text)?;
        }

        #[test]
        fn prop_from_value_classifies_any_json(value in arb::json()) {
            check_value(&value)?;
        }

        #[test]
        fn prop_from_value_classifies_frame_like_json(
            value in arb::frame_like(TYPES, FIELDS, HINTS),
            payload in prop::option::of(arb::frame_like(TYPES, FIELDS, HINTS)),
        ) {
            let mut value = value;
            if let Some(payload) = payload {
                value["payload"] = payload;
            }
            check_value(&value)?;
        }

        #[test]
        fn prop_keys_and_ids_read_trimmed(
            key in arb::text(),
            before in padding(),
            after in padding(),
            kind in prop::sample::select(vec!["auth", "subscribe", "unsubscribe"]),
        ) {
            let field = if kind == "auth" { "apiKey" } else { "taskId" };
            let frame = json!({"type": kind, "payload": {field: format!("{before}{key}{after}")}});
            let want = (!key.trim().is_empty()).then(|| key.trim().to_string());
            let read = ClientMessage::decode(&frame.to_string());
            let expected = match kind {
                "auth" => ClientMessage::Auth { api_key: want },
                "subscribe" => ClientMessage::Subscribe { task_id: want },
                _ => ClientMessage::Unsubscribe { task_id: want },
            };
            prop_assert_eq!(read, Ok(expected));
        }

        #[test]
        fn prop_server_messages_round_trip(message in server_message()) {
            let text = serde_json::to_string(&message).expect("a message serialises");
            let back: ServerMessage = serde_json::from_str(&text)
                .map_err(|e| TestCaseError::fail(format!("{text} does not read back: {e}")))?;
            prop_assert_eq!(back, message);
        }
    }
}

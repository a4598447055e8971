//! The Team Dashboard dialect (seed 003) at `/ws/team-dashboard`, also
//! reached at `/ws` by a first `auth` frame with a `token`, and over
//! Socket.IO (event `message`, both ways) at `/socket.io/`.
//!
//! Every message, both ways, is an envelope `{id, type, timestamp,
//! payload, metadata?}`: `id` a UUID, `timestamp` epoch milliseconds,
//! `metadata.correlationId` the id of the request a message answers, and
//! `metadata.agentId` on `agent:*` messages. Every client message but
//! `ping`/`pong` gets exactly one `ack`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Largest message (seed 003: 1 MB); a larger one closes the socket (1009).
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;
/// Subscriptions one connection may hold.
pub const MAX_SUBSCRIPTIONS: usize = 100;
/// Commands per second per agent, and messages per second per connection.
pub const COMMANDS_PER_SECOND: u32 = 10;
pub const MESSAGES_PER_SECOND: u32 = 100;
/// How long a session outlives its connection.
pub const SESSION_TTL_SECS: u64 = 600;
/// Time allowed for the `auth` message.
pub const AUTH_TIMEOUT_SECS: u64 = 5;
/// Between two `metrics:update`.
pub const METRICS_INTERVAL_SECS: u64 = 2;
/// Close code when authentication fails or times out.
pub const CLOSE_UNAUTHORIZED: u16 = 4001;

/// The envelope every message travels in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub timestamp: i64,
    #[serde(default)]
    pub payload: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
}

/// Seed 003's error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    AuthFailed,
    TokenExpired,
    InsufficientPermissions,
    AgentNotFound,
    AgentSpawnFailed,
    AgentLimitExceeded,
    AgentCommandTimeout,
    ResourceExhausted,
    ServiceUnavailable,
    InternalError,
    InvalidMessage,
    UnsupportedType,
    RateLimitExceeded,
}

impl ErrorCode {
    pub const fn number(self) -> u16 {
        match self {
            ErrorCode::AuthFailed => 1001,
            ErrorCode::TokenExpired => 1002,
            ErrorCode::InsufficientPermissions => 1003,
            ErrorCode::AgentNotFound => 2001,
            ErrorCode::AgentSpawnFailed => 2002,
            ErrorCode::AgentLimitExceeded => 2003,
            ErrorCode::AgentCommandTimeout => 2004,
            ErrorCode::ResourceExhausted => 3001,
            ErrorCode::ServiceUnavailable => 3002,
            ErrorCode::InternalError => 3003,
            ErrorCode::InvalidMessage => 4001,
            ErrorCode::UnsupportedType => 4002,
            ErrorCode::RateLimitExceeded => 4003,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            ErrorCode::AuthFailed => "AUTH_FAILED",
            ErrorCode::TokenExpired => "TOKEN_EXPIRED",
            ErrorCode::InsufficientPermissions => "INSUFFICIENT_PERMISSIONS",
            ErrorCode::AgentNotFound => "AGENT_NOT_FOUND",
            ErrorCode::AgentSpawnFailed => "AGENT_SPAWN_FAILED",
            ErrorCode::AgentLimitExceeded => "AGENT_LIMIT_EXCEEDED",
            ErrorCode::AgentCommandTimeout => "AGENT_COMMAND_TIMEOUT",
            ErrorCode::ResourceExhausted => "RESOURCE_EXHAUSTED",
            ErrorCode::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            ErrorCode::InternalError => "INTERNAL_ERROR",
            ErrorCode::InvalidMessage => "INVALID_MESSAGE",
            ErrorCode::UnsupportedType => "UNSUPPORTED_TYPE",
            ErrorCode::RateLimitExceeded => "RATE_LIMIT_EXCEEDED",
        }
    }
}

/// Every `type` a client may send.
pub const CLIENT_TYPES: &[&str] = &[
    "auth",
    "ping",
    "pong",
    "agent:create",
    "agent:command",
    "agent:terminate",
    "agent:pause",
    "agent:resume",
    "subscribe:agent",
    "subscribe:metrics",
    "subscribe:logs",
    "unsubscribe",
];

/// The `agent:status` values.
pub mod status {
    pub const STARTING: &str = "starting";
    pub const RUNNING: &str = "running";
    pub const PAUSED: &str = "paused";
    pub const STOPPING: &str = "stopping";
    pub const STOPPED: &str = "stopped";
    pub const CRASHED: &str = "crashed";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_read_and_write_as_the_seed_has_them() {
        let e: Envelope = serde_json::from_str(
            r#"{"id":"6f9619ff-8b86-4011-b42d-00c04fc964ff","type":"agent:command","timestamp":1,
                "payload":{"agentId":"a","command":"ls"},"metadata":{"correlationId":"x"}}"#,
        )
        .unwrap();
        assert_eq!(e.kind, "agent:command");
        assert_eq!(e.metadata.unwrap().correlation_id.as_deref(), Some("x"));
        let out = Envelope {
            id: "i".into(),
            kind: "ack".into(),
            timestamp: 2,
            payload: serde_json::json!({"messageId": "m", "success": true}),
            metadata: Some(Metadata {
                correlation_id: Some("m".into()),
                ..Default::default()
            }),
        };
        assert_eq!(
            serde_json::to_value(&out).unwrap(),
            serde_json::json!({"id": "i", "type": "ack", "timestamp": 2,
                "payload": {"messageId": "m", "success": true},
                "metadata": {"correlationId": "m"}})
        );
        assert_eq!(ErrorCode::AgentNotFound.number(), 2001);
        assert_eq!(ErrorCode::RateLimitExceeded.name(), "RATE_LIMIT_EXCEEDED");
    }
}

/// Hostile input, generated: any text is an envelope or an error, never a
/// panic, and an envelope reads back as it was written.
#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;
    use crate::protocol::arb;

    const FIELDS: &[&str] = &["id", "timestamp", "payload", "metadata"];
    const HINTS: &[&str] = &["6f9619ff-8b86-4011-b42d-00c04fc964ff", "agent-1", ""];

    fn metadata() -> impl Strategy<Value = Metadata> {
        (
            prop::option::of(arb::text()),
            prop::option::of(arb::text()),
            prop::option::of(arb::text()),
        )
            .prop_map(|(correlation_id, agent_id, priority)| Metadata {
                correlation_id,
                agent_id,
                priority,
            })
    }

    fn envelope() -> impl Strategy<Value = Envelope> {
        (
            arb::text(),
            arb::text(),
            any::<i64>(),
            arb::json(),
            prop::option::of(metadata()),
        )
            .prop_map(|(id, kind, timestamp, payload, metadata)| Envelope {
                id,
                kind,
                timestamp,
                payload,
                metadata,
            })
    }

    /// An envelope read from `value` holds what `value` says. (serde
    /// reads a struct from an array too, its fields in order.)
    fn check_value(value: &Value) -> Result<(), TestCaseError> {
        let Ok(envelope) = serde_json::from_value::<Envelope>(value.clone()) else {
            return Ok(());
        };
        let field = |name: &str, index: usize| match value {
            Value::Array(items) => items.get(index).cloned(),
            other => other.get(name).cloned(),
        };
        prop_assert_eq!(field("id", 0), Some(Value::String(envelope.id.clone())));
        prop_assert_eq!(field("type", 1), Some(Value::String(envelope.kind.clone())));
        prop_assert_eq!(
            field("timestamp", 2).as_ref().and_then(Value::as_i64),
            Some(envelope.timestamp)
        );
        prop_assert_eq!(
            field("payload", 3).unwrap_or_default(),
            envelope.payload.clone()
        );
        prop_assert_eq!(
            field("metadata", 4).is_some_and(|m| !m.is_null()),
            envelope.metadata.is_some()
        );
        Ok(())
    }

    /// Any text: an envelope only from JSON (members it ignores are only
    /// skipped, so they need not be valid JSON strings, only JSON-shaped).
    fn check_text(text: &str) -> Result<(), TestCaseError> {
        if let Ok(envelope) = serde_json::from_str::<Envelope>(text) {
            let json = serde_json::from_str::<serde::de::IgnoredAny>(text);
            prop_assert!(
                json.is_ok(),
                "{text:?} is not JSON, yet read as {envelope:?}"
            );
        }
        if let Ok(value) = serde_json::from_str::<Value>(text) {
            check_value(&value)?;
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn prop_envelopes_survive_hostile_text(text in arb::hostile_text()) {
            check_text(&text)?;
        }

        #[test]
        fn prop_envelopes_survive_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            check_text(&String::from_utf8_lossy(&bytes))?;
        }

        #[test]
        fn prop_envelopes_survive_truncated_json(text in arb::truncated_json()) {
            check_text(&text)?;
        }

        #[test]
        fn prop_envelopes_hold_what_any_json_says(value in arb::json()) {
            check_value(&value)?;
        }

        #[test]
        fn prop_envelopes_hold_what_frame_like_json_says(
            value in arb::frame_like(CLIENT_TYPES, FIELDS, HINTS),
            timestamp in prop::option::of(any::<i64>()),
        ) {
            let mut value = value;
            if let Some(timestamp) = timestamp {
                value["timestamp"] = timestamp.into();
            }
            check_value(&value)?;
        }

        #[test]
        fn prop_envelopes_round_trip(envelope in envelope()) {
            let text = serde_json::to_string(&envelope).expect("an envelope serialises");
            let back: Envelope = serde_json::from_str(&text)
                .map_err(|e| TestCaseError::fail(format!("{text} does not read back: {e}")))?;
            prop_assert_eq!(&back, &envelope);
            check_text(&text)?;
        }
    }
}

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

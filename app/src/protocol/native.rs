//! The native browser dialect at `/ws`, after seed 002 (Miyabi Web UI).
//!
//! Every frame is a JSON object with a `type` field; field names are
//! camelCase; timestamps are RFC 3339 in UTC.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::UserId;

/// Largest text frame the server accepts (seed 002: "Maximum message size: 1 MB").
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// A frame sent by the browser.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
pub enum ClientMessage {
    /// Application-level heartbeat; answered by [`ServerMessage::Pong`].
    #[serde(rename = "ping")]
    Ping,
}

/// The user as the `connected` frame shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectedUser {
    pub id: UserId,
    pub username: String,
}

/// Machine-readable error codes of the `error` frame (seed 002).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// Malformed JSON, a missing `type`, an unknown `type` or bad fields.
    InvalidMessage,
    /// A subscription could not be made (unknown or forbidden stream).
    SubscriptionError,
    /// The connection sends more than its rate allows.
    RateLimit,
    /// The server failed; the details are in its log, not here.
    InternalError,
}

/// A frame sent by the server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
pub enum ServerMessage {
    /// First frame after a successful upgrade.
    #[serde(rename = "connected")]
    Connected {
        /// `conn_<uuid>`, unique per socket; appears in the server's log.
        connection_id: String,
        user: ConnectedUser,
        timestamp: DateTime<Utc>,
    },
    /// Answer to [`ClientMessage::Ping`].
    #[serde(rename = "pong")]
    Pong { timestamp: DateTime<Utc> },
    /// Something the client sent could not be handled. The connection stays
    /// open unless the problem repeats (then close 4002/4003 follows).
    #[serde(rename = "error")]
    Error {
        code: ErrorCode,
        message: String,
        timestamp: DateTime<Utc>,
    },
}

/// Why a text frame could not be read as a [`ClientMessage`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("malformed JSON: {0}")]
    Json(String),
    #[error("a message must be a JSON object with a string \"type\" field")]
    MissingType,
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    #[error("invalid {kind:?} message: {reason}")]
    InvalidFields { kind: String, reason: String },
}

impl ClientMessage {
    /// Decodes a text frame, telling apart the ways it can be wrong so that
    /// the `error` frame says something useful.
    pub fn decode(text: &str) -> Result<Self, DecodeError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| DecodeError::Json(e.to_string()))?;
        let kind = value
            .get("type")
            .and_then(|t| t.as_str())
            .ok_or(DecodeError::MissingType)?
            .to_owned();
        if !Self::KNOWN_TYPES.contains(&kind.as_str()) {
            return Err(DecodeError::UnknownType(kind));
        }
        serde_json::from_value(value).map_err(|e| DecodeError::InvalidFields {
            kind,
            reason: e.to_string(),
        })
    }

    /// Every `type` a client may send.
    pub const KNOWN_TYPES: &'static [&'static str] = &["ping"];
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ping_decodes() {
        assert_eq!(
            ClientMessage::decode(r#"{"type":"ping"}"#),
            Ok(ClientMessage::Ping)
        );
    }

    #[test]
    fn bad_frames_say_what_is_wrong() {
        assert!(matches!(
            ClientMessage::decode("{nope"),
            Err(DecodeError::Json(_))
        ));
        assert_eq!(
            ClientMessage::decode("[1,2]"),
            Err(DecodeError::MissingType)
        );
        assert_eq!(
            ClientMessage::decode(r#"{"type":7}"#),
            Err(DecodeError::MissingType)
        );
        assert_eq!(
            ClientMessage::decode(r#"{"type":"launch"}"#),
            Err(DecodeError::UnknownType("launch".into()))
        );
    }

    #[test]
    fn server_frames_use_seed_field_names() {
        let ts: DateTime<Utc> = "2025-10-22T10:00:00Z".parse().unwrap();
        let id = UserId("550e8400-e29b-41d4-a716-446655440000".parse().unwrap());
        let connected = ServerMessage::Connected {
            connection_id: "conn_1".into(),
            user: ConnectedUser {
                id,
                username: "ada".into(),
            },
            timestamp: ts,
        };
        assert_eq!(
            serde_json::to_value(&connected).unwrap(),
            json!({
                "type": "connected",
                "connectionId": "conn_1",
                "user": {"id": "550e8400-e29b-41d4-a716-446655440000", "username": "ada"},
                "timestamp": "2025-10-22T10:00:00Z"
            })
        );
        let err = ServerMessage::Error {
            code: ErrorCode::InvalidMessage,
            message: "x".into(),
            timestamp: ts,
        };
        assert_eq!(
            serde_json::to_value(&err).unwrap(),
            json!({"type": "error", "code": "INVALID_MESSAGE", "message": "x",
                   "timestamp": "2025-10-22T10:00:00Z"})
        );
        assert_eq!(
            serde_json::to_value(ServerMessage::Pong { timestamp: ts }).unwrap(),
            json!({"type": "pong", "timestamp": "2025-10-22T10:00:00Z"})
        );
    }
}

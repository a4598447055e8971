//! The envelope every message travels in, and how a connection answers:
//! `ack`s, refusals (an `ack` and an `agent:error`), fresh messages.

use app::protocol::team_dashboard::{status, Envelope, ErrorCode, Metadata};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::conn::Out;
use super::follow::Ctl;
use super::Dashboard;
use crate::state::AppState;
use std::sync::Arc;

/// What every task of one connection needs.
#[derive(Clone)]
pub struct Ctx {
    pub state: AppState,
    pub dash: Arc<Dashboard>,
    pub out: mpsc::Sender<Out>,
    pub ctl: mpsc::Sender<Ctl>,
}

impl Ctx {
    pub async fn send(&self, envelope: Envelope) -> bool {
        self.out
            .send(Out::Message {
                text: serde_json::to_string(&envelope).unwrap_or_default(),
                mark: None,
            })
            .await
            .is_ok()
    }

    pub async fn ack(&self, id: Option<&str>, extra: Value) -> bool {
        let mut payload = json!({"messageId": id, "success": true});
        merge(&mut payload, extra);
        self.send(message("ack", payload, id, None)).await
    }

    /// The refusing `ack`, and the `agent:error` the original server's
    /// tests expect beside it.
    pub async fn refuse(
        &self,
        id: Option<&str>,
        agent: Option<&str>,
        code: ErrorCode,
        text: impl Into<String>,
    ) -> bool {
        let text = text.into();
        let ack = json!({"messageId": id, "success": false, "error": code.name(),
                         "code": code.number(), "message": text});
        let mut error = json!({"error": {"code": code.number().to_string(),
                                         "name": code.name(), "message": text}});
        if let Some(agent) = agent {
            error["agentId"] = json!(agent);
        }
        self.send(message("ack", ack, id, None)).await
            && self
                .send(message("agent:error", error, id, agent.map(str::to_string)))
                .await
    }
}

fn merge(into: &mut Value, extra: Value) {
    if let (Some(into), Value::Object(extra)) = (into.as_object_mut(), extra) {
        into.extend(extra);
    }
}

/// A fresh message (random id, now).
pub fn message(
    kind: &str,
    payload: Value,
    correlation: Option<&str>,
    agent: Option<String>,
) -> Envelope {
    let metadata = (correlation.is_some() || agent.is_some()).then(|| Metadata {
        correlation_id: correlation.map(str::to_string),
        agent_id: agent,
        priority: None,
    });
    Envelope {
        id: uuid::Uuid::new_v4().to_string(),
        kind: kind.into(),
        timestamp: chrono::Utc::now().timestamp_millis(),
        payload,
        metadata,
    }
}

/// A client message, read leniently: fields from `payload`, or from the
/// top level where a client put them there.
pub struct Request {
    pub id: Option<String>,
    pub kind: String,
    value: Value,
}

impl Request {
    pub fn parse(text: &str) -> Result<Request, Option<String>> {
        let value: Value = serde_json::from_str(text).map_err(|_| None)?;
        let id = value.get("id").and_then(Value::as_str).map(str::to_string);
        match value.get("type").and_then(Value::as_str) {
            Some(kind) => Ok(Request {
                id,
                kind: kind.to_string(),
                value,
            }),
            None => Err(id),
        }
    }

    pub fn field(&self, name: &str) -> Option<&Value> {
        self.value
            .get("payload")
            .and_then(|p| p.get(name))
            .or_else(|| self.value.get(name))
            .filter(|v| !v.is_null())
    }

    pub fn str(&self, name: &str) -> Option<&str> {
        self.field(name).and_then(Value::as_str)
    }

    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

pub async fn invalid(ctx: &Ctx, id: Option<&str>) {
    ctx.refuse(
        id,
        None,
        ErrorCode::InvalidMessage,
        "Invalid message format: expected a JSON object with a string `type`",
    )
    .await;
}

pub async fn pong(ctx: &Ctx, request: &Request) {
    let now = chrono::Utc::now().timestamp_millis();
    ctx.send(message(
        "pong",
        json!({"timestamp": now}),
        request.id(),
        None,
    ))
    .await;
}

/// The `agent:status` Yagura sends on a terminate request (before the
/// process has gone).
pub fn stopping(agent: &str, correlation: Option<&str>) -> Envelope {
    message(
        "agent:status",
        json!({"agentId": agent, "status": status::STOPPING,
               "details": {"lastActivity": chrono::Utc::now().timestamp_millis()}}),
        correlation,
        Some(agent.to_string()),
    )
}

/// Hostile input, generated: any text is a request or a refusal (with the
/// id, when one could be read), never a panic; a field comes from
/// `payload` first, the top level second, and is never null.
#[cfg(test)]
mod props {
    use proptest::prelude::*;
    use serde_json::Map;

    use super::*;
    use crate::executions::markers::props::{json_value, text};

    /// Text that is nearly JSON.
    fn hostile_text() -> impl Strategy<Value = String> {
        const PIECES: &[&str] = &[
            "{",
            "}",
            "[",
            "]",
            ":",
            ",",
            "\"",
            "\\",
            "\\ud800",
            "null",
            "1",
            "\"id\"",
            "\"type\"",
            "\"payload\"",
            "\"auth\"",
            " ",
        ];
        let piece = prop_oneof![
            3 => prop::sample::select(PIECES).prop_map(str::to_string),
            1 => any::<char>().prop_map(String::from),
            1 => any::<String>(),
        ];
        prop::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
    }

    /// A message as a client might put it: an id and a type perhaps,
    /// fields at the top level and in `payload`.
    fn request_like() -> impl Strategy<Value = Value> {
        (
            prop::option::of(prop_oneof![text().prop_map(Value::String), json_value()]),
            prop::option::of(prop_oneof![
                prop::sample::select(TYPES).prop_map(|t| Value::String(t.into())),
                json_value(),
            ]),
            fields(),
            prop::option::of(prop_oneof![
                fields().prop_map(|f| Value::Object(f.into_iter().collect::<Map<_, _>>())),
                json_value(),
            ]),
        )
            .prop_map(|(id, kind, top, payload)| {
                let mut map: Map<String, Value> = top.into_iter().collect();
                for (key, value) in [("id", id), ("type", kind), ("payload", payload)] {
                    if let Some(value) = value {
                        map.insert(key.into(), value);
                    }
                }
                Value::Object(map)
            })
    }

    const TYPES: &[&str] = &["auth", "ping", "agent:command", "subscribe:logs"];

    /// Some of the fields a request may carry.
    fn fields() -> impl Strategy<Value = Vec<(String, Value)>> {
        let name = prop::sample::select(vec!["agentId", "command", "token", "since", "x"]);
        prop::collection::vec((name.prop_map(str::to_string), json_value()), 0..4)
    }

    fn check_text(text: &str) -> Result<(), TestCaseError> {
        let parsed = Request::parse(text);
        let Ok(value) = serde_json::from_str::<Value>(text) else {
            prop_assert!(matches!(parsed, Err(None)), "not JSON, yet read");
            return Ok(());
        };
        let id = value.get("id").and_then(Value::as_str);
        match (parsed, value.get("type").and_then(Value::as_str)) {
            (Ok(request), Some(kind)) => {
                prop_assert_eq!(request.kind.as_str(), kind);
                prop_assert_eq!(request.id(), id);
                for name in ["agentId", "command", "token", "since", "x", "id", "type"] {
                    check_field(&request, &value, name)?;
                }
            }
            (Err(refused), None) => prop_assert_eq!(refused.as_deref(), id),
            (Ok(request), None) => {
                let kind = &request.kind;
                return Err(TestCaseError::fail(format!(
                    "read a {kind:?} without a type"
                )));
            }
            (Err(_), Some(kind)) => {
                return Err(TestCaseError::fail(format!("a {kind:?} message refused")));
            }
        }
        Ok(())
    }

    fn check_field(request: &Request, value: &Value, name: &str) -> Result<(), TestCaseError> {
        let got = request.field(name);
        prop_assert!(got.is_none_or(|v| !v.is_null()), "{name} is null");
        prop_assert_eq!(request.str(name), got.and_then(Value::as_str));
        match value.get("payload").and_then(|p| p.get(name)) {
            // What `payload` holds wins, even a null (which reads as absent).
            Some(inner) => prop_assert_eq!(got, (!inner.is_null()).then_some(inner)),
            None => prop_assert_eq!(got, value.get(name).filter(|v| !v.is_null())),
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn prop_parse_survives_hostile_text(text in hostile_text()) {
            check_text(&text)?;
        }

        #[test]
        fn prop_parse_survives_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            check_text(&String::from_utf8_lossy(&bytes))?;
        }

        #[test]
        fn prop_parse_reads_any_json(value in json_value()) {
            check_text(&value.to_string())?;
        }

        #[test]
        fn prop_parse_reads_requests(value in request_like()) {
            check_text(&value.to_string())?;
        }
    }
}

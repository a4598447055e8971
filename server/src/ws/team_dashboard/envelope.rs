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

//! `agent:*` requests: an agent is an execution of a Yagura agent
//! definition, its `agentId` the execution's id.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use app::api::ApiError;
use app::model::{EventBody, Execution, ExecutionId, User};
use app::protocol::team_dashboard::{ErrorCode, COMMANDS_PER_SECOND};
use serde_json::{json, Value};
use tokio::time::Instant;

use super::envelope::{message, stopping, Ctx, Request};
use super::follow::Ctl;
use super::session::Session;
use crate::events::subscription::ExecutionStream;
use crate::executions::Origin;

/// How long `agent:create` waits for the process to start before it
/// answers anyway (the agent is queued).
const START_WAIT: Duration = Duration::from_secs(10);

/// The agent `raw` names (an execution id), if there is one.
pub async fn find_agent(ctx: &Ctx, raw: &str) -> Option<Execution> {
    let id: ExecutionId = raw.trim().parse().ok()?;
    ctx.state.executions.get(id).await.ok()
}

/// `agent:create {name, model, workspace, environment?, resourceLimits?}`.
pub async fn create(ctx: Ctx, session: Arc<Session>, user: User, request: Request) {
    let id = request.id();
    let refuse = |code: ErrorCode, text: String| {
        let ctx = ctx.clone();
        async move { ctx.refuse(id, None, code, text).await }
    };
    let Some(name) = request.str("name") else {
        refuse(
            ErrorCode::InvalidMessage,
            "agent:create needs payload.name (an agent definition's name or id)".into(),
        )
        .await;
        return;
    };
    let definition = match crate::agents::find(&ctx.state.db, name).await {
        Ok(Some(agent)) => agent,
        Ok(None) => {
            refuse(
                ErrorCode::AgentSpawnFailed,
                format!("there is no agent definition named {name:?}"),
            )
            .await;
            return;
        }
        Err(_) => {
            refuse(
                ErrorCode::InternalError,
                "reading agent definitions failed".into(),
            )
            .await;
            return;
        }
    };
    let origin = Origin {
        env: environment(request.field("environment")),
        model: request.str("model").map(str::to_string),
        workspace: match request.str("workspace") {
            Some(w) => workspace(&ctx, w).await,
            None => None,
        },
        memory_limit_mb: request
            .field("resourceLimits")
            .and_then(|r| r.get("memory"))
            .and_then(Value::as_f64)
            .filter(|m| *m >= 1.0)
            .map(|m| m as u64),
        ..Origin::default()
    };
    let prompt = request.str("prompt").unwrap_or_default().to_string();
    let execution = match ctx
        .state
        .executions
        .create(&definition, prompt, &user.username, &origin)
        .await
    {
        Ok(e) => e,
        Err(e) => {
            refuse(ErrorCode::AgentSpawnFailed, e.to_string()).await;
            return;
        }
    };
    let agent = execution.id;
    session.state().created.insert(agent);
    let mut stream = ExecutionStream::open(&ctx.state.hub, ctx.state.db.clone(), agent, 0);
    let mut read = VecDeque::new();
    let deadline = Instant::now() + START_WAIT;
    // (pid, start time) once started; `Err` with the reason if it ended first.
    let started: Result<(Option<u32>, i64), String> = loop {
        let next = tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break Ok((None, execution.created_at)),
            next = stream.next() => next,
        };
        let event = match next {
            Ok(Some(event)) => event,
            Ok(None) => break Err("the server is shutting down".into()),
            Err(_) => break Err("reading the agent's events failed".into()),
        };
        read.push_back(event.clone());
        match &event.event.body {
            EventBody::Started { pid, .. } => break Ok((*pid, event.event.at_ms)),
            EventBody::Finished { error_message, .. } => {
                break Err(error_message
                    .clone()
                    .unwrap_or_else(|| "the agent ended before it started".into()))
            }
            _ => {}
        }
    };
    match started {
        Ok((pid, start_time)) => {
            let agent_id = agent.to_string();
            ctx.ack(id, json!({"agentId": agent_id})).await;
            ctx.send(message(
                "agent:created",
                json!({"agentId": agent_id, "name": definition.name,
                       "pid": pid, "startTime": start_time}),
                id,
                Some(agent_id.clone()),
            ))
            .await;
            let _ = ctx.ctl.send(Ctl::Adopt(agent, stream, read)).await;
        }
        Err(reason) => {
            session.state().created.remove(&agent);
            refuse(
                ErrorCode::AgentSpawnFailed,
                format!("agent {agent} could not start: {reason}"),
            )
            .await;
        }
    }
}

/// `environment`: string values as they are, others as JSON text.
fn environment(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|vars| {
            vars.iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), v)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The repository `workspace` names (its id, name or GitHub `owner/name`);
/// anything else means a fresh work directory.
async fn workspace(ctx: &Ctx, workspace: &str) -> Option<app::model::RepositoryId> {
    let repositories = ctx.state.repositories.list(false).await.ok()?;
    repositories
        .into_iter()
        .find(|r| {
            r.id.to_string() == workspace
                || r.name == workspace
                || r.github.as_deref() == Some(workspace)
        })
        .map(|r| r.id)
}

/// `agent:command`, `agent:pause`, `agent:resume`, `agent:terminate`.
pub async fn control(ctx: &Ctx, session: &Session, request: &Request) {
    let id = request.id();
    let Some(raw) = request.str("agentId") else {
        ctx.refuse(
            id,
            None,
            ErrorCode::InvalidMessage,
            format!("{} needs payload.agentId", request.kind),
        )
        .await;
        return;
    };
    let not_found = || {
        ctx.refuse(
            id,
            Some(raw),
            ErrorCode::AgentNotFound,
            format!("Agent {raw} not found"),
        )
    };
    let Some(execution) = find_agent(ctx, raw)
        .await
        .filter(|e| !e.status.is_terminal())
    else {
        not_found().await;
        return;
    };
    let agent = execution.id;
    if !session.allow_command(agent, Instant::now()) {
        ctx.refuse(
            id,
            Some(raw),
            ErrorCode::RateLimitExceeded,
            format!("more than {COMMANDS_PER_SECOND} commands per second for agent {raw}"),
        )
        .await;
        return;
    }
    let executions = &ctx.state.executions;
    let done = match request.kind.as_str() {
        "agent:command" => {
            let Some(command) = request.str("command") else {
                ctx.refuse(
                    id,
                    Some(raw),
                    ErrorCode::InvalidMessage,
                    "agent:command needs payload.command (a string)",
                )
                .await;
                return;
            };
            let mut line = command.to_string();
            if !line.ends_with('\n') {
                line.push('\n');
            }
            executions.stdin(agent, line, false).await
        }
        "agent:pause" => executions.pause(agent).await,
        "agent:resume" => executions.resume(agent).await,
        _ => {
            let force = request
                .field("force")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            executions.stop(agent, force).await
        }
    };
    match done {
        Ok(()) => {
            ctx.ack(id, json!({"agentId": raw})).await;
            if request.kind == "agent:terminate" {
                ctx.send(stopping(raw, id)).await;
            }
        }
        Err(ApiError::NotFound) => {
            not_found().await;
        }
        Err(ApiError::Invalid(text)) => {
            ctx.refuse(id, Some(raw), ErrorCode::InvalidMessage, text)
                .await;
        }
        Err(ApiError::Conflict(text)) => {
            // It ended meanwhile, or it cannot do that now (still queued,
            // or on a runner that does not take input).
            let ended = executions
                .get(agent)
                .await
                .map_or(true, |e| e.status.is_terminal());
            if ended {
                not_found().await;
            } else {
                ctx.refuse(id, Some(raw), ErrorCode::ServiceUnavailable, text)
                    .await;
            }
        }
        Err(e) => {
            tracing::error!(%agent, error = %e, "controlling an agent");
            ctx.refuse(id, Some(raw), ErrorCode::InternalError, e.to_string())
                .await;
        }
    }
}

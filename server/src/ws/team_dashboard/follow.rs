//! Agents' messages on their way to one connection: a follower per agent
//! reads its events (stored first, then live, each once) and writes the
//! messages the session wants and has not seen; a discoverer finds the
//! agents an all-agents subscription covers.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use app::model::{EventBody, ExecutionId};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::conn::Out;
use super::envelope::Ctx;
use super::feed;
use super::session::{Cursor, Session};
use crate::db;
use crate::events::subscription::ExecutionStream;
use crate::events::Published;
use crate::executions::Executions;

/// What a connection's tasks ask of it.
pub enum Ctl {
    /// An agent an all-agents subscription covers; follow it after this seq.
    Discovered(ExecutionId, u64),
    /// Follow an agent just created, from this stream, after these events
    /// (read while waiting for it to start).
    Adopt(ExecutionId, ExecutionStream, VecDeque<Arc<Published>>),
}

/// Follows one agent until it ends, `stop` is cancelled, or the session
/// no longer follows it. `lookup`, when given, finds when the agent
/// started (for `uptime`) if its `started` event is not among those read.
pub async fn run(
    ctx: Ctx,
    session: Arc<Session>,
    agent: ExecutionId,
    mut stream: ExecutionStream,
    mut pending: VecDeque<Arc<Published>>,
    stop: CancellationToken,
    lookup: Option<Executions>,
) {
    let mut started_at = match lookup {
        Some(executions) => executions.get(agent).await.ok().and_then(|e| e.started_at),
        None => None,
    };
    loop {
        let event = match pending.pop_front() {
            Some(event) => event,
            None => {
                let next = tokio::select! {
                    _ = stop.cancelled() => return,
                    next = stream.next() => next,
                };
                match next {
                    Ok(Some(event)) => event,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::error!(%agent, error = %e, "reading an agent's stored events");
                        break;
                    }
                }
            }
        };
        if stop.is_cancelled() {
            return;
        }
        if !session.follows(agent) {
            break;
        }
        if matches!(event.event.body, EventBody::Started { .. }) {
            started_at = Some(event.event.at_ms);
        }
        for (n, made) in feed::messages(&event.event, started_at)
            .into_iter()
            .enumerate()
        {
            let cursor = Cursor {
                seq: event.seq(),
                n: n as u8,
            };
            if session.delivered(agent, cursor) || !session.wants(agent, made.kind, made.stream) {
                continue;
            }
            let text = serde_json::to_string(&made.envelope).unwrap_or_default();
            let sent = ctx
                .out
                .send(Out::Message {
                    text,
                    mark: Some((agent, cursor)),
                })
                .await;
            if sent.is_err() {
                return;
            }
        }
        if event.is_terminal() {
            break;
        }
    }
    // Ended: the connection may follow the agent afresh later.
    stop.cancel();
}

/// Reports every agent with events since `since_ms`, then every agent
/// that has a new lifecycle event, to the connection (which follows each
/// once).
pub async fn discover(ctx: Ctx, since_ms: i64, stop: CancellationToken) {
    // Registered before the store is read: nothing falls between.
    let mut rx = ctx.state.hub.subscribe_lifecycle();
    let mut seen: HashSet<ExecutionId> = HashSet::new();
    if !catch_up(&ctx, since_ms, &mut seen).await {
        return;
    }
    loop {
        let next = tokio::select! {
            _ = stop.cancelled() => return,
            next = rx.recv() => next,
        };
        match next {
            Ok(event) => {
                let agent = event.execution_id();
                if seen.insert(agent)
                    && ctx
                        .ctl
                        .send(Ctl::Discovered(agent, event.seq().saturating_sub(1)))
                        .await
                        .is_err()
                {
                    return;
                }
            }
            Err(RecvError::Lagged(_)) => {
                // Missed some: ask the store what moved lately.
                let since = chrono::Utc::now().timestamp_millis() - 60_000;
                seen.clear();
                if !catch_up(&ctx, since, &mut seen).await {
                    return;
                }
            }
            Err(RecvError::Closed) => return,
        }
    }
}

async fn catch_up(ctx: &Ctx, since_ms: i64, seen: &mut HashSet<ExecutionId>) -> bool {
    let rows = match db::executions::active_since(&ctx.state.db, since_ms).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::error!(error = %e, "listing active agents");
            return true;
        }
    };
    for (id, before) in rows {
        let Ok(agent) = id.parse::<ExecutionId>() else {
            continue;
        };
        seen.insert(agent);
        if ctx
            .ctl
            .send(Ctl::Discovered(agent, before.max(0) as u64))
            .await
            .is_err()
        {
            return false;
        }
    }
    true
}

//! `/ws/ktcp`: the runner dialect (seed 000, keruta KTCP).
//!
//! The first frame must be `authenticate`. With a runner token and
//! `clientType: "provider"` the socket is a runner: it gets `auth_success
//! {providerId}`, heartbeats renew its leases, `task_execute` / `task_cancel`
//! go out, and its task reports come in; each report is applied once (by
//! its `seq`) and acknowledged after it is committed. With a user's token
//! and `clientType: "client"` the socket may use the task operations
//! (`task_create`, `task_read`, `task_update`, `task_delete`, `task_list`),
//! authorised like the REST API. Anything else gets `generic_error` and
//! close 4001.

mod reports;
mod tasks;

use reports::{lose, report, TaskState};

use std::collections::HashMap;
use std::time::Duration;

use crate::auth::Principal;
use app::model::ExecutionId;
use app::protocol::{
    close,
    ktcp::{CancelData, ClientFrame, ServerFrame},
};
use axum::{
    extract::{
        ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade},
        State,
    },
    response::Response,
};
use chrono::Utc;
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::db::{self, runners as store};
use crate::runners::Connected;
use crate::state::AppState;

/// Time allowed for the `authenticate` frame.
const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// How often committed reports are acknowledged.
const ACK_INTERVAL: Duration = Duration::from_millis(50);
/// Largest frame accepted from a runner (a log line is at most 64 KiB).
const MAX_FRAME: usize = 1 << 20;

pub async fn upgrade(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    let guard = state.tasks.token();
    ws.max_message_size(MAX_FRAME)
        .max_frame_size(MAX_FRAME)
        .on_upgrade(move |socket| async move {
            let _guard = guard;
            session(socket, state).await
        })
}

fn text(frame: &ServerFrame) -> Message {
    Message::Text(serde_json::to_string(frame).unwrap_or_default().into())
}

async fn refuse(socket: &mut WebSocket, code: &str, message: &str) {
    let _ = socket
        .send(text(&ServerFrame::error(None, code, message)))
        .await;
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code: close::UNAUTHORIZED,
            reason: Utf8Bytes::from(message.chars().take(100).collect::<String>()),
        })))
        .await;
}

async fn session(mut socket: WebSocket, state: AppState) {
    let first = tokio::time::timeout(AUTH_TIMEOUT, socket.next()).await;
    let hello = match first {
        Ok(Some(Ok(Message::Text(t)))) => serde_json::from_str::<ClientFrame>(t.as_str()).ok(),
        _ => None,
    };
    let Some(ClientFrame::Authenticate {
        token,
        client_type,
        client_version,
        capabilities,
        name,
        concurrency,
        running_tasks,
    }) = hello
    else {
        refuse(
            &mut socket,
            "AUTH_REQUIRED",
            "the first message must be authenticate",
        )
        .await;
        return;
    };
    match client_type.as_str() {
        "provider" => {
            let Ok(token_row) = state.runners.check_token(&token).await else {
                refuse(
                    &mut socket,
                    "AUTH_FAILED",
                    "invalid or revoked runner token",
                )
                .await;
                return;
            };
            let hello = Hello {
                token_id: token_row.id,
                name: name.unwrap_or_else(|| "runner".into()),
                version: client_version,
                capabilities,
                concurrency: concurrency.unwrap_or(1).clamp(1, 256),
                running_tasks,
            };
            provider(socket, state, hello).await;
        }
        "client" => {
            let Ok(principal) = state.auth.authenticate(&state.db, &token).await else {
                refuse(&mut socket, "AUTH_FAILED", "invalid or expired token").await;
                return;
            };
            client(socket, state, principal).await;
        }
        other => {
            refuse(
                &mut socket,
                "AUTH_FAILED",
                &format!("unknown clientType {other:?} (provider or client)"),
            )
            .await;
        }
    }
}

struct Hello {
    token_id: String,
    name: String,
    version: String,
    capabilities: Vec<String>,
    concurrency: u32,
    running_tasks: Vec<String>,
}

async fn provider(socket: WebSocket, state: AppState, hello: Hello) {
    let runners = state.runners.clone();
    let now = db::now_ms();
    let name = hello.name.chars().take(64).collect::<String>();
    let runner_id = match store::upsert_online(
        &state.db,
        &store::RunnerRow {
            id: uuid::Uuid::new_v4().to_string(),
            token_id: hello.token_id.clone(),
            name: name.clone(),
            capabilities: crate::db::Json(hello.capabilities.clone()),
            version: hello.version.clone(),
            concurrency: i64::from(hello.concurrency),
            online: true,
            connected_at: Some(now),
            last_heartbeat_at: Some(now),
        },
    )
    .await
    {
        Ok(id) => id,
        Err(e) => {
            tracing::error!(error = %e, "cannot record a runner");
            let mut socket = socket;
            refuse(
                &mut socket,
                "INTERNAL_ERROR",
                "the server could not register the runner",
            )
            .await;
            return;
        }
    };
    // Attached to the session's future, never held entered across an await.
    let span = tracing::info_span!("runner", runner = %name, id = %runner_id);
    provider_session(socket, state, hello, runners, name, runner_id)
        .instrument(span)
        .await
}

async fn provider_session(
    socket: WebSocket,
    state: AppState,
    hello: Hello,
    runners: crate::runners::Runners,
    name: String,
    runner_id: String,
) {
    let now = db::now_ms();
    let connection = uuid::Uuid::new_v4().to_string();
    let kick = crate::runners::Kick::default();
    let (tx, mut outbound) = mpsc::channel::<ServerFrame>(crate::runners::RUNNER_QUEUE);
    let (mut sink, mut stream) = socket.split();

    let welcome = ServerFrame::AuthSuccess {
        provider_id: runner_id.clone(),
        timestamp: Utc::now(),
    };
    if sink.send(text(&welcome)).await.is_err() {
        return;
    }
    // Renew its leases at once, then settle what it says it is running
    // against what the store says it holds.
    let _ = store::heartbeat(&state.db, &runner_id, now, runners.lease_until()).await;
    let held = store::held_by(&state.db, &runner_id)
        .await
        .unwrap_or_default();
    for task in &hello.running_tasks {
        if !held.contains(task) {
            let cancel = ServerFrame::TaskCancel {
                task_id: task.clone(),
                data: CancelData {
                    reason: "this task is no longer assigned to this runner (its lease ran out or it was cancelled)".into(),
                    force: true,
                },
                timestamp: Utc::now(),
            };
            if sink.send(text(&cancel)).await.is_err() {
                return;
            }
        }
    }
    let mut tasks: HashMap<ExecutionId, TaskState> = HashMap::new();
    for task in held.iter().filter(|t| !hello.running_tasks.contains(t)) {
        // Assigned to it, but it does not have it: the runner restarted
        // (or never got it). Reports it still has in its outbox would have
        // come with the task in `runningTasks`, so nothing more will come.
        if let Ok(id) = task.parse::<ExecutionId>() {
            if let Ok(Some((_, applied, status))) = store::remote_state(&state.db, task).await {
                if status == app::model::ExecutionStatus::Queued && applied == 0 {
                    // Never started there: give it back to the queue.
                    state.runners.unclaim(id).await;
                    continue;
                }
            }
            lose(
                &state,
                id,
                format!("runner {name} reconnected without this task (it restarted)"),
            )
            .await;
        }
    }
    runners.register(Connected {
        id: runner_id.clone(),
        name: name.clone(),
        token_id: hello.token_id.clone(),
        capabilities: hello.capabilities.clone(),
        concurrency: hello.concurrency,
        tx,
        kick: kick.clone(),
        connection: connection.clone(),
    });
    state.executions.wake();
    tracing::info!(capabilities = ?hello.capabilities, concurrency = hello.concurrency, "runner online");

    let mut pending: HashMap<ExecutionId, u64> = HashMap::new();
    let mut ack_tick = tokio::time::interval(ACK_INTERVAL);
    let silence = runners.config().lease;
    let mut last_heard = tokio::time::Instant::now();
    let end: Option<(u16, &str)> = loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => break Some((close::GOING_AWAY, "server shutting down")),
            why = kick.kicked() => break Some(why),
            _ = tokio::time::sleep_until(last_heard + silence) => break Some((1000, "no heartbeat")),
            frame = outbound.recv() => {
                let Some(frame) = frame else { break None };
                if let ServerFrame::TaskExecute { task_id, .. } = &frame {
                    // Given (again) to this runner: what was known of the
                    // task on this connection (e.g. "not yours") is void.
                    if let Ok(id) = task_id.parse::<ExecutionId>() {
                        tasks.remove(&id);
                    }
                }
                if sink.send(text(&frame)).await.is_err() {
                    break None;
                }
            }
            _ = ack_tick.tick(), if !pending.is_empty() => {
                // Everything queued so far is committed once this returns.
                if state.executions.writer().flush().await.is_err() {
                    break Some((1011, "event store unavailable"));
                }
                let mut failed = false;
                for (task, seq) in pending.drain() {
                    let ack = ServerFrame::Ack { task_id: task.to_string(), seq };
                    if sink.send(text(&ack)).await.is_err() {
                        failed = true;
                        break;
                    }
                }
                if failed {
                    break None;
                }
            }
            incoming = stream.next() => {
                let frame = match incoming {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break None,
                    Some(Ok(_)) => { last_heard = tokio::time::Instant::now(); continue }
                };
                last_heard = tokio::time::Instant::now();
                let frame = match serde_json::from_str::<ClientFrame>(frame.as_str()) {
                    Ok(f) => f,
                    Err(e) => {
                        let mut err = ServerFrame::error(None, "INVALID_MESSAGE", format!("cannot read the message: {e}"));
                        // Say which task's report it was, so the provider knows.
                        if let ServerFrame::GenericError { task_id, .. } = &mut err {
                            *task_id = serde_json::from_str::<serde_json::Value>(frame.as_str())
                                .ok()
                                .and_then(|v| v.get("taskId")?.as_str().map(str::to_string));
                        }
                        if sink.send(text(&err)).await.is_err() {
                            break None;
                        }
                        continue;
                    }
                };
                match &frame {
                    ClientFrame::Heartbeat { .. } => {
                        let now = db::now_ms();
                        if let Err(e) = store::heartbeat(&state.db, &runner_id, now, runners.lease_until()).await {
                            tracing::error!(error = %e, "cannot renew leases");
                        }
                    }
                    _ => {
                        if let Some((task, seq)) = frame.report() {
                            let reply = report(&state, (&runner_id, &name), &mut tasks, &mut pending, task, seq, &frame).await;
                            if let Some(reply) = reply {
                                if sink.send(text(&reply)).await.is_err() {
                                    break None;
                                }
                            }
                        } else {
                            let err = ServerFrame::error(None, "NOT_ALLOWED", "a runner sends heartbeats and task reports; task operations need a user's token (clientType client)");
                            if sink.send(text(&err)).await.is_err() {
                                break None;
                            }
                        }
                    }
                }
            }
        }
    };
    // Acknowledge what was applied before leaving, so it is not sent again.
    if !pending.is_empty() && state.executions.writer().flush().await.is_ok() {
        for (task, seq) in pending.drain() {
            let _ = sink
                .send(text(&ServerFrame::Ack {
                    task_id: task.to_string(),
                    seq,
                }))
                .await;
        }
    }
    if let Some((code, reason)) = end {
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code,
                reason: Utf8Bytes::from_static(reason),
            })))
            .await;
    }
    runners.unregister(&runner_id, &connection).await;
    tracing::info!("runner offline");
}

/// A user's socket: the task operations of seed 000. Each operation runs
/// on its own (a slow one holds up no other; answers carry their
/// `requestId`); the socket closes when the user's credential is revoked.
async fn client(socket: WebSocket, state: AppState, principal: Principal) {
    let (mut sink, mut stream) = socket.split();
    let welcome = ServerFrame::AuthSuccess {
        provider_id: format!("client_{}", principal.user.id),
        timestamp: Utc::now(),
    };
    if sink.send(text(&welcome)).await.is_err() {
        return;
    }
    let registration = state
        .auth
        .connections
        .register(&principal, crate::auth::connections::Dialect::Ktcp);
    let (tx, mut rx) = mpsc::channel::<ServerFrame>(64);
    let writer = tokio::spawn(
        async move {
            while let Some(frame) = rx.recv().await {
                let close = matches!(frame, ServerFrame::GenericError { ref data, .. } if data.error_code == "AUTH_REVOKED");
                if sink.send(text(&frame)).await.is_err() {
                    return;
                }
                if close {
                    let _ = sink
                        .send(Message::Close(Some(CloseFrame {
                            code: close::UNAUTHORIZED,
                            reason: Utf8Bytes::from_static("credential revoked"),
                        })))
                        .await;
                    return;
                }
            }
            let _ = sink
                .send(Message::Close(Some(CloseFrame {
                    code: close::GOING_AWAY,
                    reason: Utf8Bytes::from_static("server shutting down"),
                })))
                .await;
        }
        .in_current_span(),
    );
    let user = principal.user;
    loop {
        let frame = tokio::select! {
            _ = state.shutdown.cancelled() => break,
            _ = registration.ended.cancelled() => {
                let _ = tx.send(ServerFrame::error(None, "AUTH_REVOKED", "the credential of this connection was revoked")).await;
                break;
            }
            frame = stream.next() => frame,
        };
        let text_frame = match frame {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
            Some(Ok(_)) => continue,
        };
        match serde_json::from_str::<ClientFrame>(text_frame.as_str()) {
            Ok(frame) => {
                let (state, user, tx) = (state.clone(), user.clone(), tx.clone());
                tokio::spawn(
                    async move {
                        if let Some(reply) = tasks::handle(&state, &user, frame).await {
                            let _ = tx.send(reply).await;
                        }
                    }
                    .in_current_span(),
                );
            }
            Err(e) => {
                let reply = ServerFrame::error(
                    None,
                    "INVALID_MESSAGE",
                    format!("cannot read the message: {e}"),
                );
                if tx.send(reply).await.is_err() {
                    break;
                }
            }
        }
    }
    drop(tx);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), writer).await;
}

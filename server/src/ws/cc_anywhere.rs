//! `/ws/cc-anywhere`: the CC-Anywhere dialect (seed 001). Also reached at
//! `/ws` by a first frame `{"type":"auth","payload":{"apiKey":…}}`.
//!
//! - The first message must be `auth` with an API key (a session token is
//!   accepted too): `auth:success`. A wrong key gets `error
//!   INVALID_API_KEY` and close 1008; any other message before it gets
//!   `error AUTH_REQUIRED` (the socket stays open); nothing within the
//!   auth timeout gets `error AUTH_TIMEOUT` and close 1008.
//! - `subscribe {taskId}` (a task is an execution): `subscribe:success`,
//!   then the task's stored `task:update`s and `task:log`s, then live ones,
//!   each once. `unsubscribe`: `unsubscribe:success` (also when there was
//!   none). A client hears only about the tasks it subscribed to.
//! - `ping` gets `pong {timestamp}` (the server's epoch ms); the server
//!   sends WebSocket pings every heartbeat interval and closes a socket it
//!   heard nothing from for the heartbeat timeout.
//! - Errors are `error {message, code}` frames; the socket stays open.

use std::collections::HashMap;
use std::sync::Arc;

use app::model::ExecutionId;
use app::protocol::cc_anywhere::{code, ClientMessage, ServerMessage};
use app::protocol::native::MAX_MESSAGE_BYTES;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::slot;
use super::socket::{self, close_frame, RateLimit};
use crate::auth::policy::{authorize, Op};
use crate::auth::Principal;
use crate::events::{subscription::ExecutionStream, Published};
use crate::state::AppState;

/// Frames waiting for one socket's writer.
const OUTBOUND_QUEUE: usize = 256;
/// Messages a client may send per second; more get RATE_LIMIT_EXCEEDED.
const MESSAGES_PER_SECOND: u32 = 100;
/// Tasks one socket may follow at once.
const MAX_SUBSCRIPTIONS: usize = 100;
/// Close code for policy violations (bad key, no auth in time).
const POLICY: u16 = 1008;

pub async fn upgrade(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    let guard = state.tasks.token();
    socket::configure(ws, MAX_MESSAGE_BYTES).on_upgrade(move |socket| async move {
        let _guard = guard;
        serve(socket, state, None).await
    })
}

fn frame(msg: &ServerMessage) -> Message {
    socket::text(serde_json::to_string(msg).unwrap_or_default())
}

/// Runs one CC-Anywhere socket; `first` is a first frame already read (on
/// `/ws`).
pub async fn serve(socket: WebSocket, state: AppState, first: Option<serde_json::Value>) {
    let span = tracing::info_span!("cc_anywhere", connection = %uuid::Uuid::new_v4());
    run(socket, state, first).instrument(span).await
}

async fn run(socket: WebSocket, state: AppState, first: Option<serde_json::Value>) {
    let cfg = state.config.cc_anywhere.clone();
    let (sink, mut stream) = socket.split();
    let (tx, rx) = mpsc::channel::<Message>(OUTBOUND_QUEUE);
    let writer = tokio::spawn(socket::write_frames(sink, rx).in_current_span());
    let send = |msg: ServerMessage| {
        let tx = tx.clone();
        async move { tx.send(frame(&msg)).await.is_ok() }
    };

    let principal = match authenticate(&state, &mut stream, &tx, first).await {
        Ok(p) => p,
        Err(close) => {
            if let Some((code, reason)) = close {
                let _ = tx.send(close_frame(code, reason)).await;
                socket::await_close_reply(&mut stream).await;
            }
            return finish(tx, writer).await;
        }
    };
    tracing::debug!(user = %principal.user.username, "authenticated");
    let registration = state
        .auth
        .connections
        .register(&principal, crate::auth::connections::Dialect::CcAnywhere);
    if !send(ServerMessage::AuthSuccess {
        message: "Authenticated successfully".into(),
    })
    .await
    {
        return finish(tx, writer).await;
    }

    let all = CancellationToken::new();
    let mut subs: HashMap<ExecutionId, CancellationToken> = HashMap::new();
    let mut rate = RateLimit::new(MESSAGES_PER_SECOND, std::time::Duration::from_secs(1));
    let mut last_heard = Instant::now();
    let mut ping = tokio::time::interval_at(
        Instant::now() + cfg.heartbeat_interval,
        cfg.heartbeat_interval,
    );
    let end: Option<(u16, &'static str)> = loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => break Some((1001, "server shutting down")),
            _ = registration.ended.cancelled() => {
                send(ServerMessage::error(code::INVALID_API_KEY, "the API key was revoked")).await;
                break Some((POLICY, "API key revoked"));
            }
            _ = tokio::time::sleep_until(last_heard + cfg.heartbeat_timeout) => break Some((1000, "heartbeat timeout")),
            _ = ping.tick() => {
                if tx.send(Message::Ping(Default::default())).await.is_err() {
                    break None;
                }
            }
            next = stream.next() => {
                let text = match next {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(_))) | None => break None,
                    Some(Err(err)) => break socket::close_for(socket::read_failure(err)),
                    Some(Ok(Message::Binary(_))) => {
                        last_heard = Instant::now();
                        send(ServerMessage::error(code::INVALID_MESSAGE, "send JSON text frames")).await;
                        continue;
                    }
                    Some(Ok(_)) => {
                        last_heard = Instant::now();
                        continue;
                    }
                };
                last_heard = Instant::now();
                if !rate.allow(last_heard) {
                    send(ServerMessage::error(code::RATE_LIMIT_EXCEEDED, "too many messages")).await;
                    continue;
                }
                let reply = match ClientMessage::decode(text.as_str()) {
                    Err(e) => ServerMessage::error(e.code, e.message),
                    Ok(ClientMessage::Ping) => ServerMessage::Pong {
                        timestamp: chrono::Utc::now().timestamp_millis(),
                    },
                    // Authenticating again: the key must still be good
                    // (and the same user's).
                    Ok(ClientMessage::Auth { api_key }) => {
                        let again = match api_key {
                            Some(key) => state.auth.authenticate(&state.db, &key).await.ok(),
                            None => None,
                        };
                        if again.is_some_and(|p| p.user.id == principal.user.id) {
                            ServerMessage::AuthSuccess {
                                message: "Authenticated successfully".into(),
                            }
                        } else {
                            send(ServerMessage::error(code::INVALID_API_KEY, "invalid API key")).await;
                            break Some((POLICY, "invalid API key"));
                        }
                    }
                    Ok(ClientMessage::Subscribe { task_id: None })
                    | Ok(ClientMessage::Unsubscribe { task_id: None }) => {
                        ServerMessage::error(code::INVALID_SUBSCRIBE, "taskId is required")
                    }
                    Ok(ClientMessage::Unsubscribe { task_id: Some(task_id) }) => {
                        if let Some(token) = task_id.parse().ok().and_then(|id| subs.remove(&id)) {
                            token.cancel();
                        }
                        ServerMessage::UnsubscribeSuccess { task_id }
                    }
                    Ok(ClientMessage::Subscribe { task_id: Some(task_id) }) => {
                        match subscribe(&state, &tx, &all, &mut subs, &task_id).await {
                            Some(reply) => reply,
                            None => continue,
                        }
                    }
                };
                if !send(reply).await {
                    break None;
                }
            }
        }
    };
    all.cancel();
    if let Some((code, reason)) = end {
        let _ = tx.send(close_frame(code, reason)).await;
        socket::await_close_reply(&mut stream).await;
    }
    finish(tx, writer).await
}

/// The authentication phase: the first `auth` message, within the
/// timeout. On failure, the close frame to send (none when the client left).
async fn authenticate(
    state: &AppState,
    stream: &mut futures::stream::SplitStream<WebSocket>,
    tx: &mpsc::Sender<Message>,
    first: Option<serde_json::Value>,
) -> Result<Principal, Option<(u16, &'static str)>> {
    let send = |msg: ServerMessage| async move { tx.send(frame(&msg)).await.is_ok() };
    let deadline = Instant::now() + state.config.cc_anywhere.auth_timeout;
    let mut pending_first = first;
    loop {
        let message = match pending_first.take() {
            Some(value) => ClientMessage::from_value(&value),
            None => {
                let next = tokio::select! {
                    _ = state.shutdown.cancelled() => return Err(Some((1001, "server shutting down"))),
                    _ = tokio::time::sleep_until(deadline) => {
                        send(ServerMessage::error(code::AUTH_TIMEOUT, "authenticate within the time allowed")).await;
                        return Err(Some((POLICY, "authentication timeout")));
                    }
                    next = stream.next() => next,
                };
                match next {
                    Some(Ok(Message::Text(text))) => ClientMessage::decode(text.as_str()),
                    Some(Ok(Message::Close(_))) | None => return Err(None),
                    Some(Err(err)) => return Err(socket::close_for(socket::read_failure(err))),
                    Some(Ok(_)) => continue,
                }
            }
        };
        match message {
            Ok(ClientMessage::Auth { api_key: Some(key) }) => {
                match state.auth.authenticate(&state.db, &key).await {
                    Ok(p) if authorize(&p.user, Op::Subscribe).is_ok() => return Ok(p),
                    _ => {
                        send(ServerMessage::error(
                            code::INVALID_API_KEY,
                            "invalid API key",
                        ))
                        .await;
                        return Err(Some((POLICY, "invalid API key")));
                    }
                }
            }
            Ok(ClientMessage::Auth { api_key: None }) => {
                send(ServerMessage::error(
                    code::INVALID_API_KEY,
                    "auth needs payload.apiKey",
                ))
                .await;
                return Err(Some((POLICY, "invalid API key")));
            }
            // Anything else first (even what is not JSON): authenticate.
            Ok(_) | Err(_) => {
                send(ServerMessage::error(
                    code::AUTH_REQUIRED,
                    "authenticate first",
                ))
                .await;
            }
        }
    }
}

async fn finish(tx: mpsc::Sender<Message>, writer: tokio::task::JoinHandle<()>) {
    drop(tx);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), writer).await;
}

/// Follows task `task_id`: answers `subscribe:success` (queued before the
/// task's events) or an error; `None` when the answer was queued already.
async fn subscribe(
    state: &AppState,
    tx: &mpsc::Sender<Message>,
    all: &CancellationToken,
    subs: &mut HashMap<ExecutionId, CancellationToken>,
    task_id: &str,
) -> Option<ServerMessage> {
    let not_found = || {
        Some(ServerMessage::error(
            code::TASK_NOT_FOUND,
            format!("there is no task {task_id:?}"),
        ))
    };
    let Ok(id) = task_id.parse::<ExecutionId>() else {
        return not_found();
    };
    if subs.contains_key(&id) {
        return Some(ServerMessage::SubscribeSuccess {
            task_id: task_id.into(),
        });
    }
    if subs.len() >= MAX_SUBSCRIPTIONS {
        return Some(ServerMessage::error(
            code::INVALID_SUBSCRIBE,
            format!("at most {MAX_SUBSCRIPTIONS} tasks per connection"),
        ));
    }
    if state.executions.get(id).await.is_err() {
        return not_found();
    }
    // Registered with the hub before the answer is queued: nothing between.
    let stream = ExecutionStream::open(&state.hub, state.db.clone(), id, 0);
    let answer = ServerMessage::SubscribeSuccess {
        task_id: task_id.into(),
    };
    if tx.send(frame(&answer)).await.is_err() {
        return None;
    }
    let token = all.child_token();
    tokio::spawn(forward(stream, tx.clone(), token.clone()).in_current_span());
    subs.insert(id, token);
    None
}

/// The task's history, then live events, as seed 001 messages.
async fn forward(mut stream: ExecutionStream, tx: mpsc::Sender<Message>, stop: CancellationToken) {
    loop {
        let next = tokio::select! {
            _ = stop.cancelled() => return,
            next = stream.next() => next,
        };
        let event = match next {
            Ok(Some(event)) => event,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, "reading stored events for a subscriber");
                let _ = tx
                    .send(frame(&ServerMessage::error(
                        code::INTERNAL_ERROR,
                        "the task's events could not be read",
                    )))
                    .await;
                return;
            }
        };
        let json = encoded(&event);
        if json.is_empty() {
            continue;
        }
        if tx.send(socket::text(json.to_string())).await.is_err() {
            return;
        }
    }
}

/// An event as this dialect writes it, serialised once for every socket.
fn encoded(event: &Published) -> Arc<str> {
    event.encoded(slot::CC_ANYWHERE, |e| {
        ServerMessage::from_event(e)
            .and_then(|m| serde_json::to_string(&m).ok())
            .unwrap_or_default()
    })
}

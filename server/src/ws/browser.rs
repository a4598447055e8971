//! `/ws`: the browser dialect (seed 002, Yagura's native protocol).
//!
//! Authentication: `?token=<jwt>` or the session cookie. A cookie is only
//! honoured when the `Origin` is this server, so another site's page cannot
//! ride a signed-in browser's cookie (cross-site WebSocket hijacking); such
//! an upgrade is refused with 403. A missing, bad or expired credential is
//! answered after the upgrade with close 4001, which (unlike a refused
//! upgrade) a browser can read.
//!
//! Each socket has a reader (this loop) and a writer task fed by a bounded
//! queue, so that a slow client never blocks anyone else.

use std::time::Duration;

use std::collections::HashMap;
use std::sync::Arc;

use app::model::{ExecutionId, User, UserId};
use app::protocol::{
    close,
    native::{Channel, ClientMessage, ConnectedUser, ErrorCode, ServerMessage, MAX_MESSAGE_BYTES},
};
use axum::{
    extract::{
        ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade},
        Query, State,
    },
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use chrono::Utc;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::{
    sync::{broadcast::error::RecvError, mpsc},
    time::Instant,
};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::slot;
use crate::auth::{origin::same_origin, Auth};
use crate::events::{subscription::ExecutionStream, Broadcast, Published};
use crate::{config::WsConfig, state::AppState};

/// Items waiting for one socket's writer. When it is full the socket's own
/// forwarders wait; their hub receivers then lag and are resynchronised
/// from the store, so nothing is skipped and nobody else waits.
const OUTBOUND_QUEUE: usize = 256;
/// Largest coalesced frame (seed 004's 64 KB).
const MAX_BATCH_BYTES: usize = 64 * 1024;
/// Subscriptions one socket may hold (seed 003).
const MAX_SUBSCRIPTIONS: usize = 100;

/// What the writer task sends: ready frames, or events to coalesce.
enum Outbound {
    Frame(Message),
    Event(Arc<Published>),
}
/// tungstenite's default read buffer is 128 KiB per socket; frames are small.
const READ_BUFFER: usize = 4 * 1024;
/// How long a closing socket waits for the client's close reply.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(2);

#[derive(Debug, Deserialize)]
pub struct WsQuery {
    token: Option<String>,
}

pub async fn upgrade(
    State(state): State<AppState>,
    Query(query): Query<WsQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let user = match query.token.as_deref() {
        Some(token) => state.auth.user_for_token(&state.db, token).await.ok(),
        None => {
            if Auth::token_from_headers(&headers).is_some() && same_origin(&headers) == Some(false)
            {
                tracing::warn!(origin = ?headers.get("origin"), "refused cross-site WebSocket upgrade");
                return (StatusCode::FORBIDDEN, "cross-site WebSocket refused").into_response();
            }
            state.auth.user_from_headers(&state.db, &headers).await.ok()
        }
    };
    let guard = state.tasks.token();
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| async move {
            let _guard = guard;
            match user {
                Some(user) => session(socket, user, state).await,
                None => reject(socket).await,
            }
        })
}

async fn reject(mut socket: WebSocket) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code: close::UNAUTHORIZED,
            reason: Utf8Bytes::from_static("Unauthorized: Invalid or expired token"),
        })))
        .await;
}

fn encode(msg: &ServerMessage) -> Message {
    // Serialising our own enum cannot fail.
    Message::Text(serde_json::to_string(msg).unwrap_or_default().into())
}

fn close_frame(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }))
}

/// Allows `per_minute` messages a minute, in bursts of up to `per_minute`.
struct RateLimit {
    tokens: f64,
    capacity: f64,
    per_sec: f64,
    last: Instant,
}

impl RateLimit {
    fn new(per_minute: u32) -> Self {
        let capacity = f64::from(per_minute.max(1));
        RateLimit {
            tokens: capacity,
            capacity,
            per_sec: capacity / 60.0,
            last: Instant::now(),
        }
    }

    fn allow(&mut self, now: Instant) -> bool {
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Why a session ended, and the close frame the client gets.
enum End {
    ClientGone,
    Close(u16, &'static str),
}

async fn session(socket: WebSocket, user: User, state: AppState) {
    let connection_id = format!("conn_{}", uuid::Uuid::new_v4());
    // The span is attached to this future (never entered across an await):
    // a span held entered would become the parent of whatever the worker
    // thread ran next, chaining every connection's span into one list whose
    // drop recursed deep enough to overflow the stack.
    let span = tracing::info_span!("ws", %connection_id, user = %user.username);
    run_session(socket, user, state, connection_id)
        .instrument(span)
        .await
}

async fn run_session(socket: WebSocket, user: User, state: AppState, connection_id: String) {
    tracing::debug!("connected");

    let (sink, mut stream) = socket.split();
    let (tx, rx) = mpsc::channel::<Outbound>(OUTBOUND_QUEUE);
    let writer = tokio::spawn(write_loop(sink, rx).in_current_span());

    let hello = ServerMessage::Connected {
        connection_id: connection_id.clone(),
        user: ConnectedUser {
            id: user.id,
            username: user.username.clone(),
        },
        timestamp: Utc::now(),
    };
    let subscriptions = CancellationToken::new();
    // Issues, workflow runs and this user's notifications reach every
    // connection without a subscription (seed 002). Registered before
    // `connected` is queued, so nothing published after it is missed.
    let workspace = state.hub.subscribe_workspace();
    tokio::spawn(
        forward_workspace(workspace, user.id, tx.clone(), subscriptions.clone()).in_current_span(),
    );
    let end = if tx.send(Outbound::Frame(encode(&hello))).await.is_err() {
        End::ClientGone
    } else {
        let mut session = Session {
            state: &state,
            tx: &tx,
            subs: HashMap::new(),
            all: subscriptions.clone(),
        };
        read_loop(&mut stream, &mut session).await
    };
    subscriptions.cancel();
    if let End::Close(code, reason) = end {
        tracing::debug!(code, reason, "closing");
        let _ = tx.send(Outbound::Frame(close_frame(code, reason))).await;
        // Give the client a moment to answer the close handshake, so that it
        // reads our code instead of a reset connection.
        let _ = tokio::time::timeout(CLOSE_HANDSHAKE, async {
            while let Some(Ok(frame)) = stream.next().await {
                if matches!(frame, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
    drop(tx);
    // The writer ends after the close frame, or when the client is gone.
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
    tracing::debug!("disconnected");
}

/// One socket's subscriptions and the way out.
struct Session<'a> {
    state: &'a AppState,
    tx: &'a mpsc::Sender<Outbound>,
    subs: HashMap<(Channel, Option<ExecutionId>), CancellationToken>,
    /// Parent of every subscription's token: cancelled when the socket ends.
    all: CancellationToken,
}

async fn read_loop(
    stream: &mut futures::stream::SplitStream<WebSocket>,
    session: &mut Session<'_>,
) -> End {
    let state = session.state;
    let tx = session.tx;
    let cfg: &WsConfig = &state.config.ws;
    let mut last_heard = Instant::now();
    let mut ping = tokio::time::interval_at(Instant::now() + cfg.ping_interval, cfg.ping_interval);
    let mut rate = RateLimit::new(cfg.messages_per_minute);
    let mut invalid = 0u32;

    loop {
        let idle_deadline = last_heard + cfg.idle_timeout;
        tokio::select! {
            _ = state.shutdown.cancelled() => return End::Close(close::GOING_AWAY, "server shutting down"),
            _ = tokio::time::sleep_until(idle_deadline) => return End::Close(1000, "idle timeout"),
            _ = ping.tick() => {
                if tx.send(Outbound::Frame(Message::Ping(Default::default()))).await.is_err() {
                    return End::ClientGone;
                }
            }
            frame = stream.next() => {
                let frame = match frame {
                    Some(Ok(frame)) => frame,
                    Some(Err(err)) => return read_error(err),
                    None => return End::ClientGone,
                };
                last_heard = Instant::now();
                let decoded = match frame {
                    Message::Text(text) => ClientMessage::decode(text.as_str()).map_err(|e| e.to_string()),
                    Message::Binary(_) => {
                        Err("binary frames are not part of this protocol; send JSON text".to_string())
                    }
                    Message::Ping(_) | Message::Pong(_) => continue,
                    Message::Close(_) => return End::ClientGone,
                };
                if !rate.allow(last_heard) {
                    let _ = tx.send(Outbound::Frame(encode(&error(ErrorCode::RateLimit, "too many messages".into())))).await;
                    return End::Close(close::RATE_LIMITED, "Rate limit exceeded");
                }
                let reply = match decoded {
                    Ok(ClientMessage::Ping) => ServerMessage::Pong { timestamp: Utc::now() },
                    Ok(ClientMessage::Subscribe { channel, execution_id, since }) => {
                        match session.subscribe(channel, execution_id, since.unwrap_or(0)).await {
                            Some(answer) => answer,
                            None => continue,
                        }
                    }
                    Ok(ClientMessage::Unsubscribe { channel, execution_id }) => {
                        if let Some(token) = session.subs.remove(&(channel, execution_id)) {
                            token.cancel();
                        }
                        ServerMessage::Unsubscribed { channel, execution_id }
                    }
                    Err(message) => {
                        invalid += 1;
                        error(ErrorCode::InvalidMessage, message)
                    }
                };
                if tx.send(Outbound::Frame(encode(&reply))).await.is_err() {
                    return End::ClientGone;
                }
                if invalid >= cfg.invalid_message_limit {
                    return End::Close(close::INVALID_MESSAGE, "Invalid message");
                }
            }
        }
    }
}

/// A frame the protocol layer refused: too big (1009) or malformed (1002).
/// Anything else means the connection itself is gone.
fn read_error(err: axum::Error) -> End {
    use tokio_tungstenite::tungstenite::Error as WsError;
    match err.into_inner().downcast_ref::<WsError>() {
        Some(WsError::Capacity(_)) => End::Close(1009, "Message too big"),
        Some(WsError::Protocol(_)) | Some(WsError::Utf8(_)) => End::Close(1002, "Protocol error"),
        _ => End::ClientGone,
    }
}

impl Session<'_> {
    /// Makes a subscription and answers `subscribed` (or an error). The
    /// stream's events follow the answer, through the same ordered queue.
    /// `None` when the answer has been queued already.
    async fn subscribe(
        &mut self,
        channel: Channel,
        execution_id: Option<ExecutionId>,
        since: u64,
    ) -> Option<ServerMessage> {
        let key = (channel, execution_id);
        if self.subs.contains_key(&key) {
            return Some(ServerMessage::Subscribed {
                channel,
                execution_id,
            });
        }
        if self.subs.len() >= MAX_SUBSCRIPTIONS {
            return Some(error(
                ErrorCode::SubscriptionError,
                format!("at most {MAX_SUBSCRIPTIONS} subscriptions per connection"),
            ));
        }
        let token = self.all.child_token();
        let tx = self.tx.clone();
        let hub = self.state.hub.clone();
        match (channel, execution_id) {
            (Channel::AgentExecution, None) => Some(error(
                ErrorCode::SubscriptionError,
                "the agent-execution channel needs an executionId".into(),
            )),
            (Channel::AgentExecution, Some(id)) => {
                if self.state.executions.get(id).await.is_err() {
                    return Some(error(
                        ErrorCode::SubscriptionError,
                        format!("there is no execution {id}"),
                    ));
                }
                // Registered with the hub now, before `subscribed` is queued.
                let stream = ExecutionStream::open(&hub, self.state.db.clone(), id, since);
                // The answer is queued first, so it precedes the events.
                let answer = ServerMessage::Subscribed {
                    channel,
                    execution_id,
                };
                if tx.send(Outbound::Frame(encode(&answer))).await.is_ok() {
                    tokio::spawn(forward_execution(stream, tx, token.clone()).in_current_span());
                    self.subs.insert(key, token);
                }
                None
            }
            // Always on; answering keeps a client that asks for it happy.
            (Channel::Workspace, _) => Some(ServerMessage::Subscribed {
                channel,
                execution_id: None,
            }),
            (Channel::Executions, _) => {
                let rx = hub.subscribe_lifecycle();
                let answer = ServerMessage::Subscribed {
                    channel,
                    execution_id: None,
                };
                if tx.send(Outbound::Frame(encode(&answer))).await.is_ok() {
                    tokio::spawn(forward_lifecycle(rx, tx, token.clone()).in_current_span());
                    self.subs.insert((channel, None), token);
                }
                None
            }
        }
    }
}

/// Replay, then live, for one execution; ends with the socket or on unsubscribe.
async fn forward_execution(
    mut stream: ExecutionStream,
    tx: mpsc::Sender<Outbound>,
    stop: CancellationToken,
) {
    loop {
        let next = tokio::select! {
            _ = stop.cancelled() => return,
            next = stream.next() => next,
        };
        match next {
            Ok(Some(event)) => {
                if tx.send(Outbound::Event(event)).await.is_err() {
                    return;
                }
            }
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, "reading stored events for a subscriber");
                let _ = tx
                    .send(Outbound::Frame(encode(&error(
                        ErrorCode::InternalError,
                        "events could not be read".into(),
                    ))))
                    .await;
                return;
            }
        }
    }
}

/// Lifecycle events of every execution, live; a lag becomes a `resync`.
async fn forward_lifecycle(
    mut rx: crate::events::hub::Receiver,
    tx: mpsc::Sender<Outbound>,
    stop: CancellationToken,
) {
    loop {
        let next = tokio::select! {
            _ = stop.cancelled() => return,
            next = rx.recv() => next,
        };
        let item = match next {
            Ok(event) => Outbound::Event(event),
            Err(RecvError::Lagged(_)) => Outbound::Frame(encode(&ServerMessage::Resync {
                channel: Channel::Executions,
            })),
            Err(RecvError::Closed) => return,
        };
        if tx.send(item).await.is_err() {
            return;
        }
    }
}

/// Workspace events for this user, live; a lag becomes a `resync`.
async fn forward_workspace(
    mut rx: tokio::sync::broadcast::Receiver<Arc<Broadcast>>,
    user: UserId,
    tx: mpsc::Sender<Outbound>,
    stop: CancellationToken,
) {
    loop {
        let next = tokio::select! {
            _ = stop.cancelled() => return,
            next = rx.recv() => next,
        };
        let frame = match next {
            Ok(event) if event.is_for(user) => Message::Text(
                event
                    .encoded(slot::BROWSER, |e| {
                        serde_json::to_string(&ServerMessage::from(e)).unwrap_or_default()
                    })
                    .to_string()
                    .into(),
            ),
            Ok(_) => continue,
            Err(RecvError::Lagged(_)) => encode(&ServerMessage::Resync {
                channel: Channel::Workspace,
            }),
            Err(RecvError::Closed) => return,
        };
        if tx.send(Outbound::Frame(frame)).await.is_err() {
            return;
        }
    }
}

/// Drains the socket's queue. Events already queued are coalesced into one
/// `batch` frame of at most 64 KiB; nothing is held back waiting for more,
/// so a quiet stream is sent at once and a busy one in few frames.
async fn write_loop(
    mut sink: futures::stream::SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Outbound>,
) {
    let mut carry: Option<Outbound> = None;
    loop {
        let item = match carry.take() {
            Some(item) => item,
            None => match rx.recv().await {
                Some(item) => item,
                None => break,
            },
        };
        let frame = match item {
            Outbound::Frame(msg) => msg,
            Outbound::Event(first) => {
                let first = native_json(&first);
                let mut parts: Vec<Arc<str>> = vec![first.clone()];
                let mut size = first.len();
                while size < MAX_BATCH_BYTES {
                    match rx.try_recv() {
                        Ok(Outbound::Event(next)) => {
                            let json = native_json(&next);
                            size += json.len() + 1;
                            parts.push(json);
                        }
                        Ok(other) => {
                            carry = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                if parts.len() == 1 {
                    Message::Text(first.to_string().into())
                } else {
                    let mut text = String::with_capacity(size + 32);
                    text.push_str(r#"{"type":"batch","events":["#);
                    for (i, part) in parts.iter().enumerate() {
                        if i > 0 {
                            text.push(',');
                        }
                        text.push_str(part);
                    }
                    text.push_str("]}");
                    Message::Text(text.into())
                }
            }
        };
        let closing = matches!(frame, Message::Close(_));
        if sink.send(frame).await.is_err() || closing {
            break;
        }
    }
    let _ = sink.close().await;
}

/// An execution event in this dialect, serialised once for every socket.
fn native_json(event: &Published) -> Arc<str> {
    event.encoded(slot::BROWSER, |e| {
        serde_json::to_string(&ServerMessage::from(e)).unwrap_or_default()
    })
}

fn error(code: ErrorCode, message: String) -> ServerMessage {
    ServerMessage::Error {
        code,
        message,
        timestamp: Utc::now(),
    }
}

#[cfg(test)]
mod tests {
    use super::RateLimit;
    use std::time::Duration;
    use tokio::time::Instant;

    #[test]
    fn rate_limit_allows_a_burst_then_refills() {
        let mut r = RateLimit::new(60);
        let t0 = Instant::now();
        assert!((0..60).all(|_| r.allow(t0)));
        assert!(!r.allow(t0));
        assert!(r.allow(t0 + Duration::from_secs(1)));
        assert!(!r.allow(t0 + Duration::from_secs(1)));
    }
}

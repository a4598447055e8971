//! `/ws`: the browser dialect (seed 002, Yagura's native protocol).
//!
//! Authentication: `?token=` (a session token or an API key) or the
//! session cookie. A cookie is only honoured when the `Origin` is this
//! server, so another site's page cannot ride a signed-in browser's cookie
//! (cross-site WebSocket hijacking); such an upgrade is refused with 403. A
//! bad or expired credential is answered after the upgrade with close 4001,
//! which (unlike a refused upgrade) a browser can read.
//!
//! A connection with no credential at all may still be a seed client whose
//! protocol authenticates in its first frame and that cannot choose its
//! path: `{"type":"auth","payload":{"apiKey":…}}` continues as CC-Anywhere,
//! `{"type":"auth"}` with a `token` as Team Dashboard; anything else (or
//! nothing within 5 s) is closed with 4001.
//!
//! Seed-faithful by default: a client gets one seed message per frame.
//! Yagura's extensions that change how seed messages arrive (`batch` and
//! `resync` frames, `agent.cancelled`, `workflow.failed`) go only to a
//! client that connects with `?batch=1`, as Yagura's own browser does; any
//! other client sees a cancelled run end as `agent.failed` and every run of
//! a workflow end as `workflow.completed` (with its `status`). The original
//! server's `?events=true` (every agent event, no subscription needed) and
//! `?execution_id=` (one run's events: history, then live) are honoured;
//! other query parameters are ignored.
//!
//! Each socket has a reader (this loop) and a writer task fed by a bounded
//! queue, so that a slow client never blocks anyone else.

mod forward;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use app::model::ExecutionId;
use app::protocol::{
    close,
    native::{Channel, ClientMessage, ConnectedUser, ErrorCode, ServerMessage, MAX_MESSAGE_BYTES},
};
use axum::{
    extract::{
        ws::{Message, WebSocket, WebSocketUpgrade},
        Query, State,
    },
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Extension,
};
use chrono::Utc;
use futures::StreamExt;
use tokio::{sync::mpsc, time::Instant};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use self::forward::{
    forward_all, forward_execution, forward_live, forward_workspace, write_loop, Followed,
};
use super::socket::{self, close_frame, RateLimit};
use super::team_dashboard::Dashboard;
use crate::auth::policy::{authorize, Op};
use crate::auth::{origin::same_origin, Auth, Principal};
use crate::events::{subscription::ExecutionStream, Broadcast, Published};
use crate::{config::WsConfig, state::AppState};

/// Items waiting for one socket's writer. When it is full the socket's own
/// forwarders wait; their hub receivers then lag and are resynchronised
/// from the store, so nothing is skipped and nobody else waits.
const OUTBOUND_QUEUE: usize = 256;
/// Subscriptions one socket may hold (seed 003).
const MAX_SUBSCRIPTIONS: usize = 100;
/// How long a connection without a credential has to send its first frame.
const FIRST_FRAME: Duration = Duration::from_secs(5);

/// What the writer task sends: ready frames, or events to encode (and, for
/// a client that asked for it, coalesce).
enum Outbound {
    Frame(Message),
    Event(Arc<Published>),
    Workspace(Arc<Broadcast>),
}

/// How this connection wants its messages.
#[derive(Clone, Copy, Debug, Default)]
struct Options {
    /// `?batch=1`: Yagura's extensions (batch, resync, agent.cancelled,
    /// workflow.failed).
    extensions: bool,
    /// `?events=true`: every agent event, without subscribing.
    all_events: bool,
    /// `?execution_id=`: this run's events, history then live.
    execution: Option<ExecutionId>,
}

impl Options {
    fn from_query(query: &HashMap<String, String>) -> Self {
        let yes = |k: &str| {
            query
                .get(k)
                .is_some_and(|v| matches!(v.as_str(), "1" | "true" | "yes" | ""))
        };
        Options {
            extensions: yes("batch"),
            all_events: yes("events"),
            execution: query
                .get("execution_id")
                .or_else(|| query.get("executionId"))
                .and_then(|v| v.parse().ok()),
        }
    }
}

pub async fn upgrade(
    State(state): State<AppState>,
    Extension(dash): Extension<Arc<Dashboard>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let options = Options::from_query(&query);
    let (principal, first_frame) = match query.get("token").filter(|t| !t.is_empty()) {
        Some(token) => (state.auth.authenticate(&state.db, token).await.ok(), false),
        None => match Auth::token_from_headers(&headers) {
            Some(_) => {
                if Auth::uses_cookie(&headers) && same_origin(&headers) == Some(false) {
                    tracing::warn!(origin = ?headers.get("origin"), "refused cross-site WebSocket upgrade");
                    return (StatusCode::FORBIDDEN, "cross-site WebSocket refused").into_response();
                }
                (
                    state
                        .auth
                        .principal_from_headers(&state.db, &headers)
                        .await
                        .ok(),
                    false,
                )
            }
            None => (None, true),
        },
    };
    // A bound on one user's sockets (each holds buffers and a writer).
    if let Some(p) = &principal {
        let open = state.auth.connections.count_user(p.user.id);
        if open >= state.config.ws.max_sockets_per_user {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                format!("{open} sockets are open for this user already; close some first"),
            )
                .into_response();
        }
    }
    let guard = state.tasks.token();
    socket::configure(ws, MAX_MESSAGE_BYTES).on_upgrade(move |socket| async move {
        let _guard = guard;
        match principal {
            // Watching needs only a signed-in user; the policy says so.
            Some(principal) if authorize(&principal.user, Op::Subscribe).is_ok() => {
                session(socket, principal, state, options).await
            }
            Some(_) => reject(socket).await,
            None if first_frame => route_by_first_frame(socket, state, dash).await,
            None => reject(socket).await,
        }
    })
}

async fn reject(mut socket: WebSocket) {
    let _ = socket
        .send(close_frame(
            close::UNAUTHORIZED,
            "Unauthorized: Invalid or expired token",
        ))
        .await;
}

/// A connection that brought no credential: its first frame says which
/// seed protocol it speaks.
async fn route_by_first_frame(mut socket: WebSocket, state: AppState, dash: Arc<Dashboard>) {
    let first = tokio::time::timeout(FIRST_FRAME, socket.recv()).await;
    let Ok(Some(Ok(Message::Text(text)))) = first else {
        return reject(socket).await;
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text.as_str()) else {
        return reject(socket).await;
    };
    if value["type"] != "auth" {
        return reject(socket).await;
    }
    if value["payload"]["apiKey"].is_string() && state.config.cc_anywhere.enabled {
        return super::cc_anywhere::serve(socket, state, Some(value)).await;
    }
    if value["token"].is_string() || value["payload"]["token"].is_string() {
        return super::team_dashboard::serve_ws(socket, state, dash, Some(value)).await;
    }
    reject(socket).await
}

fn encode(msg: &ServerMessage) -> Message {
    // Serialising our own enum cannot fail.
    socket::text(serde_json::to_string(msg).unwrap_or_default())
}

/// Why a session ended, and the close frame the client gets.
enum End {
    ClientGone,
    Close(u16, &'static str),
}

async fn session(socket: WebSocket, principal: Principal, state: AppState, options: Options) {
    let connection_id = format!("conn_{}", uuid::Uuid::new_v4());
    // The span is attached to this future (never entered across an await):
    // a span held entered would become the parent of whatever the worker
    // thread ran next, chaining every connection's span into one list whose
    // drop recursed deep enough to overflow the stack.
    let span = tracing::info_span!("ws", %connection_id, user = %principal.user.username);
    run_session(socket, principal, state, options, connection_id)
        .instrument(span)
        .await
}

async fn run_session(
    socket: WebSocket,
    principal: Principal,
    state: AppState,
    options: Options,
    connection_id: String,
) {
    tracing::debug!("connected");
    let user = principal.user.clone();
    let registration = state
        .auth
        .connections
        .register(&principal, crate::auth::connections::Dialect::Native);

    let (sink, mut stream) = socket.split();
    let (tx, rx) = mpsc::channel::<Outbound>(OUTBOUND_QUEUE);
    let writer = tokio::spawn(write_loop(sink, rx, options.extensions).in_current_span());

    let github_login = crate::db::users::github_login_of(&state.db, &user.id.to_string())
        .await
        .ok()
        .flatten();
    let hello = ServerMessage::Connected {
        connection_id: connection_id.clone(),
        user: ConnectedUser {
            id: user.id,
            username: user.username.clone(),
            github_username: github_login.unwrap_or_else(|| user.username.clone()),
        },
        timestamp: Utc::now(),
    };
    let subscriptions = CancellationToken::new();
    // Issues, workflow runs and this user's notifications reach every
    // connection without a subscription (seed 002). Registered before
    // `connected` is queued, so nothing published after it is missed.
    let workspace = state.hub.subscribe_workspace();
    tokio::spawn(
        forward_workspace(
            workspace,
            user.id,
            tx.clone(),
            subscriptions.clone(),
            options.extensions,
        )
        .in_current_span(),
    );
    let followed = Followed::default();
    if options.all_events {
        let rx = state.hub.subscribe_all();
        tokio::spawn(
            forward_all(
                rx,
                tx.clone(),
                subscriptions.clone(),
                options.extensions,
                followed.clone(),
            )
            .in_current_span(),
        );
    }
    let end = if tx.send(Outbound::Frame(encode(&hello))).await.is_err() {
        End::ClientGone
    } else {
        let mut session = Session {
            state: &state,
            tx: &tx,
            subs: HashMap::new(),
            all: subscriptions.clone(),
            options,
            followed: followed.clone(),
        };
        if let Some(id) = options.execution {
            // The original server's implicit subscription: history, then live.
            if state.executions.get(id).await.is_ok() {
                followed.insert(id);
                let stream = ExecutionStream::open(&state.hub, state.db.clone(), id, 0);
                let token = subscriptions.child_token();
                tokio::spawn(
                    forward_execution(stream, tx.clone(), token.clone()).in_current_span(),
                );
                session
                    .subs
                    .insert((Channel::AgentExecution, Some(id)), token);
            }
        }
        read_loop(&mut stream, &mut session, &registration.ended).await
    };
    subscriptions.cancel();
    if let End::Close(code, reason) = end {
        tracing::debug!(code, reason, "closing");
        let _ = tx.send(Outbound::Frame(close_frame(code, reason))).await;
        socket::await_close_reply(&mut stream).await;
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
    /// Executions followed by id (skipped by the live-everything streams).
    followed: Followed,
    options: Options,
}

async fn read_loop(
    stream: &mut futures::stream::SplitStream<WebSocket>,
    session: &mut Session<'_>,
    revoked: &CancellationToken,
) -> End {
    let state = session.state;
    let tx = session.tx;
    let cfg: &WsConfig = &state.config.ws;
    let mut last_heard = Instant::now();
    let mut ping = tokio::time::interval_at(Instant::now() + cfg.ping_interval, cfg.ping_interval);
    let mut rate = RateLimit::new(cfg.messages_per_minute, Duration::from_secs(60));
    let mut invalid = 0u32;

    loop {
        let idle_deadline = last_heard + cfg.idle_timeout;
        tokio::select! {
            _ = state.shutdown.cancelled() => return End::Close(close::GOING_AWAY, "server shutting down"),
            _ = revoked.cancelled() => return End::Close(close::UNAUTHORIZED, "Unauthorized: credential revoked"),
            _ = tokio::time::sleep_until(idle_deadline) => return End::Close(1000, "idle timeout"),
            _ = ping.tick() => {
                if tx.send(Outbound::Frame(Message::Ping(Default::default()))).await.is_err() {
                    return End::ClientGone;
                }
            }
            frame = stream.next() => {
                let frame = match frame {
                    Some(Ok(frame)) => frame,
                    Some(Err(err)) => {
                        return match socket::close_for(socket::read_failure(err)) {
                            Some((code, reason)) => End::Close(code, reason),
                            None => End::ClientGone,
                        }
                    }
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
                            if let Some(id) = execution_id.filter(|_| channel == Channel::AgentExecution) {
                                session.followed.remove(id);
                            }
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
                    self.followed.insert(id);
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
            // `?events=true` streams every event already.
            (Channel::Executions, _) if self.options.all_events => {
                Some(ServerMessage::Subscribed {
                    channel,
                    execution_id: None,
                })
            }
            (Channel::Executions, _) => {
                let rx = hub.subscribe_lifecycle();
                let answer = ServerMessage::Subscribed {
                    channel,
                    execution_id: None,
                };
                if tx.send(Outbound::Frame(encode(&answer))).await.is_ok() {
                    tokio::spawn(
                        forward_live(
                            rx,
                            tx,
                            token.clone(),
                            Channel::Executions,
                            self.options.extensions,
                            self.followed.clone(),
                        )
                        .in_current_span(),
                    );
                    self.subs.insert((channel, None), token);
                }
                None
            }
        }
    }
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
    use super::*;

    #[test]
    fn query_options() {
        let q = |pairs: &[(&str, &str)]| {
            Options::from_query(
                &pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
        };
        let plain = q(&[("token", "x"), ("whatever", "1")]);
        assert!(!plain.extensions && !plain.all_events && plain.execution.is_none());
        let ours = q(&[("batch", "1")]);
        assert!(ours.extensions);
        let id = "00000000-0000-0000-0000-000000000001";
        let miyabi = q(&[("events", "true"), ("execution_id", id)]);
        assert!(miyabi.all_events);
        assert_eq!(miyabi.execution, id.parse().ok());
        assert!(q(&[("execution_id", "nope")]).execution.is_none());
    }
}

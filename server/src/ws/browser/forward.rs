//! Events on their way to one browser-dialect socket: forwarders per
//! subscription (history then live, or live only), the encoding shared by
//! every socket of a kind, and the writer that coalesces them.

use std::sync::Arc;

use app::model::{ExecutionId, UserId};
use app::protocol::native::{Channel, ErrorCode, ServerMessage};
use axum::extract::ws::{Message, WebSocket};
use futures::SinkExt;
use tokio::sync::{broadcast::error::RecvError, mpsc};
use tokio_util::sync::CancellationToken;

use crate::events::{hub, subscription::ExecutionStream, Broadcast, Published};
use crate::ws::slot;
use crate::ws::socket::{self, close_frame};

use super::{encode, error, Outbound};

/// Largest coalesced frame (seed 004's 64 KB).
const MAX_BATCH_BYTES: usize = 64 * 1024;

/// Replay, then live, for one execution; ends with the socket or on unsubscribe.
pub(super) async fn forward_execution(
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

/// What a live stream does when it falls behind: a client that knows
/// `resync` is told to reload; any other is closed with 1013 (try again
/// later), since a seed client cannot be told what it missed and must not
/// miss it silently.
pub(super) async fn fell_behind(
    tx: &mpsc::Sender<Outbound>,
    channel: Channel,
    extensions: bool,
) -> bool {
    if extensions {
        tx.send(Outbound::Frame(encode(&ServerMessage::Resync { channel })))
            .await
            .is_ok()
    } else {
        let _ = tx
            .send(Outbound::Frame(close_frame(1013, "fell behind; reconnect")))
            .await;
        false
    }
}

/// Live events of every execution (lifecycle, or everything for
/// `?events=true`).
pub(super) async fn forward_live(
    mut rx: hub::Receiver,
    tx: mpsc::Sender<Outbound>,
    stop: CancellationToken,
    channel: Channel,
    extensions: bool,
    followed: Followed,
) {
    loop {
        let next = tokio::select! {
            _ = stop.cancelled() => return,
            next = rx.recv() => next,
        };
        match next {
            Ok(event) => {
                // A run the socket follows by id comes through its own
                // subscription, history and live, once.
                if followed.contains(event.execution_id()) {
                    continue;
                }
                if tx.send(Outbound::Event(event)).await.is_err() {
                    return;
                }
            }
            Err(RecvError::Lagged(_)) => {
                if !fell_behind(&tx, channel, extensions).await {
                    return;
                }
            }
            Err(RecvError::Closed) => return,
        }
    }
}

pub(super) async fn forward_all(
    rx: hub::Receiver,
    tx: mpsc::Sender<Outbound>,
    stop: CancellationToken,
    extensions: bool,
    followed: Followed,
) {
    forward_live(rx, tx, stop, Channel::Executions, extensions, followed).await
}

/// The executions one socket follows by id (`agent-execution`
/// subscriptions, `?execution_id=`), which its live-everything streams skip.
#[derive(Clone, Default)]
pub(super) struct Followed(Arc<std::sync::Mutex<std::collections::HashSet<ExecutionId>>>);

impl Followed {
    pub(super) fn insert(&self, id: ExecutionId) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).insert(id);
    }

    pub(super) fn remove(&self, id: ExecutionId) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    }

    fn contains(&self, id: ExecutionId) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&id)
    }
}

/// Workspace events for this user, live.
pub(super) async fn forward_workspace(
    mut rx: tokio::sync::broadcast::Receiver<Arc<Broadcast>>,
    user: UserId,
    tx: mpsc::Sender<Outbound>,
    stop: CancellationToken,
    extensions: bool,
) {
    loop {
        let next = tokio::select! {
            _ = stop.cancelled() => return,
            next = rx.recv() => next,
        };
        match next {
            Ok(event) if event.is_for(user) => {
                if tx.send(Outbound::Workspace(event)).await.is_err() {
                    return;
                }
            }
            Ok(_) => continue,
            Err(RecvError::Lagged(_)) => {
                if !fell_behind(&tx, Channel::Workspace, extensions).await {
                    return;
                }
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// An execution event in this dialect, serialised once for every socket of
/// the same kind (with or without the extensions).
fn event_json(event: &Published, extensions: bool) -> Arc<str> {
    event.encoded(slot_of(extensions), |e| {
        to_json(ServerMessage::from(e), extensions)
    })
}

fn workspace_json(event: &Broadcast, extensions: bool) -> Arc<str> {
    event.encoded(slot_of(extensions), |e| {
        to_json(ServerMessage::from(e), extensions)
    })
}

fn slot_of(extensions: bool) -> usize {
    if extensions {
        slot::BROWSER
    } else {
        slot::BROWSER_SEED
    }
}

/// A message as this socket gets it: whole, or as seed 002 has it (a
/// message the seed does not know becomes nothing).
fn to_json(msg: ServerMessage, extensions: bool) -> String {
    if extensions {
        serde_json::to_string(&msg).unwrap_or_default()
    } else {
        msg.seed_view()
            .and_then(|m| serde_json::to_string(&m).ok())
            .unwrap_or_default()
    }
}

/// Drains the socket's queue. For a client with the extensions, events
/// already queued are coalesced into one `batch` frame of at most 64 KiB;
/// any other gets one frame per message, written together and flushed
/// once. Nothing is held back waiting for more, so a quiet stream is sent
/// at once and a busy one cheaply.
pub(super) async fn write_loop(
    mut sink: futures::stream::SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Outbound>,
    extensions: bool,
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
        let mut frames = Vec::new();
        match item {
            Outbound::Frame(msg) => frames.push(msg),
            Outbound::Workspace(event) => {
                let json = workspace_json(&event, extensions);
                // Empty: a frame this client's dialect does not have.
                if !json.is_empty() {
                    frames.push(socket::text(json.to_string()))
                }
            }
            Outbound::Event(first) if extensions => {
                let first = event_json(&first, true);
                let mut parts: Vec<Arc<str>> = vec![first.clone()];
                let mut size = first.len();
                while size < MAX_BATCH_BYTES {
                    match rx.try_recv() {
                        Ok(Outbound::Event(next)) => {
                            let json = event_json(&next, true);
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
                    frames.push(socket::text(first.to_string()));
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
                    frames.push(socket::text(text));
                }
            }
            Outbound::Event(first) => {
                let mut size = 0;
                let json = event_json(&first, false);
                size += json.len();
                if !json.is_empty() {
                    frames.push(socket::text(json.to_string()));
                }
                while size < MAX_BATCH_BYTES {
                    match rx.try_recv() {
                        Ok(Outbound::Event(next)) => {
                            let json = event_json(&next, false);
                            size += json.len();
                            if !json.is_empty() {
                                frames.push(socket::text(json.to_string()));
                            }
                        }
                        Ok(other) => {
                            carry = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
            }
        }
        if frames.is_empty() {
            continue;
        }
        let closing = frames.iter().any(|f| matches!(f, Message::Close(_)));
        if !socket::write_all(&mut sink, frames).await || closing {
            break;
        }
    }
    let _ = tokio::time::timeout(socket::CLOSE_HANDSHAKE, sink.close()).await;
}

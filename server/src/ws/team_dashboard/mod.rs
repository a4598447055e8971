//! The Team Dashboard dialect (seed 003): `/ws/team-dashboard`, `/ws` by a
//! first `auth` frame with a `token`, and Socket.IO's `message` event
//! (see `super::socketio`).
//!
//! - `auth {token, clientId, sessionId?}` within 5 s: `ack {sessionId,
//!   resumed}`; a bad token gets `ack AUTH_FAILED` (or `TOKEN_EXPIRED`)
//!   and close 4001.
//! - Every client message but `ping`/`pong` gets one `ack`; a refusal also
//!   gets an `agent:error` (`conn`).
//! - An agent is an execution (`agents`); its events become `agent:status`
//!   and `agent:output` (`feed`), followed per agent (`follow`).
//! - Sessions outlive their connection for ten minutes; a client that
//!   resumes one gets what it missed rebuilt from the store (`session`).
//! - `metrics:update` every 2 s to `subscribe:metrics` (`metrics`).

pub mod agents;
pub mod conn;
pub mod envelope;
pub mod feed;
pub mod follow;
pub mod metrics;
pub mod session;
mod subscriptions;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use app::protocol::team_dashboard::MAX_MESSAGE_BYTES;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use futures::stream::SplitSink;
use futures::StreamExt;
use tokio::sync::mpsc;
use tracing::Instrument;

use self::conn::{In, Out, Start};
use self::session::{Session, Sessions};
use super::socket::{self, close_frame};
use crate::state::AppState;

/// A WebSocket client silent (not even a pong) this long is dropped.
const SILENCE: Duration = Duration::from_secs(90);
/// Messages written before one flush.
const FLUSH_EVERY: usize = 256;

/// What every Team Dashboard connection shares: the sessions and the
/// metrics sampler.
pub struct Dashboard {
    pub sessions: Sessions,
    pub metrics: metrics::Sampler,
    connections: AtomicU64,
}

impl Dashboard {
    pub fn new(data_dir: PathBuf) -> Arc<Self> {
        Arc::new(Dashboard {
            sessions: Sessions::default(),
            metrics: metrics::Sampler::new(data_dir),
            connections: AtomicU64::new(0),
        })
    }

    fn next_connection(&self) -> u64 {
        self.connections.fetch_add(1, Ordering::Relaxed) + 1
    }
}

pub async fn upgrade(
    State(state): State<AppState>,
    Extension(dash): Extension<Arc<Dashboard>>,
    ws: WebSocketUpgrade,
) -> Response {
    let guard = state.tasks.token();
    socket::configure(ws, MAX_MESSAGE_BYTES).on_upgrade(move |socket| async move {
        let _guard = guard;
        serve_ws(socket, state, dash, None).await
    })
}

/// Runs one Team Dashboard WebSocket; `first` is a first frame already
/// read (on `/ws`).
pub async fn serve_ws(
    socket: WebSocket,
    state: AppState,
    dash: Arc<Dashboard>,
    first: Option<serde_json::Value>,
) {
    let span = tracing::info_span!("team_dashboard", connection = %uuid::Uuid::new_v4());
    async move {
        let (sink, mut stream) = socket.split();
        let (in_tx, in_rx) = mpsc::channel::<In>(64);
        let (out_tx, out_rx) = mpsc::channel::<Out>(conn::OUTBOUND_QUEUE);
        let writer = tokio::spawn(write(sink, out_rx).in_current_span());
        let reader = tokio::spawn(
            async move {
                while let Some(frame) = stream.next().await {
                    let item = match frame {
                        Ok(Message::Text(text)) => In::Text(text.as_str().to_owned()),
                        Ok(Message::Binary(bytes)) => {
                            In::Text(String::from_utf8_lossy(&bytes).into_owned())
                        }
                        Ok(Message::Close(_)) => break,
                        Ok(_) => In::Alive,
                        Err(err) => match socket::read_failure(err) {
                            socket::ReadFailure::TooBig => In::TooBig,
                            socket::ReadFailure::Protocol | socket::ReadFailure::Gone => break,
                        },
                    };
                    let last = matches!(item, In::TooBig);
                    if in_tx.send(item).await.is_err() || last {
                        break;
                    }
                }
            }
            .in_current_span(),
        );
        let start = Start {
            first,
            principal: None,
            silence: Some(SILENCE),
        };
        // The connection ends when the reader does (its channel closes) or
        // on its own; its tasks stop with it.
        conn::run(state, dash, in_rx, out_tx, start).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
        reader.abort();
    }
    .instrument(span)
    .await
}

/// Writes what the connection queues, noting in the session what was
/// written; ends after a close frame or when the queue closes, and then
/// leaves the session waiting for a reconnect.
async fn write(mut sink: SplitSink<WebSocket, Message>, mut rx: mpsc::Receiver<Out>) {
    let mut bound: Option<(Arc<Session>, u64)> = None;
    'outer: while let Some(first) = rx.recv().await {
        let mut items = vec![first];
        while items.len() < FLUSH_EVERY {
            match rx.try_recv() {
                Ok(next) => items.push(next),
                Err(_) => break,
            }
        }
        let mut frames = Vec::with_capacity(items.len());
        let mut marks = Vec::new();
        let mut closing = false;
        for item in items {
            match item {
                Out::Bind(session, connection) => {
                    // Messages before this one were the old session's.
                    if !frames.is_empty() {
                        if !socket::write_all(&mut sink, std::mem::take(&mut frames)).await {
                            break 'outer;
                        }
                        if let Some((s, c)) = &bound {
                            s.advance(*c, &std::mem::take(&mut marks));
                        }
                    }
                    bound = Some((session, connection));
                }
                Out::Message { text, mark } => {
                    frames.push(socket::text(text));
                    if let Some(mark) = mark {
                        marks.push(mark);
                    }
                }
                Out::Heartbeat => frames.push(Message::Ping(Default::default())),
                Out::Close(code, reason) => {
                    frames.push(close_frame(code, reason));
                    closing = true;
                    break;
                }
            }
        }
        if !socket::write_all(&mut sink, frames).await {
            break;
        }
        if let Some((session, connection)) = &bound {
            session.advance(*connection, &marks);
        }
        if closing {
            break;
        }
    }
    if let Some((session, connection)) = &bound {
        session.detach(*connection, chrono::Utc::now().timestamp_millis());
    }
    let _ = tokio::time::timeout(socket::CLOSE_HANDSHAKE, futures::SinkExt::close(&mut sink)).await;
}

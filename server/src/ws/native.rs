//! `/ws`: the native browser dialect (seed 002).
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

use app::model::User;
use app::protocol::{
    close,
    native::{ClientMessage, ConnectedUser, ErrorCode, ServerMessage, MAX_MESSAGE_BYTES},
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
use tokio::{sync::mpsc, time::Instant};

use crate::{auth::Auth, config::WsConfig, http::guard::same_origin, state::AppState};

/// Frames waiting for one socket's writer. Small: what does not fit means
/// the client is not reading, and the session ends.
const OUTBOUND_QUEUE: usize = 64;
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
    let span = tracing::info_span!("ws", %connection_id, user = %user.username);
    let _enter = span.enter();
    tracing::debug!("connected");

    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Message>(OUTBOUND_QUEUE);
    let writer = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            let closing = matches!(msg, Message::Close(_));
            if sink.send(msg).await.is_err() || closing {
                break;
            }
        }
        let _ = sink.close().await;
    });

    let hello = ServerMessage::Connected {
        connection_id: connection_id.clone(),
        user: ConnectedUser {
            id: user.id,
            username: user.username.clone(),
        },
        timestamp: Utc::now(),
    };
    let end = if tx.send(encode(&hello)).await.is_err() {
        End::ClientGone
    } else {
        read_loop(&mut stream, &tx, &state.config.ws, &state).await
    };
    if let End::Close(code, reason) = end {
        tracing::debug!(code, reason, "closing");
        let _ = tx.send(close_frame(code, reason)).await;
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

async fn read_loop(
    stream: &mut futures::stream::SplitStream<WebSocket>,
    tx: &mpsc::Sender<Message>,
    cfg: &WsConfig,
    state: &AppState,
) -> End {
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
                if tx.send(Message::Ping(Default::default())).await.is_err() {
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
                    let _ = tx.send(encode(&error(ErrorCode::RateLimit, "too many messages".into()))).await;
                    return End::Close(close::RATE_LIMITED, "Rate limit exceeded");
                }
                let reply = match decoded {
                    Ok(ClientMessage::Ping) => ServerMessage::Pong { timestamp: Utc::now() },
                    Err(message) => {
                        invalid += 1;
                        error(ErrorCode::InvalidMessage, message)
                    }
                };
                if tx.send(encode(&reply)).await.is_err() {
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

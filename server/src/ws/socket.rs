//! What every dialect's socket shares: upgrade limits, a writer task fed
//! by a bounded queue (a slow client fills only its own queue), a write
//! timeout (a client that stops reading is dropped, not kept), close
//! frames, and a token-bucket rate limit.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// tungstenite's default read buffer is 128 KiB per socket; frames are small.
pub const READ_BUFFER: usize = 4 * 1024;
/// How long a closing socket waits for the client's close reply.
pub const CLOSE_HANDSHAKE: Duration = Duration::from_secs(2);
/// A write (or flush) the client has not taken within this long means it
/// stopped reading: the socket is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Frames written before one flush.
const FLUSH_EVERY: usize = 256;

/// The upgrade with this crate's limits: small read buffer, no write
/// buffering beyond one flush, `max_message` per message and frame.
pub fn configure(ws: WebSocketUpgrade, max_message: usize) -> WebSocketUpgrade {
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(max_message)
        .max_frame_size(max_message)
}

pub fn close_frame(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }))
}

pub fn text(s: impl Into<Utf8Bytes>) -> Message {
    Message::Text(s.into())
}

/// Why reading a frame failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadFailure {
    /// Over the size limit: close 1009.
    TooBig,
    /// Not valid WebSocket framing or UTF-8: close 1002.
    Protocol,
    /// The connection itself is gone.
    Gone,
}

pub fn read_failure(err: axum::Error) -> ReadFailure {
    use tokio_tungstenite::tungstenite::Error as WsError;
    match err.into_inner().downcast_ref::<WsError>() {
        Some(WsError::Capacity(_)) => ReadFailure::TooBig,
        Some(WsError::Protocol(_)) | Some(WsError::Utf8(_)) => ReadFailure::Protocol,
        _ => ReadFailure::Gone,
    }
}

/// The close frame a read failure earns (none when the peer is gone).
pub fn close_for(failure: ReadFailure) -> Option<(u16, &'static str)> {
    match failure {
        ReadFailure::TooBig => Some((1009, "Message too big")),
        ReadFailure::Protocol => Some((1002, "Protocol error")),
        ReadFailure::Gone => None,
    }
}

/// Writes every frame queued on `rx`: what is queued is written together
/// and flushed once. Ends after a close frame, when the queue closes, or
/// when the client stops taking writes for [`WRITE_TIMEOUT`].
pub async fn write_frames(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Message>,
) {
    while let Some(first) = rx.recv().await {
        let mut closing = matches!(first, Message::Close(_));
        let mut batch = vec![first];
        while !closing && batch.len() < FLUSH_EVERY {
            match rx.try_recv() {
                Ok(next) => {
                    closing = matches!(next, Message::Close(_));
                    batch.push(next);
                }
                Err(_) => break,
            }
        }
        if !write_all(&mut sink, batch).await || closing {
            break;
        }
    }
    let _ = tokio::time::timeout(CLOSE_HANDSHAKE, sink.close()).await;
}

/// Writes and flushes `frames`; false when the client is gone or stalled.
pub async fn write_all(sink: &mut SplitSink<WebSocket, Message>, frames: Vec<Message>) -> bool {
    let written = tokio::time::timeout(WRITE_TIMEOUT, async {
        for frame in frames {
            sink.feed(frame).await?;
        }
        sink.flush().await
    })
    .await;
    match written {
        Ok(Ok(())) => true,
        Ok(Err(_)) => false,
        Err(_) => {
            tracing::info!("client stopped reading; dropping the socket");
            false
        }
    }
}

/// Gives the client a moment to answer our close frame, so that it reads
/// our code instead of a reset connection.
pub async fn await_close_reply(stream: &mut SplitStream<WebSocket>) {
    let _ = tokio::time::timeout(CLOSE_HANDSHAKE, async {
        while let Some(Ok(frame)) = stream.next().await {
            if matches!(frame, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// Allows `per_window` messages per `window`, in bursts of up to
/// `per_window` (a token bucket refilled evenly).
pub struct RateLimit {
    tokens: f64,
    capacity: f64,
    per_sec: f64,
    last: Instant,
}

impl RateLimit {
    pub fn new(per_window: u32, window: Duration) -> Self {
        let capacity = f64::from(per_window.max(1));
        RateLimit {
            tokens: capacity,
            capacity,
            per_sec: capacity / window.as_secs_f64().max(0.001),
            last: Instant::now(),
        }
    }

    pub fn allow(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
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

#[cfg(test)]
mod tests {
    use super::RateLimit;
    use std::time::Duration;
    use tokio::time::Instant;

    #[test]
    fn rate_limit_allows_a_burst_then_refills() {
        let mut r = RateLimit::new(60, Duration::from_secs(60));
        let t0 = Instant::now();
        assert!((0..60).all(|_| r.allow(t0)));
        assert!(!r.allow(t0));
        assert!(r.allow(t0 + Duration::from_secs(1)));
        assert!(!r.allow(t0 + Duration::from_secs(1)));
        let mut fast = RateLimit::new(10, Duration::from_secs(1));
        assert!((0..10).all(|_| fast.allow(t0)));
        assert!(!fast.allow(t0));
        assert!(fast.allow(t0 + Duration::from_millis(100)));
    }
}

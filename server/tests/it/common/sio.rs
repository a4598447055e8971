#![allow(dead_code)]
//! Minimal Socket.IO v5 / Engine.IO v4 **test client**: text packets only, namespace `/` only.
//!
//! Wire format (Engine.IO packet type = 1st char; Socket.IO type = 2nd char of a `4` MESSAGE):
//! * Engine.IO: `0{json}` OPEN (sid, pingInterval, pingTimeout), `1` CLOSE, `2`/`3` PING/PONG
//!   (the *server* pings, the client answers `3`), `4…` MESSAGE, `5` UPGRADE, `6` NOOP;
//!   `2probe`/`3probe` only during a websocket upgrade.
//! * Socket.IO: `40{auth}` CONNECT → `40{"sid":…}` or `44{"message":…}` (CONNECT_ERROR),
//!   `41` DISCONNECT, `42["event",arg…]` EVENT; general form `<type>[/nsp,][ackId][json]`.
//! * A polling body holds several Engine.IO packets joined by `\x1e` (ASCII record separator).
//!
//! [`SioClient::connect`] does the handshake, the namespace CONNECT and the optional upgrade
//! linearly; then a background *driver* task owns the transport, answers pings and forwards
//! events through a channel.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, timeout, Instant};
use tokio_tungstenite::{connect_async, tungstenite::Message, MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Engine.IO v4 separator between packets in one polling body.
const SEP: &str = "\x1e";
/// Bound on the whole of [`SioClient::connect`].
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on POSTs, the handshake GET and `close`.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Polling,
    WebSocket,
    /// Handshake and namespace CONNECT over polling, then upgrade to websocket.
    PollingThenUpgrade,
}

#[derive(Debug)]
pub enum ConnectError {
    /// The server answered CONNECT with CONNECT_ERROR (`44{…}`); this is its payload.
    Refused(Value),
    /// HTTP / websocket failure (connection refused, bad status, socket closed…).
    Transport(String),
    /// Something unexpected from the server at that point of the handshake.
    Protocol(String),
    /// `connect` did not finish within [`CONNECT_TIMEOUT`].
    Timeout,
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "socket.io connect failed: {self:?}")
    }
}
impl std::error::Error for ConnectError {}

/// Returned by [`SioClient::emit`] once the driver has stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disconnected;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    Connected,
    /// With a human-readable reason (server `41`, Engine.IO `1`, socket closed, ping timeout…).
    Disconnected(String),
}

/// What the driver observed, for assertions in tests.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// `(event name, byte length of the raw Engine.IO packet "42[…]")` per EVENT received.
    pub event_sizes: Vec<(String, usize)>,
    /// Server PINGs answered with PONG.
    pub pings_answered: u64,
    /// Most Engine.IO packets in one polling response (a websocket frame holds exactly 1).
    pub max_packets_per_response: usize,
}

enum Cmd {
    Send(String),
    Close(oneshot::Sender<()>),
}

enum Incoming {
    Event(String, Value),
    Closed(String),
}

pub struct SioClient {
    cmd_tx: mpsc::UnboundedSender<Cmd>,
    in_rx: mpsc::UnboundedReceiver<Incoming>,
    stats: Arc<Mutex<Stats>>,
    state: State,
    transport: Transport,
    sid: String,
    driver: JoinHandle<()>,
}

impl SioClient {
    /// Connect to `base_url` (`http://host:port`; `/socket.io/` is appended) and join namespace
    /// `/` with `auth` (sent as `40{auth}`; `Value::Null` sends a bare `40`).
    pub async fn connect(
        base_url: &str,
        auth: Value,
        transport: Transport,
    ) -> Result<Self, ConnectError> {
        timeout(CONNECT_TIMEOUT, connect_inner(base_url, auth, transport))
            .await
            .unwrap_or(Err(ConnectError::Timeout))
    }

    /// Queue `42["event",data]`; never blocks.
    pub fn emit(&self, event: &str, data: Value) -> Result<(), Disconnected> {
        let pkt = Value::Array(vec![Value::String(event.to_owned()), data]);
        self.cmd_tx
            .send(Cmd::Send(format!("42{pkt}")))
            .map_err(|_| Disconnected)
    }

    /// Next event as `(name, first argument)` (`Null` if it had none). `None` on timeout, or
    /// on disconnect — [`Self::state`] then says `Disconnected`.
    pub async fn next_event(&mut self, wait: Duration) -> Option<(String, Value)> {
        match timeout(wait, self.in_rx.recv()).await {
            Err(_elapsed) => None,
            Ok(Some(Incoming::Event(name, arg))) => Some((name, arg)),
            Ok(Some(Incoming::Closed(reason))) => {
                self.state = State::Disconnected(reason);
                None
            }
            Ok(None) => {
                if self.state == State::Connected {
                    self.state = State::Disconnected("driver task ended".into());
                }
                None
            }
        }
    }

    /// Collect events until `pred(name, arg)` holds (that event included): `Ok(all seen)`;
    /// `Err(all seen)` if the total budget `wait` runs out or the connection drops first.
    pub async fn events_until(
        &mut self,
        wait: Duration,
        mut pred: impl FnMut(&str, &Value) -> bool,
    ) -> Result<Vec<(String, Value)>, Vec<(String, Value)>> {
        let deadline = Instant::now() + wait;
        let mut seen = Vec::new();
        while let Some((name, arg)) = self
            .next_event(deadline - Instant::now().min(deadline))
            .await
        {
            let done = pred(&name, &arg);
            seen.push((name, arg));
            if done {
                return Ok(seen);
            }
        }
        Err(seen)
    }

    /// Test-only helper: skip to event `name` and return its first argument; panics (with the
    /// events seen and the state) if it does not arrive within `wait`.
    pub async fn expect_event(&mut self, name: &str, wait: Duration) -> Value {
        match self.events_until(wait, |n, _| n == name).await {
            Ok(mut seen) => seen.pop().map(|(_, v)| v).unwrap_or_default(),
            Err(seen) => panic!(
                "no {name:?} event in {wait:?}; got {seen:?}; {:?}",
                self.state
            ),
        }
    }

    /// Send `41` (namespace DISCONNECT), close the transport (websocket close frame, or
    /// Engine.IO `1` over polling) and wait, bounded, for the driver to stop.
    pub async fn close(self) {
        let (done_tx, done_rx) = oneshot::channel();
        if self.cmd_tx.send(Cmd::Close(done_tx)).is_ok() {
            let _ = timeout(REQUEST_TIMEOUT, done_rx).await;
        }
        let _ = timeout(REQUEST_TIMEOUT, self.driver).await;
    }

    /// `Connected` until [`Self::next_event`] has observed the disconnect.
    pub fn state(&self) -> &State {
        &self.state
    }
    /// Transport in use after connecting (`PollingThenUpgrade` ends up as `WebSocket`).
    pub fn transport(&self) -> Transport {
        self.transport
    }
    /// Socket.IO socket id from the CONNECT ack (what the server calls `socket.id`).
    pub fn sid(&self) -> &str {
        &self.sid
    }
    pub fn stats(&self) -> Stats {
        lock(&self.stats).clone()
    }
    /// Largest raw event packet received so far: `(event name, bytes)`.
    pub fn max_event_size(&self) -> Option<(String, usize)> {
        let stats = lock(&self.stats);
        stats.event_sizes.iter().max_by_key(|(_, n)| *n).cloned()
    }
}

fn lock(stats: &Mutex<Stats>) -> MutexGuard<'_, Stats> {
    stats
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ------------------------------------------------------------------------------------------
// Transports: a sending half and a receiving half, so the driver can read and write at once.

/// HTTP long-polling endpoint; `url` carries `&sid=` after the handshake.
#[derive(Clone)]
struct Polling {
    http: reqwest::Client,
    url: String,
    get_timeout: Duration,
}

impl Polling {
    async fn get(&self) -> Result<Vec<String>, String> {
        let req = self.http.get(&self.url).timeout(self.get_timeout);
        let resp = req.send().await.map_err(|e| format!("poll GET: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("poll GET: HTTP {}", resp.status()));
        }
        let body = resp
            .text()
            .await
            .map_err(|e| format!("poll GET body: {e}"))?;
        Ok(body
            .split(SEP)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect())
    }

    async fn post(&self, packets: &[String]) -> Result<(), String> {
        let req = (self.http.post(&self.url))
            .header("content-type", "text/plain;charset=UTF-8")
            .body(packets.join(SEP))
            .timeout(REQUEST_TIMEOUT);
        let resp = req.send().await.map_err(|e| format!("POST: {e}"))?;
        match resp.status().is_success() {
            true => Ok(()),
            false => Err(format!("POST: HTTP {}", resp.status())),
        }
    }
}

enum Tx {
    Poll(Polling),
    Ws(SplitSink<Ws, Message>),
}

enum Rx {
    Poll(Polling),
    Ws(SplitStream<Ws>),
}

fn split_ws(ws: Ws) -> (Tx, Rx) {
    let (sink, stream) = ws.split();
    (Tx::Ws(sink), Rx::Ws(stream))
}

impl Tx {
    /// One POST with all packets, or one websocket frame per packet.
    async fn send(&mut self, packets: Vec<String>) -> Result<(), String> {
        match self {
            Tx::Poll(p) => p.post(&packets).await,
            Tx::Ws(sink) => {
                let mut frames =
                    futures::stream::iter(packets.into_iter().map(|p| Ok(Message::text(p))));
                sink.send_all(&mut frames)
                    .await
                    .map_err(|e| format!("ws send: {e}"))
            }
        }
    }

    /// Close the Engine.IO session: `1` over polling, a close frame on a websocket.
    async fn close(&mut self) {
        let _ = match self {
            Tx::Poll(p) => p.post(&["1".to_owned()]).await,
            Tx::Ws(sink) => sink.close().await.map_err(|e| e.to_string()),
        };
    }
}

impl Rx {
    /// One polling body, or one websocket text frame, as Engine.IO packets.
    async fn recv(&mut self) -> Result<Vec<String>, String> {
        match self {
            Rx::Poll(p) => p.get().await,
            Rx::Ws(stream) => loop {
                match stream.next().await {
                    Some(Ok(Message::Text(t))) => return Ok(vec![t.as_str().to_owned()]),
                    Some(Ok(Message::Close(f))) => {
                        return Err(format!("ws closed by server: {f:?}"))
                    }
                    Some(Ok(_)) => {} // binary, ws-level ping/pong (tungstenite answers pings)
                    Some(Err(e)) => return Err(format!("ws error: {e}")),
                    None => return Err("ws ended".into()),
                }
            },
        }
    }
}

// ------------------------------------------------------------------------------------------
// Connect phase

async fn connect_inner(
    base_url: &str,
    auth: Value,
    transport: Transport,
) -> Result<SioClient, ConnectError> {
    let base = base_url.trim_end_matches('/');
    let ws_base = match base.strip_prefix("http://") {
        Some(rest) => format!("ws://{rest}"),
        None => {
            return Err(ConnectError::Transport(format!(
                "need an http:// URL: {base}"
            )))
        }
    };
    let (terr, ws_err) = (
        ConnectError::Transport,
        |e: tokio_tungstenite::tungstenite::Error| ConnectError::Transport(e.to_string()),
    );

    // 1. Engine.IO handshake: the OPEN packet is the first polling body / first ws frame.
    let (mut tx, mut rx, open) = if transport == Transport::WebSocket {
        let url = format!("{ws_base}/socket.io/?EIO=4&transport=websocket");
        let (tx, mut rx) = split_ws(connect_async(url).await.map_err(ws_err)?.0);
        let open = parse_open(&rx.recv().await.map_err(terr)?)?;
        (tx, rx, open)
    } else {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build();
        let url = format!("{base}/socket.io/?EIO=4&transport=polling");
        let http = http.map_err(|e| terr(e.to_string()))?;
        let mut p = Polling {
            http,
            url,
            get_timeout: REQUEST_TIMEOUT,
        };
        let open = parse_open(&p.get().await.map_err(terr)?)?;
        p.url = format!("{}&sid={}", p.url, open.sid);
        // The server answers a long-poll at the latest with its next PING.
        p.get_timeout = open.liveness + Duration::from_secs(5);
        (Tx::Poll(p.clone()), Rx::Poll(p), open)
    };

    // 2. Socket.IO CONNECT to "/" (the main namespace has no "/nsp," prefix).
    let connect = if auth.is_null() {
        "40".to_owned()
    } else {
        format!("40{auth}")
    };
    tx.send(vec![connect]).await.map_err(terr)?;
    let mut backlog = Vec::new(); // packets behind the ack (e.g. early events), for the driver
    let mut sid = None;
    while sid.is_none() {
        for pkt in rx.recv().await.map_err(terr)? {
            if sid.is_some() {
                backlog.push(pkt);
            } else if pkt == "2" {
                tx.send(vec!["3".into()]).await.map_err(terr)?;
            } else if let Some(json) = pkt.strip_prefix("40") {
                let v: Value = serde_json::from_str(json).unwrap_or_default();
                sid = Some(v["sid"].as_str().unwrap_or_default().to_owned());
            } else if let Some(json) = pkt.strip_prefix("44") {
                tx.close().await; // best effort: the session is useless now
                let v = serde_json::from_str(json).unwrap_or_else(|_| Value::from(json));
                return Err(ConnectError::Refused(v));
            } else if pkt.starts_with('1') {
                return Err(ConnectError::Protocol(
                    "session closed before CONNECT ack".into(),
                ));
            } // anything else before the ack (NOOP, PONG…) is ignored
        }
    }

    // 3. Upgrade: new websocket with the same sid, `2probe` → `3probe`, then `5`. No GET is in
    //    flight here; socketioxide keeps queued packets and flushes them to the websocket once
    //    it has received `5` (a GET arriving mid-upgrade would be answered with NOOP `6`).
    if transport == Transport::PollingThenUpgrade {
        let url = format!(
            "{ws_base}/socket.io/?EIO=4&transport=websocket&sid={}",
            open.sid
        );
        let (mut ws, _) = connect_async(url).await.map_err(ws_err)?;
        ws.send(Message::text("2probe")).await.map_err(ws_err)?;
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.as_str() == "3probe" => {}
            other => {
                return Err(ConnectError::Protocol(format!(
                    "expected 3probe: {other:?}"
                )))
            }
        }
        ws.send(Message::text("5")).await.map_err(ws_err)?;
        (tx, rx) = split_ws(ws);
    }

    // 4. Hand the transport to the driver.
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (in_tx, in_rx) = mpsc::unbounded_channel();
    let stats = Arc::new(Mutex::new(Stats::default()));
    let ctx = Ctx {
        in_tx,
        stats: stats.clone(),
    };
    let used = if let Tx::Poll(_) = tx {
        Transport::Polling
    } else {
        Transport::WebSocket
    };
    let driver = tokio::spawn(drive(tx, rx, cmd_rx, ctx, backlog, open.liveness));
    let sid = sid.unwrap_or_default();
    Ok(SioClient {
        cmd_tx,
        in_rx,
        stats,
        state: State::Connected,
        transport: used,
        sid,
        driver,
    })
}

struct Open {
    sid: String,
    /// pingInterval + pingTimeout: the longest the server may stay silent.
    liveness: Duration,
}

fn parse_open(packets: &[String]) -> Result<Open, ConnectError> {
    let pkt = packets.first().map_or("", String::as_str);
    let bad = || ConnectError::Protocol(format!("expected Engine.IO OPEN, got {pkt:?}"));
    let v: Value =
        serde_json::from_str(pkt.strip_prefix('0').ok_or_else(bad)?).map_err(|_| bad())?;
    let sid = v["sid"].as_str().ok_or_else(bad)?.to_owned();
    let ms = |k: &str, default| v[k].as_u64().unwrap_or(default);
    let liveness = Duration::from_millis(ms("pingInterval", 25_000) + ms("pingTimeout", 20_000));
    Ok(Open { sid, liveness })
}

// ------------------------------------------------------------------------------------------
// Driver

/// Interprets incoming packets.
struct Ctx {
    in_tx: mpsc::UnboundedSender<Incoming>,
    stats: Arc<Mutex<Stats>>,
}

impl Ctx {
    /// Handle one response/frame: `Ok(replies)` or `Err(why the session ended)`.
    fn handle(&self, packets: &[String]) -> Result<Vec<String>, String> {
        let mut replies = Vec::new();
        for pkt in packets {
            match pkt.as_bytes().first() {
                Some(b'2') => replies.push("3".to_owned()),
                Some(b'1') => return Err("server sent Engine.IO CLOSE (1)".into()),
                Some(b'4') => self.on_message(pkt)?,
                _ => {} // 3 PONG, 6 NOOP, stray 0/5, binary ("b…"): ignored
            }
        }
        let mut stats = lock(&self.stats);
        stats.pings_answered += replies.len() as u64;
        stats.max_packets_per_response = stats.max_packets_per_response.max(packets.len());
        Ok(replies)
    }

    /// `pkt` is a whole Engine.IO MESSAGE: `4<sio type>[/nsp,][ackId][json]`.
    fn on_message(&self, pkt: &str) -> Result<(), String> {
        // Everything after the two type bytes; None if there is no (ASCII) Socket.IO type.
        let Some(after_type) = pkt.get(2..) else {
            return Ok(());
        };
        let (mut nsp, mut rest) = ("/", after_type);
        if after_type.starts_with('/') {
            (nsp, rest) = after_type.split_once(',').unwrap_or((after_type, ""));
        }
        // Skip an ack id: acks requested by the server are not answered.
        let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
        match (nsp, pkt.as_bytes()[1]) {
            ("/", b'1') => Err("server disconnected the namespace (41)".into()),
            ("/", b'2') => {
                // EVENT: ["name", arg0, …]; malformed events are dropped.
                let Ok(Value::Array(args)) = serde_json::from_str::<Value>(rest) else {
                    return Ok(());
                };
                let mut args = args.into_iter();
                let Some(Value::String(name)) = args.next() else {
                    return Ok(());
                };
                lock(&self.stats)
                    .event_sizes
                    .push((name.clone(), pkt.len()));
                let _ = self
                    .in_tx
                    .send(Incoming::Event(name, args.next().unwrap_or_default()));
                Ok(())
            }
            _ => Ok(()), // other namespaces, ACK, binary, late CONNECT/CONNECT_ERROR
        }
    }
}

async fn drive(
    mut tx: Tx,
    mut rx: Rx,
    mut cmd_rx: mpsc::UnboundedReceiver<Cmd>,
    ctx: Ctx,
    backlog: Vec<String>,
    liveness: Duration,
) {
    // The reader runs on its own so sends never wait behind a pending long-poll GET. Channel
    // capacity 1: at most one GET in flight (socketioxide kills sessions with concurrent GETs).
    let (read_tx, mut read_rx) = mpsc::channel(1);
    let reader = tokio::spawn(async move {
        loop {
            let res = rx.recv().await;
            let failed = res.is_err();
            if read_tx.send(res).await.is_err() || failed {
                break;
            }
        }
    });
    let mut incoming = Ok(backlog);
    let mut deadline = Instant::now() + liveness;
    let reason: String = loop {
        match incoming.and_then(|packets| ctx.handle(&packets)) {
            Ok(replies) if replies.is_empty() => {}
            Ok(replies) => {
                if let Err(e) = tx.send(replies).await {
                    break e;
                }
            }
            Err(reason) => break reason,
        }
        incoming = Ok(Vec::new());
        tokio::select! {
            cmd = cmd_rx.recv() => {
                let (mut batch, mut close) = (Vec::new(), None);
                let mut next = cmd;
                // Coalesce everything already queued (one POST over polling).
                while let Some(c) = next.take() {
                    match c {
                        Cmd::Send(pkt) => batch.push(pkt),
                        Cmd::Close(done) => { close = Some(done); break; }
                    }
                    next = cmd_rx.try_recv().ok();
                }
                if let Some(done) = close {
                    batch.push("41".into());
                    let _ = tx.send(batch).await;
                    tx.close().await;
                    let _ = done.send(());
                    break "closed by client".into();
                }
                if batch.is_empty() {
                    break "SioClient dropped".into();
                }
                if let Err(e) = tx.send(batch).await {
                    break e;
                }
            }
            got = read_rx.recv() => {
                deadline = Instant::now() + liveness;
                incoming = got.unwrap_or_else(|| Err("reader task ended".into()));
            }
            _ = sleep_until(deadline) => break "server silent for pingInterval+pingTimeout".into(),
        }
    };
    reader.abort();
    drop((cmd_rx, tx)); // `emit` fails from now on, before the disconnect becomes observable
    let _ = ctx.in_tx.send(Incoming::Closed(reason));
}

//! Socket.IO (protocol 5, Engine.IO 4) at `/socket.io/`, namespace `/`:
//! nospace (seed 004: `nospace_run`, `nospace_stdin`, `nospace_kill`) and
//! the Team Dashboard envelope on the `message` event.
//!
//! - Authentication at the handshake: `auth: {token}` (a session token or
//!   an API key), or the session cookie of a same-origin browser. A bad
//!   token, or none on a polling handshake, gets CONNECT_ERROR
//!   `{message: "Unauthorized"}`. A WebSocket-only handshake without one
//!   (how the Team Dashboard's UI connects) is let in for 5 s to send its
//!   `auth` envelope; nospace events on it are refused.
//! - A nospace run is an execution of an agent (`options.agentId`, or the
//!   server's `--nospace-agent`) whose `{prompt}` is the `code`; the other
//!   options are its `NOSPACE_*` variables. Output goes out as written,
//!   batched per stream for 50 ms or 64 KiB. One run per socket; a new run,
//!   `nospace_kill` or a disconnect ends the old one (`killed`).
//! - Events are handled in the order they arrive (each is queued for the
//!   socket's task before socketioxide's per-event task runs).

mod nospace;

use std::sync::Arc;
use std::time::Duration;

use app::protocol::team_dashboard::MAX_MESSAGE_BYTES;
use serde_json::Value;
use socketioxide::extract::{SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;
use socketioxide::{SendError, SocketError, SocketIo, TransportType};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use self::nospace::Nospace;
use super::team_dashboard::conn::{self, In, Out, Start};
use super::team_dashboard::{session::Session, Dashboard};
use crate::auth::origin::same_origin;
use crate::auth::policy::{authorize, Op};
use crate::auth::{Auth, Principal};
use crate::state::AppState;

/// Events queued per socket before more are dropped.
const INBOX: usize = 1024;
/// Packets socketioxide buffers per socket before `emit` pushes back.
const SOCKET_BUFFER: usize = 1024;

/// Why a handshake was refused (the client reads `message`).
#[derive(Debug)]
struct Unauthorized;

impl std::fmt::Display for Unauthorized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Unauthorized")
    }
}

/// Who a socket speaks for (`None`: a Team Dashboard client yet to send
/// its `auth` envelope).
#[derive(Clone)]
struct Who(Option<Principal>);

/// Where a socket's events queue, in arrival order.
#[derive(Clone)]
struct Inbox(mpsc::Sender<Event>);

enum Event {
    Run(Value),
    Stdin(Value),
    Kill(Value),
    Message(Value),
}

#[derive(Clone)]
struct Shared {
    state: AppState,
    dash: Arc<Dashboard>,
}

/// The Socket.IO layer (to wrap the whole router, outermost) and its
/// handle.
pub fn layer(state: AppState, dash: Arc<Dashboard>) -> (SocketIoLayer, SocketIo) {
    let (layer, io) = SocketIo::builder()
        .ping_interval(Duration::from_secs(25))
        .ping_timeout(Duration::from_secs(20))
        .max_payload((MAX_MESSAGE_BYTES + 64 * 1024) as u64)
        .max_buffer_size(SOCKET_BUFFER)
        .build_layer();
    let shared = Shared { state, dash };
    let on_connect = {
        let shared = shared.clone();
        move |socket: SocketRef| {
            connected(shared.clone(), socket);
            std::future::ready(())
        }
    };
    let check = {
        let shared = shared.clone();
        move |socket: SocketRef, TryData(auth): TryData<Value>| {
            let shared = shared.clone();
            async move { authenticate(&shared, &socket, auth.ok()).await }
        }
    };
    io.ns("/", on_connect.with(check));
    let closing = io.clone();
    let shutdown = shared.state.shutdown.clone();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        closing.close().await;
    });
    (layer, io)
}

async fn authenticate(
    shared: &Shared,
    socket: &SocketRef,
    auth: Option<Value>,
) -> Result<(), Unauthorized> {
    let state = &shared.state;
    let token = auth
        .as_ref()
        .and_then(|a| a.get("token"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let headers = &socket.req_parts().headers;
    let principal = match token {
        Some(token) => Some(
            state
                .auth
                .authenticate(&state.db, &token)
                .await
                .map_err(|_| Unauthorized)?,
        ),
        None if Auth::uses_cookie(headers) && same_origin(headers) != Some(false) => Some(
            state
                .auth
                .principal_from_headers(&state.db, headers)
                .await
                .map_err(|_| Unauthorized)?,
        ),
        None => None,
    };
    if principal.is_none() && socket.transport_type() != TransportType::Websocket {
        return Err(Unauthorized);
    }
    if let Some(p) = &principal {
        authorize(&p.user, Op::Subscribe).map_err(|_| Unauthorized)?;
    }
    socket.extensions.insert(Who(principal));
    Ok(())
}

/// Registers the socket's handlers (before anything awaits, so no event
/// is missed) and starts its task.
fn connected(shared: Shared, socket: SocketRef) {
    let (tx, rx) = mpsc::channel(INBOX);
    socket.extensions.insert(Inbox(tx));
    fn queue(socket: &SocketRef, event: Event) {
        if let Some(Inbox(tx)) = socket.extensions.get::<Inbox>() {
            if tx.try_send(event).is_err() {
                tracing::warn!(socket = %socket.id, "socket.io inbox full; event dropped");
            }
        }
    }
    let on = |name: &'static str, make: fn(Value) -> Event| {
        socket.on(name, move |s: SocketRef, TryData(data): TryData<Value>| {
            queue(&s, make(data.unwrap_or(Value::Null)));
            std::future::ready(())
        });
    };
    on("nospace_run", Event::Run);
    on("nospace_stdin", Event::Stdin);
    on("nospace_kill", Event::Kill);
    on("message", Event::Message);
    let gone = CancellationToken::new();
    socket.on_disconnect({
        let gone = gone.clone();
        move || {
            gone.cancel();
            std::future::ready(())
        }
    });
    let who = socket.extensions.get::<Who>().and_then(|w| w.0);
    let span = tracing::info_span!("socketio", socket = %socket.id);
    let guard = shared.state.tasks.token();
    tokio::spawn(
        async move {
            let _guard = guard;
            serve(shared, socket, who, rx, gone).await
        }
        .instrument(span),
    );
}

/// One socket's life: its events in order, until it disconnects.
async fn serve(
    shared: Shared,
    socket: SocketRef,
    who: Option<Principal>,
    mut events: mpsc::Receiver<Event>,
    gone: CancellationToken,
) {
    let mut nospace = Nospace::default();
    // A socket let in without credentials must authenticate by envelope.
    let mut dashboard: Option<mpsc::Sender<In>> = match who {
        None => Some(start_dashboard(&shared, &socket, None)),
        Some(_) => None,
    };
    // Revoking the credential (an API key, a user) ends the socket.
    let registration = who.as_ref().map(|p| {
        shared
            .state
            .auth
            .connections
            .register(p, crate::auth::connections::Dialect::Nospace)
    });
    let revoked = async {
        match &registration {
            Some(r) => r.ended.cancelled().await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(revoked);
    loop {
        let event = tokio::select! {
            _ = gone.cancelled() => break,
            _ = shared.state.shutdown.cancelled() => break,
            _ = &mut revoked => {
                tracing::info!("credential revoked; disconnecting the socket");
                let _ = socket.clone().disconnect();
                break;
            }
            event = events.recv() => match event {
                Some(e) => e,
                None => break,
            },
        };
        match event {
            Event::Message(value) => {
                let tx =
                    dashboard.get_or_insert_with(|| start_dashboard(&shared, &socket, who.clone()));
                let text = match value {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                let item = if text.len() > MAX_MESSAGE_BYTES {
                    In::TooBig
                } else {
                    In::Text(text)
                };
                if tx.send(item).await.is_err() {
                    dashboard = None;
                }
            }
            Event::Run(value) => nospace.run(&shared, &socket, who.as_ref(), value).await,
            Event::Stdin(value) => nospace.stdin(&shared, value).await,
            Event::Kill(value) => nospace.kill(&shared, value).await,
        }
    }
    nospace.end(&shared).await;
}

/// Starts a Team Dashboard connection carried by this socket's `message`
/// event; returns where its frames go.
fn start_dashboard(
    shared: &Shared,
    socket: &SocketRef,
    who: Option<Principal>,
) -> mpsc::Sender<In> {
    let (in_tx, in_rx) = mpsc::channel::<In>(64);
    let (out_tx, out_rx) = mpsc::channel::<Out>(conn::OUTBOUND_QUEUE);
    tokio::spawn(write_dashboard(socket.clone(), out_rx).in_current_span());
    let start = Start {
        first: None,
        principal: who,
        // Engine.IO has its own heartbeat.
        silence: None,
    };
    tokio::spawn(
        conn::run(
            shared.state.clone(),
            shared.dash.clone(),
            in_rx,
            out_tx,
            start,
        )
        .in_current_span(),
    );
    in_tx
}

/// Emits, waiting while socketioxide's buffer for the socket is full;
/// false once the socket is gone.
async fn emit(socket: &SocketRef, event: &str, data: &Value) -> bool {
    let deadline = Instant::now() + super::socket::WRITE_TIMEOUT;
    loop {
        match socket.emit(event, data) {
            Ok(()) => return true,
            Err(SendError::Socket(SocketError::InternalChannelFull))
                if Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(5)).await
            }
            Err(_) => return false,
        }
    }
}

async fn write_dashboard(socket: SocketRef, mut rx: mpsc::Receiver<Out>) {
    let mut bound: Option<(Arc<Session>, u64)> = None;
    while let Some(item) = rx.recv().await {
        match item {
            Out::Bind(session, connection) => bound = Some((session, connection)),
            Out::Message { text, mark } => {
                let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                if !emit(&socket, "message", &value).await {
                    break;
                }
                if let (Some(mark), Some((session, connection))) = (mark, &bound) {
                    session.advance(*connection, &[mark]);
                }
            }
            Out::Heartbeat => {}
            Out::Close(..) => {
                let _ = socket.clone().disconnect();
                break;
            }
        }
    }
    if let Some((session, connection)) = &bound {
        session.detach(*connection, chrono::Utc::now().timestamp_millis());
    }
}

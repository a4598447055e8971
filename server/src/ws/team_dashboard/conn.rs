//! One Team Dashboard connection, whatever carries it (a WebSocket, or
//! Socket.IO's `message` event): frames in on one channel, messages out on
//! another. The carrier writes what comes out and notes, per agent, how
//! far the client got (see [`super::session`]).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use app::model::{ExecutionId, Role};
use app::protocol::team_dashboard::{
    ErrorCode, AUTH_TIMEOUT_SECS, CLOSE_UNAUTHORIZED, MESSAGES_PER_SECOND,
};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::{Instant, Interval};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::envelope::{invalid, message, pong, Ctx, Request};
use super::follow::{self, Ctl};
use super::session::{Cursor, Session};
use super::subscriptions::metrics_timer;
use super::{agents, Dashboard};
use crate::auth::{AuthError, Principal};
use crate::state::AppState;
use crate::ws::socket::RateLimit;

/// What the carrier hands in.
pub enum In {
    /// A message's text (JSON expected).
    Text(String),
    /// A frame over the size limit: the connection closes with 1009.
    TooBig,
    /// Any sign of life that is not a message (a WebSocket pong).
    Alive,
}

/// What the carrier writes.
pub enum Out {
    /// The session whose cursors written messages advance.
    Bind(Arc<Session>, u64),
    /// A message; `mark` says which agent message it is.
    Message {
        text: String,
        mark: Option<(ExecutionId, Cursor)>,
    },
    /// A transport-level ping (WebSocket only).
    Heartbeat,
    /// Close with this code and reason.
    Close(u16, &'static str),
}

/// Frames waiting for one connection's carrier.
pub const OUTBOUND_QUEUE: usize = 512;
/// The envelope `ping` (and a transport ping) goes out this often.
const HEARTBEAT: Duration = Duration::from_secs(30);

/// How the connection began.
pub struct Start {
    /// A frame the carrier read already (the `/ws` router's first frame).
    pub first: Option<Value>,
    /// Authenticated by the carrier (Socket.IO's handshake `auth.token`).
    pub principal: Option<Principal>,
    /// Close a connection silent for this long (`None`: the carrier has
    /// its own heartbeat).
    pub silence: Option<Duration>,
}

/// Runs one connection until it ends.
pub async fn run(
    state: AppState,
    dash: Arc<Dashboard>,
    mut inbound: mpsc::Receiver<In>,
    out: mpsc::Sender<Out>,
    start: Start,
) {
    let (ctl_tx, ctl_rx) = mpsc::channel(64);
    let ctx = Ctx {
        state,
        dash,
        out,
        ctl: ctl_tx,
    };
    let connection = ctx.dash.next_connection();
    let (principal, session, first_ack) =
        match authenticate(&ctx, &mut inbound, start.first, start.principal).await {
            Some(found) => found,
            None => return,
        };
    let stop = CancellationToken::new();
    session.attach(connection, stop.clone());
    let _ = ctx.out.send(Out::Bind(session.clone(), connection)).await;
    let resumed = first_ack.as_ref().is_some_and(|(_, resumed)| *resumed);
    if let Some((id, resumed)) = first_ack {
        ctx.ack(
            id.as_deref(),
            json!({"sessionId": session.id, "resumed": resumed}),
        )
        .await;
    }
    tracing::debug!(user = %principal.user.username, session = %session.id, resumed, "authenticated");
    let registration = ctx
        .state
        .auth
        .connections
        .register(&principal, crate::auth::connections::Dialect::TeamDashboard);
    let mut conn = Conn {
        ctx,
        principal,
        session,
        connection,
        stop,
        followers: HashMap::new(),
        discovery: None,
        metrics: None,
        rate: RateLimit::new(MESSAGES_PER_SECOND, Duration::from_secs(1)),
    };
    conn.restore();
    let end = conn
        .serve(&mut inbound, ctl_rx, &registration.ended, start.silence)
        .await;
    conn.stop_all();
    if let Some((code, reason)) = end {
        let _ = conn.ctx.out.send(Out::Close(code, reason)).await;
    }
}

/// Waits for `auth` (unless the carrier authenticated already): the user,
/// their session, and the `auth` message to acknowledge (its id, and
/// whether the session was resumed).
#[allow(clippy::type_complexity)]
async fn authenticate(
    ctx: &Ctx,
    inbound: &mut mpsc::Receiver<In>,
    first: Option<Value>,
    principal: Option<Principal>,
) -> Option<(Principal, Arc<Session>, Option<(Option<String>, bool)>)> {
    if let Some(principal) = principal {
        let session = ctx.dash.sessions.create(principal.user.id);
        return Some((principal, session, None));
    }
    let deadline = Instant::now() + Duration::from_secs(AUTH_TIMEOUT_SECS);
    let mut pending = first.map(|v| v.to_string());
    loop {
        let text = match pending.take() {
            Some(text) => text,
            None => {
                let next = tokio::select! {
                    _ = ctx.state.shutdown.cancelled() => {
                        let _ = ctx.out.send(Out::Close(1001, "server shutting down")).await;
                        return None;
                    }
                    _ = tokio::time::sleep_until(deadline) => {
                        let _ = ctx.out.send(Out::Close(CLOSE_UNAUTHORIZED, "Authentication timeout")).await;
                        return None;
                    }
                    next = inbound.recv() => next,
                };
                match next? {
                    In::Text(text) => text,
                    In::TooBig => {
                        let _ = ctx.out.send(Out::Close(1009, "Message too big")).await;
                        return None;
                    }
                    In::Alive => continue,
                }
            }
        };
        let request = match Request::parse(&text) {
            Ok(r) => r,
            Err(id) => {
                invalid(ctx, id.as_deref()).await;
                continue;
            }
        };
        match request.kind.as_str() {
            "auth" => {}
            "ping" => {
                pong(ctx, &request).await;
                continue;
            }
            "pong" => continue,
            _ => {
                ctx.refuse(
                    request.id(),
                    None,
                    ErrorCode::AuthFailed,
                    "authenticate first",
                )
                .await;
                continue;
            }
        }
        let principal = match check_token(ctx, &request).await {
            Ok(p) => p,
            Err(code) => {
                let _ = ctx
                    .send(message(
                        "ack",
                        json!({"messageId": request.id(), "success": false,
                               "error": code.name(), "code": code.number(),
                               "message": "authentication failed"}),
                        request.id(),
                        None,
                    ))
                    .await;
                let _ = ctx
                    .out
                    .send(Out::Close(CLOSE_UNAUTHORIZED, "Authentication failed"))
                    .await;
                return None;
            }
        };
        let resumed = request
            .str("sessionId")
            .and_then(|id| ctx.dash.sessions.resume(id, principal.user.id));
        let was_resumed = resumed.is_some();
        let session = resumed.unwrap_or_else(|| ctx.dash.sessions.create(principal.user.id));
        return Some((principal, session, Some((request.id, was_resumed))));
    }
}

async fn check_token(ctx: &Ctx, request: &Request) -> Result<Principal, ErrorCode> {
    let token = request.str("token").ok_or(ErrorCode::AuthFailed)?;
    match ctx.state.auth.authenticate(&ctx.state.db, token).await {
        Ok(p) => Ok(p),
        Err(AuthError::Expired) => Err(ErrorCode::TokenExpired),
        Err(_) => Err(ErrorCode::AuthFailed),
    }
}

pub(super) struct Conn {
    pub(super) ctx: Ctx,
    pub(super) principal: Principal,
    pub(super) session: Arc<Session>,
    pub(super) connection: u64,
    /// Cancelled when another connection takes the session over.
    pub(super) stop: CancellationToken,
    /// Agents whose messages flow to this connection.
    pub(super) followers: HashMap<ExecutionId, CancellationToken>,
    /// Finds agents for the all-agents subscriptions.
    pub(super) discovery: Option<CancellationToken>,
    pub(super) metrics: Option<Interval>,
    pub(super) rate: RateLimit,
}

impl Conn {
    async fn serve(
        &mut self,
        inbound: &mut mpsc::Receiver<In>,
        mut ctl: mpsc::Receiver<Ctl>,
        revoked: &CancellationToken,
        silence: Option<Duration>,
    ) -> Option<(u16, &'static str)> {
        let mut heartbeat = tokio::time::interval_at(Instant::now() + HEARTBEAT, HEARTBEAT);
        let mut last_heard = Instant::now();
        let far = Duration::from_secs(365 * 24 * 3600);
        loop {
            let stop = self.stop.clone();
            let metrics_tick = async {
                match self.metrics.as_mut() {
                    Some(i) => {
                        i.tick().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = self.ctx.state.shutdown.cancelled() => return Some((1001, "server shutting down")),
                _ = stop.cancelled() => return Some((1000, "session resumed on another connection")),
                _ = revoked.cancelled() => {
                    let _ = self.ctx.send(message("system:alert", json!({"level": "critical",
                        "category": "security", "message": "the credential of this connection was revoked"}), None, None)).await;
                    return Some((CLOSE_UNAUTHORIZED, "credential revoked"));
                }
                _ = tokio::time::sleep_until(last_heard + silence.unwrap_or(far)) => {
                    return Some((1000, "heartbeat timeout"));
                }
                _ = heartbeat.tick() => {
                    let now = chrono::Utc::now().timestamp_millis();
                    let ping = message("ping", json!({"timestamp": now}), None, None);
                    if !self.ctx.send(ping).await || self.ctx.out.send(Out::Heartbeat).await.is_err() {
                        return None;
                    }
                }
                _ = metrics_tick => self.send_metrics(None).await,
                Some(c) = ctl.recv() => self.on_ctl(c),
                next = inbound.recv() => {
                    last_heard = Instant::now();
                    match next {
                        None => return None,
                        Some(In::TooBig) => return Some((1009, "Message too big")),
                        Some(In::Alive) => {}
                        Some(In::Text(text)) => {
                            if let Some(end) = self.on_text(&text).await {
                                return Some(end);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Handles one client message; `Some` closes the connection.
    async fn on_text(&mut self, text: &str) -> Option<(u16, &'static str)> {
        let request = match Request::parse(text) {
            Ok(r) => r,
            Err(id) => {
                invalid(&self.ctx, id.as_deref()).await;
                return None;
            }
        };
        if !self.rate.allow(Instant::now()) {
            if request.kind != "ping" && request.kind != "pong" {
                self.ctx
                    .refuse(
                        request.id(),
                        None,
                        ErrorCode::RateLimitExceeded,
                        format!("more than {MESSAGES_PER_SECOND} messages per second"),
                    )
                    .await;
            }
            return None;
        }
        let member = self.principal.user.role.at_least(Role::Member);
        let command = matches!(
            request.kind.as_str(),
            "agent:create" | "agent:command" | "agent:pause" | "agent:resume" | "agent:terminate"
        );
        if member && command {
            // Commands, not their outcome (that is in the run's history);
            // `agent:command`'s text is what the agent reads: not kept.
            let detail = request
                .str("agentId")
                .map(|a| ("agentId".to_string(), a.to_string()))
                .into_iter()
                .collect();
            crate::auth::audit::note(
                &self.ctx.state.db,
                &self.principal,
                &format!("team-dashboard.{}", request.kind.replace(':', ".")),
                request.str("agentId").map(|a| format!("agents/{a}")),
                detail,
            )
            .await;
        }
        match request.kind.as_str() {
            "ping" => pong(&self.ctx, &request).await,
            "pong" => {}
            "auth" => return self.reauth(&request).await,
            "agent:create" | "agent:command" | "agent:pause" | "agent:resume"
            | "agent:terminate"
                if !member =>
            {
                self.ctx
                    .refuse(
                        request.id(),
                        request.str("agentId"),
                        ErrorCode::InsufficientPermissions,
                        format!("{} needs the member role", request.kind),
                    )
                    .await;
            }
            "agent:create" => {
                let ctx = self.ctx.clone();
                let session = self.session.clone();
                let user = self.principal.user.clone();
                tokio::spawn(
                    async move { agents::create(ctx, session, user, request).await }
                        .in_current_span(),
                );
            }
            "agent:command" | "agent:pause" | "agent:resume" | "agent:terminate" => {
                agents::control(&self.ctx, &self.session, &request).await;
            }
            "subscribe:agent" | "subscribe:logs" | "subscribe:metrics" => {
                self.subscribe(&request).await
            }
            "unsubscribe" => self.unsubscribe(&request).await,
            other => {
                self.ctx
                    .refuse(
                        request.id(),
                        request.str("agentId"),
                        ErrorCode::UnsupportedType,
                        format!("Unknown message type: {other}"),
                    )
                    .await;
            }
        }
        None
    }

    /// `auth` on an authenticated connection: the same user may switch to
    /// a session of theirs (a Socket.IO client authenticated by its
    /// handshake resumes this way).
    async fn reauth(&mut self, request: &Request) -> Option<(u16, &'static str)> {
        let principal = match check_token(&self.ctx, request).await {
            Ok(p) if p.user.id == self.principal.user.id => p,
            Ok(_) | Err(_) => {
                self.ctx
                    .refuse(
                        request.id(),
                        None,
                        ErrorCode::AuthFailed,
                        "authentication failed",
                    )
                    .await;
                return Some((CLOSE_UNAUTHORIZED, "Authentication failed"));
            }
        };
        self.principal = principal;
        let other = request
            .str("sessionId")
            .filter(|id| *id != self.session.id)
            .and_then(|id| self.ctx.dash.sessions.resume(id, self.principal.user.id));
        let resumed = match other {
            Some(session) => {
                self.stop_all();
                self.session
                    .detach(self.connection, chrono::Utc::now().timestamp_millis());
                self.stop = CancellationToken::new();
                session.attach(self.connection, self.stop.clone());
                self.session = session;
                let _ = self
                    .ctx
                    .out
                    .send(Out::Bind(self.session.clone(), self.connection))
                    .await;
                self.restore();
                true
            }
            None => request.str("sessionId") == Some(self.session.id.as_str()),
        };
        self.ctx
            .ack(
                request.id(),
                json!({"sessionId": self.session.id, "resumed": resumed}),
            )
            .await;
        None
    }

    /// Starts what the session follows: its agents from their cursors,
    /// the all-agents discovery, the metrics timer.
    fn restore(&mut self) {
        for agent in self.session.named_agents() {
            self.follow(agent, 0);
        }
        self.ensure_discovery();
        if self.session.wants_metrics() && self.metrics.is_none() {
            self.metrics = Some(metrics_timer());
        }
    }

    fn on_ctl(&mut self, ctl: Ctl) {
        match ctl {
            Ctl::Discovered(agent, before) => self.follow(agent, before),
            Ctl::Adopt(agent, stream, pending) => {
                if let Some(old) = self.followers.remove(&agent) {
                    old.cancel();
                }
                let token = CancellationToken::new();
                self.followers.insert(agent, token.clone());
                tokio::spawn(
                    follow::run(
                        self.ctx.clone(),
                        self.session.clone(),
                        agent,
                        stream,
                        pending,
                        token,
                        None,
                    )
                    .in_current_span(),
                );
            }
        }
    }

    /// Follows `agent` from after `since` (or after what the client saw of
    /// it), unless already following it.
    pub(super) fn follow(&mut self, agent: ExecutionId, since: u64) {
        if self
            .followers
            .get(&agent)
            .is_some_and(|t| !t.is_cancelled())
        {
            return;
        }
        let from = self
            .session
            .state()
            .cursors
            .get(&agent)
            .map_or(since, |c| since.max(c.seq.saturating_sub(1)));
        let token = CancellationToken::new();
        self.followers.insert(agent, token.clone());
        let stream = crate::events::subscription::ExecutionStream::open(
            &self.ctx.state.hub,
            self.ctx.state.db.clone(),
            agent,
            from,
        );
        tokio::spawn(
            follow::run(
                self.ctx.clone(),
                self.session.clone(),
                agent,
                stream,
                VecDeque::new(),
                token,
                Some(self.ctx.state.executions.clone()),
            )
            .in_current_span(),
        );
    }

    pub(super) fn ensure_discovery(&mut self) {
        match self.session.all_agents_since() {
            Some(since) if self.discovery.is_none() => {
                let token = CancellationToken::new();
                self.discovery = Some(token.clone());
                tokio::spawn(follow::discover(self.ctx.clone(), since, token).in_current_span());
            }
            None => {
                if let Some(token) = self.discovery.take() {
                    token.cancel();
                }
            }
            Some(_) => {}
        }
    }

    fn stop_all(&mut self) {
        for (_, token) in self.followers.drain() {
            token.cancel();
        }
        if let Some(token) = self.discovery.take() {
            token.cancel();
        }
        self.metrics = None;
    }
}

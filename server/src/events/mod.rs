//! The event core: every state change and every log line of an execution
//! is an event with a per-execution sequence number (1, 2, 3… no gaps).
//!
//! ```text
//! executor ──append──▶ writer (one task: number, batch, commit) ──committed──▶ hub ──▶ subscriptions
//!                                     │                                               ▲
//!                                     └────────────── store (execution_events) ───────┘ replay / resync
//! ```
//!
//! Invariants: an event reaches the hub only after its transaction
//! committed (persist before publish); a subscription registers with the
//! hub before it reads history, and drops any `seq` it already sent; a
//! subscriber that falls behind is resynchronised from the store, never
//! silently skipped. The core knows nothing about wire formats: dialect
//! adapters map [`ExecutionEvent`]s to their messages (the native JSON is
//! computed once per event and shared by every subscriber).

pub mod hub;
pub mod subscription;
pub mod writer;

use std::sync::{Arc, OnceLock};

use app::model::{EventBody, ExecutionEvent, ExecutionId, UserId};
use app::protocol::native::ServerMessage;

pub use hub::Hub;
pub use writer::EventWriter;

/// A committed event as the hub hands it out.
#[derive(Debug)]
pub struct Published {
    pub event: ExecutionEvent,
    native: OnceLock<Arc<str>>,
}

impl Published {
    pub fn new(event: ExecutionEvent) -> Arc<Self> {
        Arc::new(Published {
            event,
            native: OnceLock::new(),
        })
    }

    pub fn execution_id(&self) -> ExecutionId {
        self.event.execution_id
    }

    pub fn seq(&self) -> u64 {
        self.event.seq
    }

    pub fn is_log(&self) -> bool {
        self.event.body.is_log()
    }

    pub fn is_terminal(&self) -> bool {
        matches!(self.event.body, EventBody::Finished { .. })
    }

    /// The native-dialect JSON of this event, serialised once.
    pub fn native_json(&self) -> Arc<str> {
        self.native
            .get_or_init(|| {
                let msg = ServerMessage::from(&self.event);
                serde_json::to_string(&msg).unwrap_or_default().into()
            })
            .clone()
    }
}

/// Who may see a workspace event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    /// Every signed-in user (issues and workflow runs are team-wide).
    Everyone,
    /// One user's connections (notifications).
    User(UserId),
}

/// A committed workspace event (issue, workflow run or notification) with
/// its native JSON, serialised once for every connection.
#[derive(Debug)]
pub struct Broadcast {
    pub audience: Audience,
    pub message: ServerMessage,
    pub json: Arc<str>,
}

impl Broadcast {
    pub fn new(audience: Audience, message: ServerMessage) -> Arc<Self> {
        let json = serde_json::to_string(&message).unwrap_or_default().into();
        Arc::new(Broadcast {
            audience,
            message,
            json,
        })
    }

    pub fn is_for(&self, user: UserId) -> bool {
        match self.audience {
            Audience::Everyone => true,
            Audience::User(u) => u == user,
        }
    }
}

/// The kind column of the store (a short name for each body variant).
pub fn kind(body: &EventBody) -> &'static str {
    match body {
        EventBody::Queued { .. } => "queued",
        EventBody::Started { .. } => "started",
        EventBody::Progress { .. } => "progress",
        EventBody::Log { .. } => "log",
        EventBody::Paused => "paused",
        EventBody::Resumed => "resumed",
        EventBody::Requeued { .. } => "requeued",
        EventBody::Finished { .. } => "finished",
    }
}

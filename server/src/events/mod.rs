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
//! silently skipped. The core knows nothing about wire formats: it carries
//! domain events ([`ExecutionEvent`], [`WorkspaceEvent`]) and each dialect
//! adapter maps them to its messages (serialised once per event and
//! dialect, shared by every subscriber of that dialect).

pub mod hub;
mod relay;
pub use relay::spawn as relay_other_replicas;
mod pieces;
pub mod subscription;
pub mod writer;

use std::sync::{Arc, OnceLock};

use app::model::{EventBody, ExecutionEvent, ExecutionId, UserId, WorkspaceEvent};

pub use hub::Hub;
pub use writer::EventWriter;

/// Dialects that serialise an event once for all their subscribers each
/// have a slot in the per-event cache ([`Published::encoded`]).
pub const ENCODING_SLOTS: usize = 4;

/// One serialised form of an event per dialect slot, made on first use.
#[derive(Debug, Default)]
struct Encoded([OnceLock<Arc<str>>; ENCODING_SLOTS]);

impl Encoded {
    fn get(&self, slot: usize, encode: impl FnOnce() -> String) -> Arc<str> {
        self.0[slot % ENCODING_SLOTS]
            .get_or_init(|| encode().into())
            .clone()
    }
}

/// A committed event as the hub hands it out.
#[derive(Debug)]
pub struct Published {
    pub event: ExecutionEvent,
    /// Written by another replica and read here from the store.
    pub relayed: bool,
    encoded: Encoded,
}

impl Published {
    pub fn new(event: ExecutionEvent) -> Arc<Self> {
        Arc::new(Published {
            event,
            relayed: false,
            encoded: Encoded::default(),
        })
    }

    /// An event another replica wrote (see [`relay_other_replicas`]).
    pub fn relayed(event: ExecutionEvent) -> Arc<Self> {
        Arc::new(Published {
            event,
            relayed: true,
            encoded: Encoded::default(),
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

    /// This event as dialect `slot` writes it, serialised once however many
    /// sockets of that dialect receive it.
    pub fn encoded(&self, slot: usize, encode: impl FnOnce(&ExecutionEvent) -> String) -> Arc<str> {
        self.encoded.get(slot, || encode(&self.event))
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

/// A committed workspace event (issue, workflow run, notification or
/// runner), handed to every connection, which filters by audience.
#[derive(Debug)]
pub struct Broadcast {
    pub audience: Audience,
    pub event: WorkspaceEvent,
    encoded: Encoded,
}

impl Broadcast {
    pub fn new(event: WorkspaceEvent) -> Arc<Self> {
        let audience = match event.recipient() {
            Some(user) => Audience::User(user),
            None => Audience::Everyone,
        };
        Arc::new(Broadcast {
            audience,
            event,
            encoded: Encoded::default(),
        })
    }

    pub fn is_for(&self, user: UserId) -> bool {
        match self.audience {
            Audience::Everyone => true,
            Audience::User(u) => u == user,
        }
    }

    /// This event as dialect `slot` writes it, serialised once.
    pub fn encoded(&self, slot: usize, encode: impl FnOnce(&WorkspaceEvent) -> String) -> Arc<str> {
        self.encoded.get(slot, || encode(&self.event))
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

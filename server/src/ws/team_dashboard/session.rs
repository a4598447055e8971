//! Team Dashboard sessions: what a client follows, and how far it got.
//!
//! A session outlives its connection for [`SESSION_TTL_SECS`]. It keeps
//! the subscriptions, the agents it created, and per agent a cursor: the
//! last message *written* to the client (an event's `seq` and the
//! message's place among those the event makes). A client that comes back
//! with the session id gets everything after its cursors rebuilt from the
//! store, with the same ids and sequences, however long it was away and
//! however many messages it missed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use app::model::{ExecutionId, UserId};
use app::protocol::team_dashboard::{COMMANDS_PER_SECOND, SESSION_TTL_SECS};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::feed::Kind;
use crate::ws::socket::RateLimit;

/// Where a client got to in one agent's messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    pub seq: u64,
    pub n: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topic {
    /// `subscribe:agent`: everything about one agent, or all of them.
    Agent,
    /// `subscribe:logs`: output only.
    Logs,
    /// `subscribe:metrics`.
    Metrics,
}

#[derive(Clone, Debug)]
pub struct Subscription {
    pub topic: Topic,
    /// One agent, or every agent.
    pub agent: Option<ExecutionId>,
    pub filters: Vec<String>,
    /// When it was made (epoch ms): an all-agents subscription follows
    /// what happens from then on.
    pub since_ms: i64,
}

impl Subscription {
    fn about(&self, agent: ExecutionId) -> bool {
        self.topic != Topic::Metrics && self.agent.is_none_or(|a| a == agent)
    }

    fn passes(&self, agent: ExecutionId, kind: Kind, stream: Option<&str>) -> bool {
        self.about(agent)
            && match self.topic {
                Topic::Agent => kind.passes(stream, &self.filters),
                Topic::Logs => kind == Kind::Output && kind.passes(stream, &self.filters),
                Topic::Metrics => false,
            }
    }
}

#[derive(Default)]
pub struct State {
    pub subscriptions: HashMap<String, Subscription>,
    /// Agents this session created: it hears about them unsubscribed.
    pub created: HashSet<ExecutionId>,
    pub cursors: HashMap<ExecutionId, Cursor>,
    /// The connection serving the session (its id, and the token that
    /// ends it), if one does.
    pub attached: Option<(u64, CancellationToken)>,
    /// When the last connection went (epoch ms and instant).
    pub detached: Option<(i64, Instant)>,
    commands: HashMap<ExecutionId, RateLimit>,
}

pub struct Session {
    pub id: String,
    pub user: UserId,
    state: Mutex<State>,
}

impl Session {
    pub fn new(user: UserId) -> Arc<Self> {
        Arc::new(Session {
            id: uuid::Uuid::new_v4().to_string(),
            user,
            state: Mutex::new(State::default()),
        })
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a message of `kind` about `agent` goes to this session.
    pub fn wants(&self, agent: ExecutionId, kind: Kind, stream: Option<&str>) -> bool {
        let state = self.state();
        state.created.contains(&agent)
            || state
                .subscriptions
                .values()
                .any(|s| s.passes(agent, kind, stream))
    }

    /// Whether anything still makes this session follow `agent`.
    pub fn follows(&self, agent: ExecutionId) -> bool {
        let state = self.state();
        state.created.contains(&agent) || state.subscriptions.values().any(|s| s.about(agent))
    }

    /// Whether the message at `cursor` was written to the client already.
    pub fn delivered(&self, agent: ExecutionId, cursor: Cursor) -> bool {
        self.state()
            .cursors
            .get(&agent)
            .is_some_and(|c| cursor <= *c)
    }

    /// Notes messages as written by connection `connection` (ignored when
    /// another connection has taken the session over).
    pub fn advance(&self, connection: u64, marks: &[(ExecutionId, Cursor)]) {
        if marks.is_empty() {
            return;
        }
        let mut state = self.state();
        if state
            .attached
            .as_ref()
            .is_none_or(|(c, _)| *c != connection)
        {
            return;
        }
        for (agent, cursor) in marks {
            let c = state.cursors.entry(*agent).or_default();
            if *cursor > *c {
                *c = *cursor;
            }
        }
    }

    /// Takes one command for `agent` out of its allowance.
    pub fn allow_command(&self, agent: ExecutionId, now: Instant) -> bool {
        self.state()
            .commands
            .entry(agent)
            .or_insert_with(|| RateLimit::new(COMMANDS_PER_SECOND, Duration::from_secs(1)))
            .allow(now)
    }

    /// The subscription that follows every agent's events since the
    /// earliest time, if there is one.
    pub fn all_agents_since(&self) -> Option<i64> {
        self.state()
            .subscriptions
            .values()
            .filter(|s| s.topic != Topic::Metrics && s.agent.is_none())
            .map(|s| s.since_ms)
            .min()
    }

    pub fn wants_metrics(&self) -> bool {
        self.state()
            .subscriptions
            .values()
            .any(|s| s.topic == Topic::Metrics)
    }

    /// Agents followed by name (created, or subscribed to one by one).
    pub fn named_agents(&self) -> Vec<ExecutionId> {
        let state = self.state();
        let mut agents: HashSet<ExecutionId> = state.created.iter().copied().collect();
        agents.extend(state.subscriptions.values().filter_map(|s| s.agent));
        agents.into_iter().collect()
    }

    /// Binds the session to connection `connection` (its id and the token
    /// that ends it), ending the one it had.
    pub fn attach(&self, connection: u64, stop: CancellationToken) {
        let mut state = self.state();
        if let Some((_, old)) = state.attached.replace((connection, stop)) {
            old.cancel();
        }
        state.detached = None;
    }

    /// Connection `connection` has gone; unless another took the session
    /// over, it waits for a reconnect.
    pub fn detach(&self, connection: u64, now_ms: i64) {
        let mut state = self.state();
        if state
            .attached
            .as_ref()
            .is_some_and(|(c, _)| *c == connection)
        {
            state.attached = None;
            state.detached = Some((now_ms, Instant::now()));
        }
    }

    pub fn expired(&self, now: Instant) -> bool {
        self.state().detached.is_some_and(|(_, at)| {
            now.saturating_duration_since(at) > Duration::from_secs(SESSION_TTL_SECS)
        })
    }
}

/// Every session, by id.
#[derive(Default)]
pub struct Sessions {
    by_id: Mutex<HashMap<String, Arc<Session>>>,
}

impl Sessions {
    /// The session `id` of `user`, if it lives; expired ones are dropped
    /// on the way.
    pub fn resume(&self, id: &str, user: UserId) -> Option<Arc<Session>> {
        let mut sessions = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        sessions.retain(|_, s| !s.expired(now));
        sessions.get(id).filter(|s| s.user == user).cloned()
    }

    pub fn create(&self, user: UserId) -> Arc<Session> {
        let session = Session::new(user);
        let mut sessions = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        sessions.retain(|_, s| !s.expired(now));
        sessions.insert(session.id.clone(), session.clone());
        session
    }
}

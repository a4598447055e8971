//! Every open socket of every dialect, by whose credential opened it, so
//! that ending a credential ends its sockets at once: a revoked API key,
//! a signed-out session, an expired token.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use app::model::UserId;
use tokio_util::sync::CancellationToken;

use super::Principal;

/// The protocol a socket speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// `/ws`, the browser's and seed 002's.
    Native,
    CcAnywhere,
    TeamDashboard,
    /// Socket.IO (nospace).
    Nospace,
    /// A remote runner (KTCP).
    Ktcp,
}

impl Dialect {
    pub const ALL: [Dialect; 5] = [
        Dialect::Native,
        Dialect::CcAnywhere,
        Dialect::TeamDashboard,
        Dialect::Nospace,
        Dialect::Ktcp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Native => "native",
            Dialect::CcAnywhere => "cc-anywhere",
            Dialect::TeamDashboard => "team-dashboard",
            Dialect::Nospace => "nospace",
            Dialect::Ktcp => "ktcp",
        }
    }
}

#[derive(Default)]
pub struct Connections {
    next: AtomicU64,
    open: Mutex<HashMap<u64, Entry>>,
}

struct Entry {
    dialect: Dialect,
    user: UserId,
    api_key: Option<String>,
    session: Option<String>,
    end: CancellationToken,
}

/// One socket's registration; dropping it forgets the socket.
pub struct Registration {
    id: u64,
    connections: Arc<Connections>,
    /// Cancelled when the socket's credential ends (revoked, signed out,
    /// or expired): close the socket.
    pub ended: CancellationToken,
    expiry: Option<tokio::task::AbortHandle>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(expiry) = &self.expiry {
            expiry.abort();
        }
        if let Ok(mut open) = self.connections.open.lock() {
            open.remove(&self.id);
        }
    }
}

impl Connections {
    /// Records a socket of `dialect` opened by `principal`.
    pub fn register(self: &Arc<Self>, principal: &Principal, dialect: Dialect) -> Registration {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let ended = CancellationToken::new();
        if let Ok(mut open) = self.open.lock() {
            open.insert(
                id,
                Entry {
                    dialect,
                    user: principal.user.id,
                    api_key: principal.api_key.clone(),
                    session: principal.session.as_ref().map(|(jti, _)| jti.clone()),
                    end: ended.clone(),
                },
            );
        }
        // A session token expires: so does the socket it opened.
        let expiry = principal.session.as_ref().and_then(|(_, exp)| {
            let runtime = tokio::runtime::Handle::try_current().ok()?;
            let left = (*exp - chrono::Utc::now().timestamp()).max(0) as u64;
            let ended = ended.clone();
            Some(
                runtime
                    .spawn(async move {
                        tokio::time::sleep(std::time::Duration::from_secs(left)).await;
                        ended.cancel();
                    })
                    .abort_handle(),
            )
        });
        Registration {
            id,
            connections: self.clone(),
            ended,
            expiry,
        }
    }

    /// Ends every socket opened with session token `jti` (signed out).
    pub fn end_session(&self, jti: &str) -> usize {
        self.end_where(|e| e.session.as_deref() == Some(jti))
    }

    /// Ends every socket opened with API key `id`; answers how many.
    pub fn end_api_key(&self, id: &str) -> usize {
        self.end_where(|e| e.api_key.as_deref() == Some(id))
    }

    /// Ends every socket of `user`; answers how many.
    pub fn end_user(&self, user: UserId) -> usize {
        self.end_where(|e| e.user == user)
    }

    /// Closes `user`'s sockets opened with a session token other than
    /// `keep` (their API keys' sockets stay).
    pub fn end_other_sessions(&self, user: UserId, keep: Option<&str>) -> usize {
        self.end_where(|e| e.user == user && e.session.is_some() && e.session.as_deref() != keep)
    }

    /// Open sockets of `user`.
    pub fn count_user(&self, user: UserId) -> usize {
        self.open
            .lock()
            .map(|o| o.values().filter(|e| e.user == user).count())
            .unwrap_or(0)
    }

    /// Open sockets by dialect.
    pub fn count_by_dialect(&self) -> HashMap<Dialect, usize> {
        let mut counts = HashMap::new();
        if let Ok(open) = self.open.lock() {
            for e in open.values() {
                *counts.entry(e.dialect).or_insert(0) += 1;
            }
        }
        counts
    }

    fn end_where(&self, which: impl Fn(&Entry) -> bool) -> usize {
        let Ok(open) = self.open.lock() else {
            return 0;
        };
        let mut n = 0;
        for entry in open.values().filter(|e| which(e)) {
            entry.end.cancel();
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::{Role, User};

    fn principal(user: u128, key: Option<&str>) -> Principal {
        Principal {
            user: User {
                id: UserId(uuid::Uuid::from_u128(user)),
                username: "u".into(),
                role: Role::Member,
            },
            api_key: key.map(str::to_string),
            session: None,
        }
    }

    #[test]
    fn ending_a_key_ends_only_its_sockets() {
        let c = Arc::new(Connections::default());
        let by_key = c.register(&principal(1, Some("k1")), Dialect::Native);
        let by_token = c.register(&principal(1, None), Dialect::Ktcp);
        let other = c.register(&principal(2, Some("k2")), Dialect::Native);
        assert_eq!(c.end_api_key("k1"), 1);
        assert!(by_key.ended.is_cancelled());
        assert!(!by_token.ended.is_cancelled() && !other.ended.is_cancelled());
        assert_eq!(c.count_user(UserId(uuid::Uuid::from_u128(1))), 2);
        assert_eq!(c.count_by_dialect().get(&Dialect::Native), Some(&2));
        drop(by_key);
        assert_eq!(c.count_user(UserId(uuid::Uuid::from_u128(1))), 1);
        assert_eq!(c.count_by_dialect().get(&Dialect::Native), Some(&1));
        assert_eq!(c.count_by_dialect().get(&Dialect::Ktcp), Some(&1));
        assert_eq!(c.end_user(UserId(uuid::Uuid::from_u128(2))), 1);
        assert!(other.ended.is_cancelled());
    }

    #[tokio::test]
    async fn sessions_end_their_sockets_when_signed_out_or_expired() {
        let c = Arc::new(Connections::default());
        let mut p = principal(3, None);
        p.session = Some(("jti-a".into(), chrono::Utc::now().timestamp() + 3600));
        let a = c.register(&p, Dialect::Native);
        p.session = Some(("jti-b".into(), chrono::Utc::now().timestamp()));
        let b = c.register(&p, Dialect::Nospace);
        tokio::time::timeout(std::time::Duration::from_secs(2), b.ended.cancelled())
            .await
            .expect("an expired token's socket ends");
        assert!(!a.ended.is_cancelled());
        assert_eq!(c.end_session("jti-a"), 1);
        assert!(a.ended.is_cancelled());
    }
}

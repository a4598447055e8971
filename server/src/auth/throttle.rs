//! Slows down password guessing without letting anyone lock out a user.
//!
//! Every attempt is counted *before* its password is hashed (so a parallel
//! burst cannot slip past the count) under three keys, each with its own
//! allowance before it locks for a period that doubles with each further
//! failure (30 s up to 15 min); while a key is locked no password is
//! checked:
//! - the address and username together: 5 (one client guessing one account);
//! - the address: 20 (one client guessing many accounts);
//! - the username, from anywhere: 100 (a distributed guess at one account).
//!   Another client's five wrong guesses do not lock its owner out.
//!
//! A success clears the pair and takes itself back from the address and
//! username counts. Usernames are kept as
//! hashes (a key is 32 bytes however long the name sent), entries expire
//! after quiet periods, and the map is bounded.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

const FIRST_LOCK: Duration = Duration::from_secs(30);
const MAX_LOCK: Duration = Duration::from_secs(15 * 60);
/// A key with no failure for this long is forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(30 * 60);
const MAX_KEYS: usize = 50_000;

/// Failures each kind of key allows before it locks.
const PAIR_FREE: u32 = 5;
const ADDRESS_FREE: u32 = 20;
const USER_FREE: u32 = 100;

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last_failure: Instant,
    locked_until: Option<Instant>,
}

#[derive(Debug, Default)]
pub struct LoginThrottle {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

fn key(kind: &str, parts: &[&str]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(kind.as_bytes());
    for p in parts {
        h.update([0]);
        h.update(p.as_bytes());
    }
    h.finalize().into()
}

impl LoginThrottle {
    fn keys(ip: &str, username: &str) -> [([u8; 32], u32); 3] {
        let user = username.to_lowercase();
        [
            (key("pair", &[ip, &user]), PAIR_FREE),
            (key("ip", &[ip]), ADDRESS_FREE),
            (key("user", &[&user]), USER_FREE),
        ]
    }

    /// Starts an attempt: `Err(retry_after)` while a key is locked;
    /// otherwise the attempt is counted as a failure until
    /// [`record_success`](Self::record_success) says otherwise.
    pub fn attempt(&self, ip: &str, username: &str, now: Instant) -> Result<(), Duration> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let keys = Self::keys(ip, username);
        let wait = keys
            .iter()
            .filter_map(|(k, _)| entries.get(k)?.locked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max();
        if let Some(w) = wait {
            return Err(w);
        }
        if entries.len() >= MAX_KEYS {
            entries.retain(|_, e| now.duration_since(e.last_failure) < FORGET_AFTER);
            if entries.len() >= MAX_KEYS {
                // Still full: drop the oldest half rather than grow without bound.
                let mut ages: Vec<Instant> = entries.values().map(|e| e.last_failure).collect();
                ages.sort();
                let cut = ages[ages.len() / 2];
                entries.retain(|_, e| e.last_failure > cut);
            }
        }
        for (k, free) in keys {
            let entry = entries.entry(k).or_insert(Entry {
                failures: 0,
                last_failure: now,
                locked_until: None,
            });
            if now.duration_since(entry.last_failure) >= FORGET_AFTER {
                entry.failures = 0;
            }
            entry.failures += 1;
            entry.last_failure = now;
            if entry.failures >= free {
                let doublings = (entry.failures - free).min(16);
                let lock = FIRST_LOCK.saturating_mul(1 << doublings).min(MAX_LOCK);
                entry.locked_until = Some(now + lock);
            }
        }
        Ok(())
    }

    /// The attempt was right: it no longer counts against its address or
    /// username, and the pair starts afresh. The address keeps its other
    /// failures: signing in to one's own account does not buy guesses at
    /// others'.
    pub fn record_success(&self, ip: &str, username: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let [(pair, _), address, user] = Self::keys(ip, username);
        entries.remove(&pair);
        for (key, free) in [address, user] {
            if let Some(e) = entries.get_mut(&key) {
                e.failures = e.failures.saturating_sub(1);
                // Only this attempt can have locked it (a locked key lets
                // no attempt through): undone with it.
                if e.failures < free {
                    e.locked_until = None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_locks_after_five_attempts_and_doubles() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        for _ in 0..5 {
            assert!(t.attempt("1.2.3.4", "ada", now).is_ok());
        }
        assert_eq!(t.attempt("1.2.3.4", "ADA", now), Err(FIRST_LOCK));
        // L1: another address still signs in as ada; the address can try others.
        assert!(t.attempt("5.6.7.8", "ada", now).is_ok());
        assert!(t.attempt("1.2.3.4", "bob", now).is_ok());
        // After it runs out, one more failure locks for twice as long.
        let later = now + FIRST_LOCK;
        assert!(t.attempt("1.2.3.4", "ada", later).is_ok());
        assert_eq!(t.attempt("1.2.3.4", "ada", later), Err(FIRST_LOCK * 2));
    }

    #[test]
    fn an_address_guessing_many_names_locks() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        for i in 0..ADDRESS_FREE {
            assert!(t.attempt("9.9.9.9", &format!("user{i}"), now).is_ok());
        }
        assert!(t.attempt("9.9.9.9", "someone-else", now).is_err());
        assert!(t.attempt("8.8.8.8", "someone-else", now).is_ok());
    }

    /// An attacker's own successful sign-ins do not reset the address.
    #[test]
    fn own_successes_do_not_buy_guesses_at_others() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        for i in 0..ADDRESS_FREE - 1 {
            t.attempt("6.6.6.6", &format!("victim{i}"), now).unwrap();
        }
        t.attempt("6.6.6.6", "me", now).unwrap();
        t.record_success("6.6.6.6", "me");
        t.attempt("6.6.6.6", "victim0", now).unwrap();
        assert!(t.attempt("6.6.6.6", "victim1", now).is_err());
    }

    #[test]
    fn success_clears_and_quiet_periods_forget() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        for _ in 0..4 {
            t.attempt("ip", "ada", now).unwrap();
        }
        t.record_success("ip", "ada");
        for _ in 0..4 {
            t.attempt("ip", "ada", now).unwrap();
        }
        let much_later = now + FORGET_AFTER;
        for _ in 0..4 {
            t.attempt("ip2", "eve", now).unwrap();
        }
        for _ in 0..4 {
            assert!(t.attempt("ip2", "eve", much_later).is_ok());
        }
    }

    /// M1: a key is 32 bytes however long the username sent.
    #[test]
    fn keys_are_bounded() {
        let t = LoginThrottle::default();
        let huge = "x".repeat(2 << 20);
        t.attempt("ip", &huge, Instant::now()).unwrap();
        assert_eq!(t.entries.lock().unwrap().len(), 3);
    }
}

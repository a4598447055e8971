//! Slows down password guessing. Failures are counted per client address
//! and per username; after `FREE_FAILURES` failures in a row a key is
//! locked for a period that doubles with each further failure (30 s up to
//! 15 min). While locked, no password is even checked. A success clears the
//! username's and the address's count. Entries expire after quiet periods,
//! and the map is bounded, so it cannot be used to exhaust memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const FREE_FAILURES: u32 = 5;
const FIRST_LOCK: Duration = Duration::from_secs(30);
const MAX_LOCK: Duration = Duration::from_secs(15 * 60);
/// A key with no failure for this long is forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(30 * 60);
const MAX_KEYS: usize = 50_000;

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last_failure: Instant,
    locked_until: Option<Instant>,
}

#[derive(Debug, Default)]
pub struct LoginThrottle {
    entries: Mutex<HashMap<String, Entry>>,
}

impl LoginThrottle {
    fn keys(ip: &str, username: &str) -> [String; 2] {
        [
            format!("ip:{ip}"),
            format!("user:{}", username.to_lowercase()),
        ]
    }

    /// `Err(retry_after)` while either key is locked.
    pub fn check(&self, ip: &str, username: &str, now: Instant) -> Result<(), Duration> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let wait = Self::keys(ip, username)
            .iter()
            .filter_map(|k| entries.get(k)?.locked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max();
        match wait {
            Some(w) => Err(w),
            None => Ok(()),
        }
    }

    pub fn record_failure(&self, ip: &str, username: &str, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
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
        for key in Self::keys(ip, username) {
            let entry = entries.entry(key).or_insert(Entry {
                failures: 0,
                last_failure: now,
                locked_until: None,
            });
            if now.duration_since(entry.last_failure) >= FORGET_AFTER {
                entry.failures = 0;
            }
            entry.failures += 1;
            entry.last_failure = now;
            if entry.failures >= FREE_FAILURES {
                let doublings = (entry.failures - FREE_FAILURES).min(16);
                let lock = FIRST_LOCK.saturating_mul(1 << doublings).min(MAX_LOCK);
                entry.locked_until = Some(now + lock);
            }
        }
    }

    pub fn record_success(&self, ip: &str, username: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        for key in Self::keys(ip, username) {
            entries.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_five_failures_and_doubles() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        for _ in 0..4 {
            t.record_failure("1.2.3.4", "ada", now);
            assert!(t.check("1.2.3.4", "ada", now).is_ok());
        }
        t.record_failure("1.2.3.4", "ada", now);
        assert_eq!(t.check("1.2.3.4", "ada", now), Err(FIRST_LOCK));
        // The lock follows the username to another address, and the address to another name.
        assert!(t.check("5.6.7.8", "ADA", now).is_err());
        assert!(t.check("1.2.3.4", "bob", now).is_err());
        // After it runs out, one more failure locks for twice as long.
        let later = now + FIRST_LOCK;
        assert!(t.check("1.2.3.4", "ada", later).is_ok());
        t.record_failure("1.2.3.4", "ada", later);
        assert_eq!(t.check("1.2.3.4", "ada", later), Err(FIRST_LOCK * 2));
    }

    #[test]
    fn success_clears_and_quiet_periods_forget() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        for _ in 0..4 {
            t.record_failure("ip", "ada", now);
        }
        t.record_success("ip", "ada");
        t.record_failure("ip", "ada", now);
        assert!(t.check("ip", "ada", now).is_ok());
        let much_later = now + FORGET_AFTER;
        for _ in 0..4 {
            t.record_failure("ip2", "eve", now);
        }
        t.record_failure("ip2", "eve", much_later);
        assert!(t.check("ip2", "eve", much_later).is_ok());
    }
}

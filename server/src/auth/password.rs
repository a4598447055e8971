//! argon2id password hashes. Hashing is deliberately slow (and takes
//! 19 MiB), so it runs on the blocking pool, never on a runtime worker,
//! and at most one hash per core runs at once: a burst of sign-ins queues
//! (bounded in time) instead of taking all memory and threads.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::sync::Semaphore;

/// Longest a sign-in waits for a free hashing slot before it is told to
/// come back later.
const QUEUE_WAIT: Duration = Duration::from_secs(5);

/// Too many sign-ins at once: try again shortly.
#[derive(Debug, PartialEq, Eq)]
pub struct Busy;

fn slots() -> &'static Semaphore {
    static SLOTS: OnceLock<Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Semaphore::new(cores.clamp(1, 8))
    })
}

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// Hashes a password into a PHC string (argon2id, the crate's default,
/// OWASP-recommended parameters).
pub async fn hash(password: String) -> anyhow::Result<String> {
    let _slot = slots().acquire().await?;
    tokio::task::spawn_blocking(move || hash_blocking(&password)).await?
}

fn hash_blocking(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))
}

/// Checks a password against a stored hash. With no stored hash (unknown
/// user) a dummy hash is checked instead, so that the answer takes as long
/// as for a real user and does not tell which part was wrong.
pub async fn verify(stored: Option<String>, password: String) -> Result<bool, Busy> {
    let _slot = match tokio::time::timeout(QUEUE_WAIT, slots().acquire()).await {
        Ok(Ok(slot)) => slot,
        _ => return Err(Busy),
    };
    Ok(tokio::task::spawn_blocking(move || {
        let dummy = dummy_hash();
        // An account without a usable password (made by single sign-on,
        // or deleted: `!…`) costs the same work as an unknown name.
        let (hash, real) = match &stored {
            Some(h) if PasswordHash::new(h).is_ok() => (h.as_str(), true),
            _ => (dummy, false),
        };
        let ok = PasswordHash::new(hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false);
        ok && real
    })
    .await
    .unwrap_or(false))
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_blocking("yagura-dummy-password-for-timing").unwrap_or_else(|_| String::new())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn verifies_only_the_right_password() {
        let h = hash("correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify(Some(h.clone()), "correct horse".into())
            .await
            .unwrap());
        assert!(!verify(Some(h), "correct horse ".into()).await.unwrap());
        assert!(!verify(None, "yagura-dummy-password-for-timing".into())
            .await
            .unwrap());
        assert!(!verify(Some("not a hash".into()), "x".into()).await.unwrap());
    }
}

//! Secrets at rest: GitHub tokens, App keys, the webhook and OAuth secrets,
//! and agents' environment values are sealed with XChaCha20-Poly1305 under a key kept in
//! `<data dir>/secrets-key` (mode 0600) before they reach the database, so
//! a copied database alone does not give them away. They are opened only
//! where they are used and never sent to a client or written to a log.

use std::fmt;
use std::path::Path;

use anyhow::{anyhow, Context};
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

pub const KEY_FILE: &str = "secrets-key";
const PREFIX: &str = "v1:";

#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    /// The data directory's key, made on first use.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Sealer> {
        let key = crate::auth::secret::load_or_create_named(data_dir, KEY_FILE, 32)?;
        Sealer::from_key(&key[..32])
    }

    pub fn from_key(key: &[u8]) -> anyhow::Result<Sealer> {
        let cipher =
            XChaCha20Poly1305::new_from_slice(key).map_err(|_| anyhow!("bad key length"))?;
        Ok(Sealer { cipher })
    }

    pub fn seal(&self, plain: &str) -> String {
        self.seal_for(plain, b"")
    }

    /// Seals `plain` bound to `context` (associated data): it opens only
    /// for that context, so one kind of secret can never be opened as
    /// another.
    fn seal_for(&self, plain: &str, context: &[u8]) -> String {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        // Encryption with a valid key and nonce cannot fail.
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plain.as_bytes(),
                    aad: context,
                },
            )
            .unwrap_or_default();
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
        )
    }

    pub fn open(&self, sealed: &str) -> anyhow::Result<String> {
        self.open_for(sealed, b"")
    }

    fn open_for(&self, sealed: &str, context: &[u8]) -> anyhow::Result<String> {
        let body = sealed
            .strip_prefix(PREFIX)
            .ok_or_else(|| anyhow!("not a sealed value"))?;
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(body)
            .context("sealed value is not base64")?;
        if bytes.len() < 24 {
            return Err(anyhow!("sealed value is too short"));
        }
        let (nonce, data) = bytes.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().map_err(|_| anyhow!("bad nonce"))?;
        let plain = self
            .cipher
            .decrypt(&XNonce::from(nonce), Payload { msg: data, aad: context })
            .map_err(|_| {
                anyhow!("cannot open a sealed secret: the data dir's {KEY_FILE} is not the one it was sealed with")
            })?;
        String::from_utf8(plain).context("sealed value is not UTF-8")
    }
}

/// How an agent's environment value looks at rest: this marker, then a
/// value sealed for [`ENV_CONTEXT`]. Anything else is a value from before
/// sealing (read as it is, and sealed at the next start).
const ENV_MARK: &str = "yagura-sealed:";
/// The associated data of environment values: a GitHub token sealed by
/// [`Sealer::seal`] never opens as one (and so never reaches a process).
const ENV_CONTEXT: &[u8] = b"yagura agent environment";

impl Sealer {
    /// Seals every value of an environment given by a person or client.
    /// Values already sealed are never passed here: a typed value that
    /// looks sealed is sealed again, like any other.
    pub fn seal_env(
        &self,
        env: &std::collections::BTreeMap<String, String>,
    ) -> std::collections::BTreeMap<String, String> {
        env.iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    format!("{ENV_MARK}{}", self.seal_for(v, ENV_CONTEXT)),
                )
            })
            .collect()
    }

    /// An environment as the process gets it: sealed values opened.
    pub fn open_env(
        &self,
        env: &std::collections::BTreeMap<String, String>,
    ) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
        env.iter()
            .map(|(k, v)| {
                let plain = match v.strip_prefix(ENV_MARK) {
                    Some(sealed) => self
                        .open_for(sealed, ENV_CONTEXT)
                        .with_context(|| format!("the environment variable {k}"))?,
                    None => v.clone(),
                };
                Ok((k.clone(), plain))
            })
            .collect()
    }

    /// Whether every value is sealed already.
    pub fn env_sealed(env: &std::collections::BTreeMap<String, String>) -> bool {
        env.values().all(|v| v.starts_with(ENV_MARK))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environments_seal_and_open_back_and_nothing_else_opens_as_one() {
        let sealer = Sealer::from_key(&[9; 32]).unwrap();
        let plain: std::collections::BTreeMap<String, String> = [
            ("API_KEY".to_string(), "sk-1".to_string()),
            ("EMPTY".into(), String::new()),
            // Typed to look sealed: sealed like any other value.
            ("LOOKS".into(), "yagura-sealed:v1:AAAA".into()),
        ]
        .into();
        let sealed = sealer.seal_env(&plain);
        assert!(Sealer::env_sealed(&sealed) && !Sealer::env_sealed(&plain));
        assert!(!format!("{sealed:?}").contains("sk-1"));
        assert_eq!(sealer.open_env(&sealed).unwrap(), plain);
        // A value from before sealing reads as it is.
        let legacy = [("OLD".to_string(), "v".to_string())].into();
        assert_eq!(sealer.open_env(&legacy).unwrap(), legacy);
        // Another key, or another kind of secret put in its place: refused.
        let other = Sealer::from_key(&[8; 32]).unwrap();
        assert!(other.open_env(&sealed).is_err());
        let github_token = sealer.seal("ghp_secret");
        let smuggled = [("T".to_string(), format!("yagura-sealed:{github_token}"))].into();
        assert!(sealer.open_env(&smuggled).is_err());
    }

    #[test]
    fn round_trip_and_tamper() {
        let dir = tempfile::tempdir().unwrap();
        let sealer = Sealer::load_or_create(dir.path()).unwrap();
        let sealed = sealer.seal("ghp_secret");
        assert!(!sealed.contains("ghp_secret"));
        assert_ne!(sealer.seal("ghp_secret"), sealed, "fresh nonce each time");
        assert_eq!(sealer.open(&sealed).unwrap(), "ghp_secret");
        let again = Sealer::load_or_create(dir.path()).unwrap();
        assert_eq!(again.open(&sealed).unwrap(), "ghp_secret");
        let other = Sealer::from_key(&[7u8; 32]).unwrap();
        assert!(other.open(&sealed).is_err());
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(sealer.open(&tampered).is_err());
    }
}

//! Secrets at rest: GitHub tokens, App keys, the webhook and OAuth secrets
//! are sealed with XChaCha20-Poly1305 under a key kept in
//! `<data dir>/secrets-key` (mode 0600) before they reach the database, so
//! a copied database alone does not give them away. They are opened only
//! where they are used and never sent to a client or written to a log.

use std::fmt;
use std::path::Path;

use anyhow::{anyhow, Context};
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
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
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        // Encryption with a valid key and nonce cannot fail.
        let sealed = self
            .cipher
            .encrypt(&nonce, plain.as_bytes())
            .unwrap_or_default();
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
        )
    }

    pub fn open(&self, sealed: &str) -> anyhow::Result<String> {
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
            .decrypt(&XNonce::from(nonce), data)
            .map_err(|_| {
                anyhow!("cannot open a sealed secret: the data dir's {KEY_FILE} is not the one it was sealed with")
            })?;
        String::from_utf8(plain).context("sealed value is not UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

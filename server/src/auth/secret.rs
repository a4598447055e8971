//! The JWT signing secret: 64 random bytes in `<data dir>/jwt-secret`,
//! created on first start with mode 0600.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context};
use rand::RngCore;

pub const FILE_NAME: &str = "jwt-secret";
const LEN: usize = 64;

/// Reads the secret, creating it if it does not exist yet.
pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    load_or_create_named(data_dir, FILE_NAME, LEN)
}

/// Reads the hex key in `<data_dir>/<name>`, creating `len` random bytes
/// with mode 0600 if it does not exist yet.
pub fn load_or_create_named(data_dir: &Path, name: &str, len: usize) -> anyhow::Result<Vec<u8>> {
    let path = data_dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            tighten_permissions(&path)?;
            let bytes = hex::decode(text.trim()).with_context(|| {
                format!("{} is not hex; delete it to make a new one", path.display())
            })?;
            if bytes.len() < 32 {
                bail!(
                    "{} holds fewer than 32 bytes; delete it to make a new one",
                    path.display()
                );
            }
            Ok(bytes)
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => create(&path, len),
        Err(err) => Err(err).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn create(path: &Path, len: usize) -> anyhow::Result<Vec<u8>> {
    let mut bytes = vec![0u8; len];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    create_private(path, hex::encode(&bytes).as_bytes())?;
    tracing::info!(path = %path.display(), "created a new secret key");
    Ok(bytes)
}

/// Creates a file readable by its owner only; fails if it exists.
fn create_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

/// Writes a small secret file readable by its owner only (replacing one).
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let _ = std::fs::remove_file(path);
    create_private(path, bytes)
}

/// A secret readable by others is fixed to 0600, with a warning.
fn tighten_permissions(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "signing secret was readable by others; setting mode 0600");
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        assert_eq!(first.len(), LEN);
        assert_eq!(load_or_create(dir.path()).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(FILE_NAME))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}

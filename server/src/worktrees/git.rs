//! The server's own git: a clean, non-interactive environment that runs
//! none of a repository's config or hooks (agents share its `.git`), nor
//! the user's or the system's config. Credentials reach git through
//! `GIT_CONFIG_*` variables (an `http.extraHeader` scoped to the remote's
//! host), never through a URL, an argument or a log line.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use base64::Engine;
use tokio::process::Command;

/// Longest a git command may take (a clone of a large repository).
const GIT_TIMEOUT: Duration = Duration::from_secs(300);

/// Where a repository's upstream lives, and the token git uses for it.
pub struct Remote {
    pub url: String,
    pub token: String,
}

impl Remote {
    /// `scheme://host/`: the only place the token is sent.
    fn scope(&self) -> Option<String> {
        let (scheme, rest) = self.url.split_once("://")?;
        if !matches!(scheme, "http" | "https") {
            return None;
        }
        let host = rest.split('/').next()?;
        Some(format!("{scheme}://{host}/"))
    }
}

/// Git with a clean, non-interactive environment, plus an auth header when
/// given: its output, trimmed.
pub async fn git(dir: &Path, args: &[&str], remote: Option<&Remote>) -> anyhow::Result<String> {
    let out = git_output(dir, args, remote).await?;
    Ok(String::from_utf8_lossy(&out).trim().to_string())
}

/// [`git`]'s output as written (a patch's last line may be all spaces).
pub async fn git_output(
    dir: &Path,
    args: &[&str],
    remote: Option<&Remote>,
) -> anyhow::Result<Vec<u8>> {
    let mut cmd = Command::new("git");
    // Agents can change the repository's config and hooks (they share its
    // .git): the server's own git runs none of it, nor the user's or the
    // system's config.
    cmd.arg("-C")
        .arg(dir)
        .args([
            "-c",
            "core.hooksPath=/dev/null",
            "-c",
            "core.fsmonitor=false",
            // Signing and signature checks run programs a repository's
            // config names: never.
            "-c",
            "log.showSignature=false",
            "-c",
            "commit.gpgSign=false",
            "-c",
            "tag.gpgSign=false",
            "-c",
            "gpg.program=false",
            "-c",
            "gpg.ssh.program=false",
            "-c",
            "gpg.x509.program=false",
        ])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        // Paths are paths, never patterns (agents name the files).
        .env("GIT_LITERAL_PATHSPECS", "1")
        .env("GIT_AUTHOR_NAME", "Yagura")
        .env("GIT_AUTHOR_EMAIL", "yagura@localhost")
        .env("GIT_COMMITTER_NAME", "Yagura")
        .env("GIT_COMMITTER_EMAIL", "yagura@localhost")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let token = remote.map(|r| r.token.as_str());
    if let Some((remote, scope)) = remote.and_then(|r| Some((r, r.scope()?))) {
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("x-access-token:{}", remote.token));
        cmd.env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", format!("http.{scope}.extraHeader"))
            .env(
                "GIT_CONFIG_VALUE_0",
                format!("Authorization: Basic {basic}"),
            );
    }
    let out = tokio::time::timeout(GIT_TIMEOUT, cmd.output())
        .await
        .context("git took longer than 5 minutes")?
        .context("cannot run git (is it installed?)")?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let mut message: String = stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(3)
            .collect::<Vec<_>>()
            .join(" / ");
        if let Some(token) = token {
            message = message.replace(token, "***");
        }
        bail!(
            "git {} failed: {}",
            args.first().copied().unwrap_or(""),
            message
        );
    }
    Ok(out.stdout)
}

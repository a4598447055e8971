//! The processes under test: `yagura serve` and `yagura runner`, each its
//! own OS process, killed for real.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::http;

/// A `yagura serve` process on a fixed port (so runners and viewers find
/// it again after a restart).
pub struct Server {
    pub child: Child,
    pub addr: String,
    pub log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free port on 127.0.0.1 (bound and let go).
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

impl Server {
    /// Starts the server and waits until it serves `/login`; returns it and
    /// the time that took.
    pub async fn start(
        yagura: &Path,
        data: &Path,
        port: u16,
        logs: &Path,
        extra: &[&str],
    ) -> anyhow::Result<(Server, Duration)> {
        let addr = format!("127.0.0.1:{port}");
        let log = logs.join(format!("serve-{}.log", unique()));
        let err = std::fs::File::create(&log)?;
        let began = Instant::now();
        let child = Command::new(yagura)
            .args(["serve", "--addr", &addr, "--data-dir"])
            .arg(data)
            .args(extra)
            .env("RUST_LOG", "warn")
            .env_remove("DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .with_context(|| format!("cannot start {}", yagura.display()))?;
        let mut server = Server { child, addr, log };
        loop {
            if let Ok((200..=399, _)) = http::call(&server.addr, "GET", "/login", None, None).await
            {
                return Ok((server, began.elapsed()));
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                bail!(
                    "yagura serve exited ({status}): {}",
                    std::fs::read_to_string(&server.log).unwrap_or_default()
                );
            }
            if began.elapsed() > Duration::from_secs(60) {
                bail!("yagura serve did not serve /login within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(mut self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// A `yagura runner` process.
pub struct Runner {
    pub child: Child,
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Runner {
    pub fn start(
        yagura: &Path,
        addr: &str,
        token: &str,
        work: &Path,
        concurrency: u32,
        logs: &Path,
    ) -> anyhow::Result<Runner> {
        let log = std::fs::File::create(logs.join(format!("runner-{}.log", unique())))?;
        let child = Command::new(yagura)
            .args([
                "runner",
                "--server",
                &format!("ws://{addr}"),
                "--token",
                token,
                "--name",
                "soak",
                "--capabilities",
                "soak",
                "--concurrency",
                &concurrency.to_string(),
                "--heartbeat-secs",
                "1",
                "--work-dir",
            ])
            .arg(work)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("cannot start yagura runner")?;
        Ok(Runner { child })
    }
}

fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Resident memory (KiB) and open descriptors of a process.
pub fn footprint(pid: u32) -> Option<(u64, usize)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
    Some((rss, fds))
}

/// `yagura doctor` on the data dir: SQLite's integrity check of the
/// database a killed server left.
pub fn integrity_ok(yagura: &Path, data: &Path) -> anyhow::Result<bool> {
    let out = Command::new(yagura)
        .args(["doctor", "--sandbox", "off", "--data-dir"])
        .arg(data)
        .env_remove("DATABASE_URL")
        .output()
        .context("cannot run yagura doctor")?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.contains("database integrity: ok"))
}

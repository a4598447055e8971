//! The store failing under a run: a full disk ends the run with a clear
//! error (not "running" forever), the server keeps answering, and runs
//! work again once there is room. The data dir sits on a small tmpfs
//! (these tests mount, so they run as root, as CI does).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::common::{self, create_agent, log_lines, start_execution, stored_events, wait_status};

/// A tmpfs mounted on a directory, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, options: &str) -> Tmpfs {
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(at)
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "mount -t tmpfs needs root (CI runs as root)"
        );
        Tmpfs(at.to_path_buf())
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test]
async fn a_full_disk_ends_the_run_and_the_server_stays_up() {
    if common::on_postgres() {
        // The lines go to the database server's disk, not the data dir's.
        eprintln!("skipped on PostgreSQL: the data directory's disk holds no lines");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let disk = Tmpfs::mount(dir.path(), "size=16m");
    let t = common::start_in(dir, |_| {}).await;
    let token = t.setup_admin().await;
    let flood = create_agent(
        &t,
        &token,
        "flood",
        &[
            "sh",
            "-c",
            "yes 'a line of output that fills the disk, line after line, until it is full'",
        ],
        json!({"outputCapBytes": 1073741824, "timeoutSecs": 300}),
    )
    .await;
    let run = start_execution(&t, &token, &flood, "").await;
    let ended = wait_status(
        &t,
        &token,
        &run,
        &["failed", "completed"],
        Duration::from_secs(120),
    )
    .await;
    assert_eq!(ended["status"], "failed", "{ended}");
    assert_eq!(ended["errorCode"], "STORAGE_FULL", "{ended}");
    // The server still answers, pages render, the stored part reads back in order.
    let health = t.http.get(t.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let page = t.http.get(t.url("/login")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let events = stored_events(&t, &token, &run).await;
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "no gap, no half-written event"
    );
    assert_eq!(events.last().unwrap()["type"], "agent.failed");
    assert!(log_lines(&events).len() > 1000);

    // Room again: new runs work.
    disk.resize("64m");
    let (_, lines) =
        common::run_to_completion(&t, &token, "echo", &["sh", "-c", "echo fine"], json!({})).await;
    assert_eq!(lines, vec!["fine".to_string()]);
    let dir = t.shutdown().await;
    drop(disk);
    drop(dir);
}

/// A data dir Yagura cannot write: a clear message and a failing exit code.
#[test]
fn a_read_only_data_dir_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let _ro = Tmpfs::mount(dir.path(), "ro,size=1m");
    let out = Command::new(env!("CARGO_BIN_EXE_yagura"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Read-only file system"), "{stderr}");
}

/// `yagura backup` copies a running server's database consistently; the
/// copy, restored into a fresh data dir, holds every run and line.
#[tokio::test]
async fn a_backup_of_a_running_server_restores_every_run_and_line() {
    if common::on_postgres() {
        // `yagura backup` copies SQLite; PostgreSQL is backed up with pg_dump.
        eprintln!("skipped on PostgreSQL: yagura backup is for SQLite stores");
        return;
    }
    let t = common::start().await;
    let token = t.setup_admin().await;
    let (run, _) = common::run_to_completion(
        &t,
        &token,
        "counter",
        &["sh", "-c", "seq 1 5000"],
        json!({}),
    )
    .await;
    // Another run keeps writing while the backup is taken.
    let busy = create_agent(&t, &token, "busy", &["sh", "-c", "seq 1 200000"], json!({})).await;
    let busy_run = start_execution(&t, &token, &busy, "").await;
    let out_dir = tempfile::tempdir().unwrap();
    let copy = out_dir.path().join("yagura-backup.db");
    let out = Command::new(env!("CARGO_BIN_EXE_yagura"))
        .args(["backup", "--to"])
        .arg(&copy)
        .arg("--data-dir")
        .arg(t.data_dir())
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // A second backup to the same file is refused.
    let again = Command::new(env!("CARGO_BIN_EXE_yagura"))
        .args(["backup", "--to"])
        .arg(&copy)
        .arg("--data-dir")
        .arg(t.data_dir())
        .output()
        .unwrap();
    assert!(!again.status.success());
    wait_status(
        &t,
        &token,
        &busy_run,
        &["completed"],
        Duration::from_secs(60),
    )
    .await;

    // Restore: the copy as yagura.db, with the secrets it was sealed with.
    let restored = tempfile::tempdir().unwrap();
    let data = restored.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::copy(&copy, data.join("yagura.db")).unwrap();
    for secret in ["jwt-secret", "secrets-key"] {
        if t.data_dir().join(secret).exists() {
            std::fs::copy(t.data_dir().join(secret), data.join(secret)).unwrap();
        }
    }
    let r = common::start_in(restored, |_| {}).await;
    let token = common::login_token(&r, common::ADMIN, common::PASSWORD).await;
    let lines = log_lines(&stored_events(&r, &token, &run).await);
    assert_eq!(lines, (1..=5000).map(|n| n.to_string()).collect::<Vec<_>>());
    r.shutdown().await;
    t.shutdown().await;
}

//! A server killed with SIGKILL mid-run: the next start reconciles the
//! execution it left running, with a reason, instead of leaving it stuck.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

/// A `yagura serve` process (the real binary, its own process).
pub(crate) struct Yagura {
    pub child: Child,
    pub base: String,
}

/// A failed assertion must not leave a server running.
impl Drop for Yagura {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn spawn(data: &std::path::Path) -> Yagura {
    spawn_with(data, &[])
}

/// `yagura serve` with extra environment variables.
pub(crate) fn spawn_with(data: &std::path::Path, env: &[(&str, &str)]) -> Yagura {
    let mut command = Command::new(env!("CARGO_BIN_EXE_yagura"));
    command.env_remove("DATABASE_URL");
    if let Some(url) = common::postgres_url(data) {
        command.env("DATABASE_URL", url);
    }
    let mut child = command
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .envs(env.iter().copied())
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.split("listening on ").nth(1) {
                let url = url.split_whitespace().next().unwrap_or_default();
                let _ = tx.send(url.to_string());
            }
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("server announces its address");
    Yagura { child, base }
}

#[tokio::test]
async fn a_restart_fails_what_a_killed_server_left_running() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let http = reqwest::Client::new();
    let mut first = spawn(&data);
    let url = |y: &Yagura, p: &str| format!("{}{p}", y.base);

    let setup: Value = http
        .post(url(&first, "/api/v1/setup"))
        .json(&json!({"username": common::ADMIN, "password": common::PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = setup["token"].as_str().unwrap().to_string();
    let agent: Value = http
        .post(url(&first, "/api/v1/agents"))
        .bearer_auth(&token)
        .json(&json!({"name": "long", "agentType": "Custom", "command": ["sh", "-c", "echo \"pid $$\"; exec sleep 60"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let exec: Value = http
        .post(url(&first, "/api/v1/executions"))
        .bearer_auth(&token)
        .json(&json!({"agentId": agent["id"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = exec["id"].as_str().unwrap().to_string();

    // Wait until it runs and has printed its pid.
    let mut agent_pid = None;
    for _ in 0..100 {
        let events: Vec<Value> = http
            .get(url(&first, &format!("/api/v1/executions/{id}/events")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        agent_pid = events
            .iter()
            .filter_map(|e| {
                e["message"]
                    .as_str()?
                    .strip_prefix("pid ")?
                    .parse::<i32>()
                    .ok()
            })
            .next();
        if agent_pid.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let agent_pid = agent_pid.expect("the agent ran");

    first.child.kill().unwrap(); // SIGKILL: no shutdown code runs
    first.child.wait().unwrap();
    // The orphaned agent would run on; this test does not leave it behind.
    unsafe {
        libc::kill(agent_pid, libc::SIGKILL);
    }

    let mut second = spawn(&data);
    let e: Value = http
        .get(url(&second, &format!("/api/v1/executions/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(e["status"], "failed", "{e}");
    assert_eq!(e["errorCode"], "SERVER_RESTARTED");
    let events: Vec<Value> = http
        .get(url(&second, &format!("/api/v1/executions/{id}/events")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    assert_eq!(events.last().unwrap()["type"], "agent.failed");
    unsafe {
        libc::kill(second.child.id() as i32, libc::SIGTERM);
    }
    second.child.wait().unwrap();
}

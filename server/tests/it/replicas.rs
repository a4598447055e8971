//! Two real `yagura serve` processes on one PostgreSQL database behave as
//! one Yagura: a browser on B sees a run executing on A, every line once;
//! runs queued through both start once each; a replica killed with SIGKILL
//! mid-run has its run failed by the other within the lease.
//!
//! Runs in the PostgreSQL suite (`cargo xtask test-postgres`); on SQLite
//! there is one server per data file, so there is nothing to test.

use crate::common;
use crate::restart::{spawn_with, Yagura};

use std::path::Path;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// The lease of these replicas: how soon a dead one's runs are taken over.
const LEASE_SECS: &str = "3";

/// A second replica: its own data directory on the first one's database,
/// with the first one's keys (sessions and sealed secrets are shared).
fn second_replica(first: &Path, second: &Path) -> Yagura {
    let url = common::postgres_url(first).expect("on PostgreSQL");
    std::fs::write(format!("{}.postgres-url", second.display()), &url).unwrap();
    std::fs::create_dir_all(second).unwrap();
    for key in ["jwt-secret", "secrets-key"] {
        std::fs::copy(first.join(key), second.join(key)).unwrap();
    }
    spawn_with(second, &[("YAGURA_LEASE_SECS", LEASE_SECS)])
}

async fn call(
    http: &reqwest::Client,
    y: &Yagura,
    token: &str,
    method: &str,
    path: &str,
    body: Value,
) -> Value {
    let req = http.request(method.parse().unwrap(), format!("{}{path}", y.base));
    let req = if method == "GET" {
        req
    } else {
        req.json(&body)
    };
    let res = req.bearer_auth(token).send().await.unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    assert!(status.is_success(), "{method} {path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

async fn execution(http: &reqwest::Client, y: &Yagura, token: &str, id: &str) -> Value {
    call(
        http,
        y,
        token,
        "GET",
        &format!("/api/v1/executions/{id}"),
        Value::Null,
    )
    .await
}

async fn wait_status(
    http: &reqwest::Client,
    y: &Yagura,
    token: &str,
    id: &str,
    wanted: &[&str],
    within: Duration,
) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let e = execution(http, y, token, id).await;
        if wanted.iter().any(|w| e["status"] == *w) {
            return e;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id} stayed {} (wanted {wanted:?}): {e}",
            e["status"]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn events(http: &reqwest::Client, y: &Yagura, token: &str, id: &str) -> Vec<Value> {
    let page = call(
        http,
        y,
        token,
        "GET",
        &format!("/api/v1/executions/{id}/events?limit=10000"),
        Value::Null,
    )
    .await;
    page.as_array()
        .cloned()
        .unwrap_or_else(|| page["items"].as_array().cloned().unwrap_or_default())
}

#[tokio::test]
async fn two_replicas_on_one_database_behave_as_one() {
    if !common::on_postgres() {
        eprintln!("skipped: replicas share a PostgreSQL database (run with YAGURA_TEST_POSTGRES)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (a_data, b_data) = (dir.path().join("a"), dir.path().join("b"));
    let mut a = spawn_with(&a_data, &[("YAGURA_LEASE_SECS", LEASE_SECS)]);
    let b = second_replica(&a_data, &b_data);
    let http = reqwest::Client::new();
    let setup: Value = http
        .post(format!("{}/api/v1/setup", a.base))
        .json(&json!({"username": common::ADMIN, "password": common::PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // A session made on A works on B.
    let token = setup["token"].as_str().unwrap().to_string();
    let me = http
        .get(format!("{}/api/v1/me", b.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200, "a session from A is valid on B");

    // A third replica with keys of its own is refused: its sessions would
    // not verify elsewhere, nor its sealed secrets open.
    let c_data = dir.path().join("c");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_yagura"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(&c_data)
        .env("DATABASE_URL", common::postgres_url(&a_data).unwrap())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("differ from those of the other Yagura replicas"),
        "{stderr}"
    );

    // 1. 50 runs queued through both replicas each start exactly once.
    let quick = call(&http, &a, &token, "POST", "/api/v1/agents",
        json!({"name": "quick", "agentType": "Custom", "command": ["sh", "-c", "echo one; echo two"]})).await;
    let quick = quick["id"].as_str().unwrap().to_string();
    let mut ids = Vec::new();
    for i in 0..50 {
        let via = if i % 2 == 0 { &a } else { &b };
        let e = call(
            &http,
            via,
            &token,
            "POST",
            "/api/v1/executions",
            json!({"agentId": quick, "prompt": format!("run {i}")}),
        )
        .await;
        ids.push(e["id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        let done = wait_status(
            &http,
            &b,
            &token,
            id,
            &["completed", "failed"],
            Duration::from_secs(120),
        )
        .await;
        assert_eq!(done["status"], "completed", "{done}");
        let evs = events(&http, &a, &token, id).await;
        let kinds: Vec<&str> = evs.iter().filter_map(|e| e["type"].as_str()).collect();
        assert_eq!(
            kinds.iter().filter(|k| **k == "agent.started").count(),
            1,
            "{id}: {kinds:?}"
        );
        let lines = common::log_lines(&evs);
        assert_eq!(lines, ["one", "two"], "{id}");
    }

    // 2. A browser on B follows a run executing on A, every line once, in order.
    let counter = call(&http, &a, &token, "POST", "/api/v1/agents",
        json!({"name": "counter", "agentType": "Custom",
               "command": ["sh", "-c", "sleep 1; for i in $(seq 1 2000); do echo line $i; done; sleep 0.5; echo end"]})).await;
    let counter = counter["id"].as_str().unwrap().to_string();
    let (mut ws, _) = tokio_tungstenite::connect_async(format!(
        "{}/ws?token={token}&batch=1",
        b.base.replacen("http", "ws", 1)
    ))
    .await
    .unwrap();
    // Runs start on whichever replica claims them first: retry until one
    // runs on A (the replica is recorded on the run).
    let mut on_a = None;
    for _ in 0..20 {
        let e = call(
            &http,
            &a,
            &token,
            "POST",
            "/api/v1/executions",
            json!({"agentId": counter, "prompt": ""}),
        )
        .await;
        let id = e["id"].as_str().unwrap().to_string();
        // Subscribed during its first second: most lines arrive live, relayed.
        wait_status(
            &http,
            &a,
            &token,
            &id,
            &["running"],
            Duration::from_secs(30),
        )
        .await;
        if replica_of(&a_data, &id).await == read_replica_id(&a_data) {
            on_a = Some(id);
            break;
        }
    }
    let run = on_a.expect("one of 20 runs ran on A");
    ws.send(Message::text(
        json!({"type":"subscribe","channel":"agent-execution","executionId":run,"since":0})
            .to_string(),
    ))
    .await
    .unwrap();
    let followed = follow(&mut ws, &run).await;
    let lines = common::log_lines(&followed);
    assert_eq!(lines.len(), 2001, "every line once on B");
    assert_eq!(lines[0], "line 1");
    assert_eq!(lines[2000], "end");

    // 3. A dies with a run of its own: B fails it within the lease.
    let long = call(&http, &a, &token, "POST", "/api/v1/agents",
        json!({"name": "long", "agentType": "Custom", "command": ["sh", "-c", "echo started; exec sleep 120"]})).await;
    let long = long["id"].as_str().unwrap().to_string();
    let mut victim = None;
    let mut cancelled_elsewhere = 0;
    for attempt in 0..20 {
        // Each replica's scheduler is woken by runs made through it.
        let via = if attempt % 2 == 0 { &a } else { &b };
        let e = call(
            &http,
            via,
            &token,
            "POST",
            "/api/v1/executions",
            json!({"agentId": long, "prompt": ""}),
        )
        .await;
        let id = e["id"].as_str().unwrap().to_string();
        wait_status(
            &http,
            &a,
            &token,
            &id,
            &["running"],
            Duration::from_secs(30),
        )
        .await;
        if replica_of(&a_data, &id).await == read_replica_id(&a_data) {
            if victim.is_none() {
                victim = Some(id);
            } else {
                call(
                    &http,
                    &a,
                    &token,
                    "POST",
                    &format!("/api/v1/executions/{id}/cancel"),
                    json!({}),
                )
                .await;
            }
            if cancelled_elsewhere > 0 {
                break;
            }
            continue;
        }
        // It runs on B: cancelled through A, B stops the process and
        // records the end, once.
        call(
            &http,
            &a,
            &token,
            "POST",
            &format!("/api/v1/executions/{id}/cancel"),
            json!({}),
        )
        .await;
        let ended = wait_status(
            &http,
            &a,
            &token,
            &id,
            &["cancelled"],
            Duration::from_secs(15),
        )
        .await;
        // The process was stopped there (a signal), not just marked here.
        assert!(ended["signal"].is_number(), "{ended}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let evs = events(&http, &a, &token, &id).await;
        let ends = evs
            .iter()
            .filter(|e| {
                matches!(
                    e["type"].as_str(),
                    Some("agent.completed" | "agent.failed" | "agent.cancelled")
                )
            })
            .count();
        assert_eq!(ends, 1, "{evs:?}");
        cancelled_elsewhere += 1;
        if victim.is_some() {
            break;
        }
    }
    let victim = victim.expect("one of 20 runs ran on A");
    assert!(cancelled_elsewhere > 0, "one of 20 runs ran on B");

    // 4. A remote runner given both replicas, connected to A, printing.
    let runner_token = call(
        &http,
        &a,
        &token,
        "POST",
        "/api/v1/runner-tokens",
        json!({"name": "ci"}),
    )
    .await;
    let runner_token = runner_token["token"].as_str().unwrap().to_string();
    let work = tempfile::tempdir().unwrap();
    let ws_base = |y: &Yagura| y.base.replacen("http", "ws", 1);
    let _runner = crate::runners::RunnerProcess {
        child: std::process::Command::new(env!("CARGO_BIN_EXE_yagura"))
            .args([
                "runner",
                "--server",
                &format!("{},{}", ws_base(&a), ws_base(&b)),
            ])
            .args([
                "--token",
                &runner_token,
                "--name",
                "both",
                "--capabilities",
                "docker",
            ])
            .args(["--heartbeat-secs", "0.3", "--work-dir"])
            .arg(work.path())
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    };
    let printer = call(
        &http,
        &a,
        &token,
        "POST",
        "/api/v1/agents",
        json!({"name": "printer", "agentType": "Custom", "capabilities": ["docker"],
               "command": ["sh", "-c", "for i in $(seq 1 300); do echo r$i; sleep 0.01; done"]}),
    )
    .await;
    let printer = printer["id"].as_str().unwrap().to_string();
    let remote = call(
        &http,
        &a,
        &token,
        "POST",
        "/api/v1/executions",
        json!({"agentId": printer, "prompt": ""}),
    )
    .await;
    let remote = remote["id"].as_str().unwrap().to_string();
    wait_status(
        &http,
        &a,
        &token,
        &remote,
        &["running"],
        Duration::from_secs(30),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // A viewer on B follows it through A's death.
    ws.send(Message::text(
        json!({"type":"subscribe","channel":"agent-execution","executionId":remote,"since":0})
            .to_string(),
    ))
    .await
    .unwrap();

    // A dies mid-run: the local run is failed by B within the lease; the
    // runner fails over to B and replays what A had not stored.
    unsafe {
        libc::kill(a.child.id() as i32, libc::SIGKILL);
    }
    let _ = a.child.wait();
    let killed_at = std::time::Instant::now();
    let failed = wait_status(
        &http,
        &b,
        &token,
        &victim,
        &["failed"],
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(failed["errorCode"], "REPLICA_LOST", "{failed}");
    // Within the lease and a few checks of it.
    assert!(
        killed_at.elapsed() < Duration::from_secs(12),
        "{:?}",
        killed_at.elapsed()
    );
    let evs = events(&http, &b, &token, &victim).await;
    let ends = evs.iter().filter(|e| e["type"] == "agent.failed").count();
    assert_eq!(ends, 1, "{evs:?}");

    let done = wait_status(
        &http,
        &b,
        &token,
        &remote,
        &["completed", "failed"],
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(done["status"], "completed", "{done}");
    let evs = events(&http, &b, &token, &remote).await;
    let seqs: Vec<u64> = evs.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "gap-free"
    );
    let lines = common::log_lines(&evs);
    let wanted: Vec<String> = (1..=300).map(|i| format!("r{i}")).collect();
    assert_eq!(lines, wanted, "every line of the remote run once, in order");
    let followed = follow(&mut ws, &remote).await;
    assert_eq!(
        common::log_lines(&followed),
        wanted,
        "the viewer on B saw every line once"
    );
}

fn read_replica_id(data: &Path) -> String {
    std::fs::read_to_string(data.join("replica-id"))
        .unwrap()
        .trim()
        .to_string()
}

/// Which replica claimed a run (read from the shared database).
async fn replica_of(data: &Path, id: &str) -> String {
    use sqlx::Connection;
    let url = common::postgres_url(data).unwrap();
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query_scalar::<_, Option<String>>("SELECT replica_id FROM executions WHERE id = $1")
        .bind(id)
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .unwrap_or_default()
}

/// Reads one execution's events from a browser-protocol socket until its
/// end, asserting they come in order, each once.
async fn follow(ws: &mut common::Socket, id: &str) -> Vec<Value> {
    let mut got = Vec::new();
    let mut last = 0u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("the run ends within 60 s");
        let Some(Ok(Message::Text(text))) = msg else {
            continue;
        };
        let v: Value = serde_json::from_str(&text).unwrap();
        let frames = if v["type"] == "batch" {
            v["events"].as_array().unwrap().clone()
        } else {
            vec![v]
        };
        for m in frames {
            if m["executionId"] != json!(id) {
                continue;
            }
            let Some(seq) = m["seq"].as_u64() else {
                continue;
            };
            assert_eq!(seq, last + 1, "gap or repeat after {last}: {m}");
            last = seq;
            let end = matches!(
                m["type"].as_str(),
                Some("agent.completed" | "agent.failed" | "agent.cancelled")
            );
            got.push(m);
            if end {
                return got;
            }
        }
    }
}

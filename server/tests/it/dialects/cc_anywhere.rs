//! Seed 001, CC-Anywhere, as its clients speak it: an API key in the first
//! message, tasks (executions) followed by id with their history then
//! live, error frames that leave the socket open, and a revoked key that
//! closes the socket.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{
    self, api_key, create_agent, start_execution, wait_status, ws_close_code, ws_connect, ws_recv,
    ws_send, Socket,
};

const WAIT: Duration = Duration::from_secs(15);

async fn next(ws: &mut Socket) -> Value {
    ws_recv(ws, WAIT).await.expect("a frame")
}

/// Reads frames until one of `kind` comes; returns the frames before it
/// and it.
async fn until(ws: &mut Socket, kind: &str) -> (Vec<Value>, Value) {
    let mut before = Vec::new();
    loop {
        let m = next(ws).await;
        if m["type"] == kind {
            return (before, m);
        }
        before.push(m);
    }
}

#[tokio::test]
async fn a_task_is_followed_from_its_history_to_its_end() {
    let t = common::start().await;
    let token = t.setup_admin().await;
    let (_, key) = api_key(&t, &token, "cli").await;
    let agent = create_agent(
        &t,
        &token,
        "counter",
        &[
            "sh",
            "-c",
            "echo one; echo two >&2; read x; echo three; exit 0",
        ],
        json!({}),
    )
    .await;
    let task = start_execution(&t, &token, &agent, "go").await;
    common::eventually("two lines stored", 10, || async {
        common::log_lines(&common::stored_events(&t, &token, &task).await).len() >= 2
    })
    .await;

    let mut ws = ws_connect(&format!("ws://{}/ws/cc-anywhere", t.server.addr)).await;
    // Before auth: refused, but the socket stays open.
    ws_send(
        &mut ws,
        &json!({"type": "subscribe", "payload": {"taskId": task}}),
    )
    .await;
    let e = next(&mut ws).await;
    assert_eq!(e["type"], "error");
    assert_eq!(e["payload"]["code"], "AUTH_REQUIRED");
    // Whatever comes before auth, even a type nobody knows.
    ws_send(&mut ws, &json!({"type": "dance", "payload": {}})).await;
    assert_eq!(next(&mut ws).await["payload"]["code"], "AUTH_REQUIRED");

    ws_send(
        &mut ws,
        &json!({"type": "auth", "payload": {"apiKey": key}}),
    )
    .await;
    let ok = next(&mut ws).await;
    assert_eq!(ok["type"], "auth:success", "{ok}");
    assert_eq!(ok["payload"]["message"], "Authenticated successfully");

    ws_send(
        &mut ws,
        &json!({"type": "subscribe", "payload": {"taskId": task}}),
    )
    .await;
    let ok = next(&mut ws).await;
    assert_eq!(
        ok,
        json!({"type": "subscribe:success", "payload": {"taskId": task}})
    );
    // History: running, then the two lines.
    let (history, _) = until(&mut ws, "task:log").await;
    assert!(
        history.iter().any(|m| m["payload"]["status"] == "running"
            && m["payload"]["metadata"]["startedAt"].is_string()),
        "{history:?}"
    );
    let second = next(&mut ws).await;
    assert_eq!(second["type"], "task:log");
    assert_eq!(second["payload"]["log"], "two");
    assert_eq!(second["payload"]["level"], "warning", "stderr is a warning");
    assert_eq!(second["payload"]["taskId"], task);
    assert!(
        chrono::DateTime::parse_from_rfc3339(second["payload"]["timestamp"].as_str().unwrap())
            .is_ok()
    );

    // Live: the rest, then the final update after every log.
    let res = t
        .http
        .post(t.url(&format!("/api/v1/executions/{task}/stdin")))
        .bearer_auth(&token)
        .json(&json!({"data": "x\n"}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let (logs, done) = until(&mut ws, "task:update").await;
    let logs: Vec<&str> = logs
        .iter()
        .filter_map(|m| m["payload"]["log"].as_str())
        .collect();
    assert_eq!(logs, ["three"]);
    assert_eq!(done["payload"]["status"], "completed", "{done}");
    assert_eq!(done["payload"]["metadata"]["exitCode"], 0);
    assert!(done["payload"]["metadata"]["completedAt"].is_string());

    // ping, unsubscribe (also of what is not followed), and errors.
    ws_send(
        &mut ws,
        &json!({"type": "ping", "payload": {"timestamp": 5}}),
    )
    .await;
    let pong = next(&mut ws).await;
    assert_eq!(pong["type"], "pong");
    assert!(pong["payload"]["timestamp"].as_i64().unwrap() > 1_600_000_000_000);
    ws_send(
        &mut ws,
        &json!({"type": "unsubscribe", "payload": {"taskId": "nope"}}),
    )
    .await;
    assert_eq!(next(&mut ws).await["type"], "unsubscribe:success");
    for (frame, code) in [
        (
            json!({"type": "subscribe", "payload": {"taskId": uuid::Uuid::new_v4()}}),
            "TASK_NOT_FOUND",
        ),
        (
            json!({"type": "subscribe", "payload": {}}),
            "INVALID_SUBSCRIBE",
        ),
        (json!({"type": "dance", "payload": {}}), "UNKNOWN_MESSAGE"),
        (json!("{not json"), "INVALID_MESSAGE"),
    ] {
        match frame.as_str() {
            Some(raw) => {
                futures::SinkExt::send(&mut ws, tokio_tungstenite::tungstenite::Message::text(raw))
                    .await
                    .unwrap();
            }
            None => ws_send(&mut ws, &frame).await,
        }
        let e = next(&mut ws).await;
        assert_eq!(e["type"], "error", "{frame}");
        assert_eq!(e["payload"]["code"], code, "{frame}: {e}");
    }
    // Only subscribed tasks: another run sends nothing here.
    let other = start_execution(&t, &token, &agent, "other").await;
    ws_send(&mut ws, &json!({"type": "ping", "payload": {}})).await;
    let m = next(&mut ws).await;
    assert_eq!(m["type"], "pong", "nothing about {other}: {m}");
    t.shutdown().await;
}

#[tokio::test]
async fn bad_keys_late_auth_and_revoked_keys_close_1008() {
    let t = common::start_with(|c| c.cc_anywhere.auth_timeout = Duration::from_millis(600)).await;
    let token = t.setup_admin().await;
    let url = format!("ws://{}/ws/cc-anywhere", t.server.addr);

    let mut ws = ws_connect(&url).await;
    ws_send(
        &mut ws,
        &json!({"type": "auth", "payload": {"apiKey": "yak_wrong"}}),
    )
    .await;
    let e = next(&mut ws).await;
    assert_eq!(e["payload"]["code"], "INVALID_API_KEY");
    assert_eq!(ws_close_code(&mut ws, WAIT).await, 1008);

    let mut ws = ws_connect(&url).await;
    let e = next(&mut ws).await;
    assert_eq!(e["payload"]["code"], "AUTH_TIMEOUT");
    assert_eq!(ws_close_code(&mut ws, WAIT).await, 1008);

    // The old web UI dials `/ws` and is routed by its first frame.
    let (id, key) = api_key(&t, &token, "doomed").await;
    let mut ws = ws_connect(&t.ws_url("")).await;
    ws_send(
        &mut ws,
        &json!({"type": "auth", "payload": {"apiKey": key}}),
    )
    .await;
    assert_eq!(next(&mut ws).await["type"], "auth:success");
    let res = t
        .http
        .delete(t.url(&format!("/api/v1/api-keys/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let e = next(&mut ws).await;
    assert_eq!(e["payload"]["code"], "INVALID_API_KEY");
    assert_eq!(ws_close_code(&mut ws, WAIT).await, 1008);
    // And the key no longer opens anything.
    let res = t
        .http
        .get(t.url("/api/v1/agents"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    t.shutdown().await;
}

#[tokio::test]
async fn a_failed_task_reports_its_error_once_after_its_logs() {
    let t = common::start().await;
    let token = t.setup_admin().await;
    let (_, key) = api_key(&t, &token, "cli").await;
    let agent = create_agent(
        &t,
        &token,
        "failing",
        &["sh", "-c", "echo oops >&2; exit 7"],
        json!({}),
    )
    .await;
    let task = start_execution(&t, &token, &agent, "go").await;
    wait_status(&t, &token, &task, &["failed"], WAIT).await;
    let mut ws = ws_connect(&format!("ws://{}/ws/cc-anywhere", t.server.addr)).await;
    ws_send(
        &mut ws,
        &json!({"type": "auth", "payload": {"apiKey": key}}),
    )
    .await;
    assert_eq!(next(&mut ws).await["type"], "auth:success");
    ws_send(
        &mut ws,
        &json!({"type": "subscribe", "payload": {"taskId": task}}),
    )
    .await;
    assert_eq!(next(&mut ws).await["type"], "subscribe:success");
    let mut seen = Vec::new();
    loop {
        let m = next(&mut ws).await;
        let end = m["type"] == "task:update" && m["payload"]["status"] == "failed";
        seen.push(m);
        if end {
            break;
        }
    }
    let last = seen.last().unwrap();
    assert_eq!(last["payload"]["metadata"]["exitCode"], 7, "{last}");
    assert!(last["payload"]["metadata"]["errorMessage"].is_string());
    assert!(seen.iter().any(|m| m["payload"]["log"] == "oops"));
    let statuses: Vec<&Value> = seen
        .iter()
        .filter(|m| m["type"] == "task:update")
        .map(|m| &m["payload"]["status"])
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == "failed").count(), 1);
    // Nothing after the end.
    assert!(ws_recv(&mut ws, Duration::from_millis(500)).await.is_none());
    t.shutdown().await;
}

#[tokio::test]
async fn thousands_of_lines_arrive_once_in_order_and_floods_are_refused() {
    let t = common::start().await;
    let token = t.setup_admin().await;
    let (_, key) = api_key(&t, &token, "cli").await;
    let agent = create_agent(
        &t,
        &token,
        "loud",
        &["sh", "-c", "i=0; while [ $i -lt 2000 ]; do echo out$i; if [ $((i % 2)) -eq 0 ]; then echo err$i >&2; fi; i=$((i+1)); done"],
        json!({}),
    )
    .await;
    let mut ws = ws_connect(&format!("ws://{}/ws/cc-anywhere", t.server.addr)).await;
    ws_send(
        &mut ws,
        &json!({"type": "auth", "payload": {"apiKey": key}}),
    )
    .await;
    assert_eq!(next(&mut ws).await["type"], "auth:success");
    // Subscribed while it runs: history and live meet without a gap.
    let task = start_execution(&t, &token, &agent, "go").await;
    ws_send(
        &mut ws,
        &json!({"type": "subscribe", "payload": {"taskId": task}}),
    )
    .await;
    assert_eq!(next(&mut ws).await["type"], "subscribe:success");
    let (frames, done) = loop {
        let (before, update) = until(&mut ws, "task:update").await;
        if update["payload"]["status"] == "completed" {
            break (before, update);
        }
    };
    let _ = done;
    let mut out = Vec::new();
    let mut err = Vec::new();
    for f in &frames {
        if f["type"] != "task:log" {
            continue;
        }
        let log = f["payload"]["log"].as_str().unwrap().to_string();
        if f["payload"]["level"] == "warning" {
            err.push(log);
        } else {
            out.push(log);
        }
    }
    let want_out: Vec<String> = (0..2000).map(|i| format!("out{i}")).collect();
    let want_err: Vec<String> = (0..2000).step_by(2).map(|i| format!("err{i}")).collect();
    assert_eq!(out, want_out);
    assert_eq!(err, want_err);

    // And again once it has ended: the whole history.
    ws_send(
        &mut ws,
        &json!({"type": "unsubscribe", "payload": {"taskId": task}}),
    )
    .await;
    assert_eq!(next(&mut ws).await["type"], "unsubscribe:success");
    ws_send(
        &mut ws,
        &json!({"type": "subscribe", "payload": {"taskId": task}}),
    )
    .await;
    assert_eq!(next(&mut ws).await["type"], "subscribe:success");
    let mut logs = 0;
    loop {
        let m = next(&mut ws).await;
        if m["type"] == "task:log" {
            logs += 1;
        }
        if m["type"] == "task:update" && m["payload"]["status"] == "completed" {
            break;
        }
    }
    assert_eq!(logs, 3000);

    // More than 100 messages a second: refused, and the socket stays open.
    for _ in 0..150 {
        ws_send(&mut ws, &json!({"type": "ping", "payload": {}})).await;
    }
    let mut limited = 0;
    for _ in 0..150 {
        let m = next(&mut ws).await;
        if m["type"] == "error" {
            assert_eq!(m["payload"]["code"], "RATE_LIMIT_EXCEEDED");
            limited += 1;
        }
    }
    assert!(limited >= 30, "{limited}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    ws_send(&mut ws, &json!({"type": "ping", "payload": {}})).await;
    assert_eq!(next(&mut ws).await["type"], "pong");
    t.shutdown().await;
}

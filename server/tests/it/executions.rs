//! Agents and executions with real processes, against the real server.

use crate::common;

use std::collections::HashSet;
use std::time::Duration;

use crate::common::{
    create_agent, eventually, execution, log_lines, next_frames, start_execution, stored_events,
    wait_status, Socket, TestServer,
};
use futures::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

async fn fast_server() -> TestServer {
    common::start_with(|c| c.exec.kill_grace = Duration::from_millis(800)).await
}

/// A browser-dialect socket with Yagura's extensions (batches,
/// `agent.cancelled`), as Yagura's own UI opens it.
async fn socket(t: &TestServer, token: &str) -> Socket {
    let (mut ws, _) =
        tokio_tungstenite::connect_async(t.ws_url(&format!("?token={token}&batch=1")))
            .await
            .unwrap();
    let hello = next_frames(&mut ws).await;
    assert_eq!(hello[0]["type"], "connected");
    ws
}

async fn subscribe(ws: &mut Socket, id: &str, since: u64) {
    ws.send(Message::text(
        json!({"type":"subscribe","channel":"agent-execution","executionId":id,"since":since})
            .to_string(),
    ))
    .await
    .unwrap();
}

/// Reads events of one execution until `stop` says so (finishing the frame
/// that holds that event); checks seq continuity.
async fn collect_until(
    ws: &mut Socket,
    mut last: u64,
    stop: impl Fn(&Value, usize) -> bool,
) -> (Vec<Value>, u64) {
    let mut got = Vec::new();
    let mut done = false;
    while !done {
        for m in next_frames(ws).await {
            // Workspace events (notifications, issues, workflows) reach every
            // connection; this test follows one execution.
            if m["type"] == "subscribed" || m.get("executionId").is_none() {
                continue;
            }
            let Some(seq) = m["seq"].as_u64() else {
                panic!("unexpected frame {m}")
            };
            assert_eq!(seq, last + 1, "gap or repeat after {last}: {m}");
            last = seq;
            done |= stop(&m, got.len() + 1);
            got.push(m);
        }
    }
    (got, last)
}

fn is_end(m: &Value) -> bool {
    matches!(
        m["type"].as_str(),
        Some("agent.completed" | "agent.failed" | "agent.cancelled")
    )
}

#[tokio::test]
async fn ten_thousand_lines_arrive_in_order_in_the_store_and_at_two_subscribers() {
    let t = fast_server().await;
    let token = t.setup_admin().await;
    let agent = create_agent(
        &t,
        &token,
        "numbers",
        &[
            "sh",
            "-c",
            "i=1; while [ $i -le 10000 ]; do echo \"line $i\"; i=$((i+1)); done",
        ],
        json!({}),
    )
    .await;
    let id = start_execution(&t, &token, &agent, "").await;

    let mut a = socket(&t, &token).await;
    subscribe(&mut a, &id, 0).await;
    let mut b = socket(&t, &token).await;
    subscribe(&mut b, &id, 0).await;

    let reader_a = tokio::spawn(async move { collect_until(&mut a, 0, |m, _| is_end(m)).await.0 });
    // B leaves after about 3,000 events and comes back with `since`.
    let (first, last) = collect_until(&mut b, 0, |_, n| n >= 3000).await;
    drop(b);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut b = socket(&t, &token).await;
    subscribe(&mut b, &id, last).await;
    let (rest, _) = collect_until(&mut b, last, |m, _| is_end(m)).await;
    let events_a = reader_a.await.unwrap();
    let events_b: Vec<Value> = first.into_iter().chain(rest).collect();

    let expected: Vec<String> = (1..=10_000).map(|i| format!("line {i}")).collect();
    assert_eq!(log_lines(&events_a), expected);
    assert_eq!(log_lines(&events_b), expected);
    assert_eq!(events_a.len(), events_b.len());
    assert_eq!(events_a.last().unwrap()["type"], "agent.completed");

    let stored = stored_events(&t, &token, &id).await;
    assert_eq!(log_lines(&stored), expected);
    let seqs: Vec<u64> = stored.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    assert_eq!(stored[0]["type"], "agent.queued");
    assert_eq!(stored[1]["type"], "agent.started");
    let e = execution(&t, &token, &id).await;
    assert_eq!(e["status"], "completed");
    assert_eq!(e["lastSeq"].as_u64().unwrap(), seqs.len() as u64);
    assert_eq!(e["exitCode"], 0);
    assert!(e["usage"]["wallMs"].as_u64().unwrap() > 0);
    // The shell's own memory, not the server's inherited high-water mark.
    let peak = e["usage"]["peakMemoryKb"].as_u64().unwrap();
    assert!(peak > 0 && peak < 20_000, "peak memory {peak} KiB");
    t.shutdown().await;
}

fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name; Z is a zombie (dead).
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .map(|r| !r.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

#[tokio::test]
async fn cancel_kills_children_grandchildren_and_processes_that_ignore_sigterm() {
    let t = fast_server().await;
    let token = t.setup_admin().await;
    let script = r#"trap '' TERM
sleep 300 & echo "pid $!"
sh -c 'sleep 300 & echo "pid $!"; wait' &
echo "pid $!"
echo "pid $$"
echo ready
while true; do sleep 1; done"#;
    let agent = create_agent(&t, &token, "stubborn", &["sh", "-c", script], json!({})).await;
    let id = start_execution(&t, &token, &agent, "").await;

    let mut ws = socket(&t, &token).await;
    subscribe(&mut ws, &id, 0).await;
    let (events, seen) = collect_until(&mut ws, 0, |m, _| {
        m["type"] == "agent.log" && m["message"] == "ready"
    })
    .await;
    // The grandchild prints its pid a moment later.
    let pids_now = || async {
        let stored = stored_events(&t, &token, &id).await;
        log_lines(&stored)
            .iter()
            .chain(log_lines(&events).iter())
            .filter_map(|l| l.strip_prefix("pid ")?.parse().ok())
            .collect::<HashSet<u32>>()
    };
    eventually("four pids", 5, || async { pids_now().await.len() >= 4 }).await;
    let pids = pids_now().await;
    assert_eq!(
        pids.len(),
        4,
        "child, intermediate, grandchild, main: {pids:?}"
    );
    assert!(pids.iter().all(|p| alive(*p)));

    let res = t
        .http
        .post(t.url(&format!("/api/v1/executions/{id}/cancel")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let e = wait_status(&t, &token, &id, &["cancelled"], Duration::from_secs(10)).await;
    assert_eq!(
        e["signal"], 9,
        "SIGTERM was ignored, so SIGKILL ended it: {e}"
    );
    eventually("the process group gone", 3, || async {
        pids.iter().all(|p| !alive(*p))
    })
    .await;
    let left: Vec<_> = pids.iter().filter(|p| alive(**p)).collect();
    assert!(left.is_empty(), "still running after the grace: {left:?}");

    let (rest, _) = collect_until(&mut ws, seen, |m, _| is_end(m)).await;
    assert_eq!(rest.last().unwrap()["type"], "agent.cancelled");
    // Cancelling again is a clear conflict, not a crash.
    let again = t
        .http
        .post(t.url(&format!("/api/v1/executions/{id}/cancel")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);
    t.shutdown().await;
}

#[tokio::test]
async fn a_timeout_ends_timed_out() {
    let t = fast_server().await;
    let token = t.setup_admin().await;
    let agent = create_agent(
        &t,
        &token,
        "sleepy",
        &["sleep", "30"],
        json!({"timeoutSecs": 1}),
    )
    .await;
    let id = start_execution(&t, &token, &agent, "").await;
    let e = wait_status(
        &t,
        &token,
        &id,
        &["timed_out", "failed", "completed"],
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(e["status"], "timed_out");
    assert_eq!(e["errorCode"], "TIMEOUT");
    let stored = stored_events(&t, &token, &id).await;
    let last = stored.last().unwrap();
    assert_eq!(last["type"], "agent.failed");
    assert_eq!(last["status"], "timed_out");
    t.shutdown().await;
}

#[tokio::test]
async fn an_agent_writing_100_mib_is_capped_and_still_finishes() {
    let t = fast_server().await;
    let token = t.setup_admin().await;
    let agent = create_agent(
        &t,
        &token,
        "firehose",
        &[
            "sh",
            "-c",
            "head -c 104857600 /dev/zero | tr '\\0' x | fold -w 1023; echo done >&2",
        ],
        json!({"outputCapBytes": 1048576, "timeoutSecs": 120}),
    )
    .await;
    let id = start_execution(&t, &token, &agent, "").await;
    let e = wait_status(
        &t,
        &token,
        &id,
        &["completed", "failed"],
        Duration::from_secs(120),
    )
    .await;
    assert_eq!(e["status"], "completed", "{e}");
    let stored = stored_events(&t, &token, &id).await;
    let lines = log_lines(&stored);
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    assert!(bytes <= 1048576 + 200, "stored {bytes} bytes");
    assert!(
        lines
            .last()
            .unwrap()
            .contains("output exceeded the cap of 1 MiB"),
        "{:?}",
        lines.last()
    );
    t.shutdown().await;
}

#[tokio::test]
async fn the_servers_secrets_never_reach_an_agent() {
    // SAFETY (edition 2021: safe): tests only read this variable.
    std::env::set_var("YAGURA_CANARY_SECRET", "canary-7f3a9c");
    let t = fast_server().await;
    let token = t.setup_admin().await;
    let agent = create_agent(
        &t,
        &token,
        "env",
        &["env"],
        json!({"env": {"AGENT_OWN": "visible"}}),
    )
    .await;
    let id = start_execution(&t, &token, &agent, "").await;
    wait_status(&t, &token, &id, &["completed"], Duration::from_secs(10)).await;
    let lines = log_lines(&stored_events(&t, &token, &id).await);
    assert!(lines.iter().any(|l| l.starts_with("PATH=")), "{lines:?}");
    assert!(lines.iter().any(|l| l == "AGENT_OWN=visible"), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l == &format!("YAGURA_EXECUTION_ID={id}")),
        "{lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("canary-7f3a9c")),
        "the canary leaked: {lines:?}"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with("DATABASE_URL") || l.starts_with("CARGO")),
        "{lines:?}"
    );
    t.shutdown().await;
}

#[tokio::test]
async fn progress_result_stdin_and_pause_resume() {
    let t = fast_server().await;
    let token = t.setup_admin().await;
    let script = r#"echo "::progress 50 Half way"
echo "waiting for input"
read answer
echo "got $answer" >&2
echo '::result {"prNumber": 7, "filesChanged": 2}'
i=0; while [ $i -lt 30 ]; do echo "tick $i"; i=$((i+1)); sleep 0.1; done"#;
    let agent = create_agent(&t, &token, "chatty", &["sh", "-c", script], json!({})).await;
    let id = start_execution(&t, &token, &agent, "").await;
    let mut ws = socket(&t, &token).await;
    subscribe(&mut ws, &id, 0).await;
    let (events, last) =
        collect_until(&mut ws, 0, |m, _| m["message"] == "waiting for input").await;
    let progress = events
        .iter()
        .find(|m| m["type"] == "agent.progress")
        .expect("progress event");
    assert_eq!(progress["progress"], 50);
    assert_eq!(progress["currentStep"], "Half way");
    let e = execution(&t, &token, &id).await;
    assert_eq!(
        (e["progress"].as_u64(), e["currentStep"].as_str()),
        (Some(50), Some("Half way"))
    );

    let res = t
        .http
        .post(t.url(&format!("/api/v1/executions/{id}/stdin")))
        .bearer_auth(&token)
        .json(&json!({"data": "yes please\n", "echo": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let (events, last) = collect_until(&mut ws, last, |m, _| m["message"] == "tick 3").await;
    let got = events
        .iter()
        .find(|m| m["message"] == "got yes please")
        .expect("stdin reached the process");
    assert_eq!(got["level"], "warn");
    assert_eq!(got["stream"], "stderr");
    // What was typed is in the log as a system line, before what it caused.
    let echo = events
        .iter()
        .position(|m| m["message"] == "> yes please")
        .expect("input echoed");
    assert_eq!(events[echo]["stream"], "stdin");
    let answer = events
        .iter()
        .position(|m| m["message"] == "got yes please")
        .unwrap();
    assert!(echo < answer, "the echo comes first");

    let pause = t
        .http
        .post(t.url(&format!("/api/v1/executions/{id}/pause")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(pause.status(), 202);
    let (events, last) = collect_until(&mut ws, last, |m, _| m["type"] == "agent.paused").await;
    assert!(!events.is_empty());
    assert_eq!(execution(&t, &token, &id).await["status"], "paused");
    // Nothing is printed while stopped (once what was already in the pipe is read).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = execution(&t, &token, &id).await["lastSeq"]
        .as_u64()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        execution(&t, &token, &id).await["lastSeq"]
            .as_u64()
            .unwrap(),
        before
    );
    let resume = t
        .http
        .post(t.url(&format!("/api/v1/executions/{id}/resume")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resume.status(), 202);
    let (events, _) = collect_until(&mut ws, last, |m, _| is_end(m)).await;
    assert!(events.iter().any(|m| m["type"] == "agent.resumed"));
    let end = events.last().unwrap();
    assert_eq!(end["type"], "agent.completed");
    assert_eq!(end["result"], json!({"prNumber": 7, "filesChanged": 2}));
    let e = execution(&t, &token, &id).await;
    assert_eq!(e["progress"], 100);
    assert_eq!(e["result"]["prNumber"], 7);
    t.shutdown().await;
}

#[tokio::test]
async fn the_lifecycle_channel_shows_every_execution_without_logs() {
    let t = fast_server().await;
    let token = t.setup_admin().await;
    let mut ws = socket(&t, &token).await;
    ws.send(Message::text(
        r#"{"type":"subscribe","channel":"executions"}"#,
    ))
    .await
    .unwrap();
    assert_eq!(next_frames(&mut ws).await[0]["type"], "subscribed");
    let agent = create_agent(&t, &token, "hello", &["echo", "hello"], json!({})).await;
    let id = start_execution(&t, &token, &agent, "").await;
    let mut types = Vec::new();
    while !types.iter().any(|t: &String| t == "agent.completed") {
        for m in next_frames(&mut ws).await {
            assert_eq!(m["executionId"], id.as_str());
            types.push(m["type"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(
        types,
        vec!["agent.queued", "agent.started", "agent.completed"]
    );
    t.shutdown().await;
}

#[tokio::test]
async fn a_missing_program_fails_clearly() {
    let t = fast_server().await;
    let token = t.setup_admin().await;
    let agent = create_agent(
        &t,
        &token,
        "ghost",
        &["no-such-agent-cli-xyz", "{prompt}"],
        json!({}),
    )
    .await;
    let id = start_execution(&t, &token, &agent, "hi").await;
    let e = wait_status(&t, &token, &id, &["failed"], Duration::from_secs(10)).await;
    assert_eq!(e["errorCode"], "SPAWN_FAILED");
    assert!(
        e["errorMessage"]
            .as_str()
            .unwrap()
            .contains("no-such-agent-cli-xyz"),
        "{e}"
    );
    t.shutdown().await;
}

#[tokio::test]
async fn bad_requests_are_refused_and_the_demo_agent_is_there() {
    let t = fast_server().await;
    let token = t.setup_admin().await;
    let agents: Vec<Value> = t
        .http
        .get(t.url("/api/v1/agents"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(agents.len(), 1);
    assert_eq!(agents[0]["name"], "Demo agent");
    assert_eq!(agents[0]["command"][1], "demo-agent");

    let bad = t
        .http
        .post(t.url("/api/v1/agents"))
        .bearer_auth(&token)
        .json(&json!({"name": "x", "agentType": "Custom", "command": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    let dup = t
        .http
        .post(t.url("/api/v1/agents"))
        .bearer_auth(&token)
        .json(&json!({"name": "demo AGENT", "agentType": "Custom", "command": ["true"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(dup.status(), 409);
    let no_agent = t
        .http
        .post(t.url("/api/v1/executions"))
        .bearer_auth(&token)
        .json(&json!({"agentId": uuid::Uuid::new_v4().to_string()}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_agent.status(), 422);
    let missing = t
        .http
        .get(t.url(&format!("/api/v1/executions/{}", uuid::Uuid::new_v4())))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let bad_filter = t
        .http
        .get(t.url("/api/v1/executions?status=sleeping"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(bad_filter.status(), 422);
    let anonymous = t
        .http
        .get(t.url("/api/v1/executions"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    // The demo agent runs here and reports a result.
    let demo = agents[0]["id"].as_str().unwrap();
    let id = start_execution(&t, &token, demo, "add a health check").await;
    let mut ws = socket(&t, &token).await;
    subscribe(&mut ws, &id, 0).await;
    let (_, _) = collect_until(&mut ws, 0, |m, _| {
        m["type"] == "agent.log"
            && m["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("Proceed with the plan?")
    })
    .await;
    t.http
        .post(t.url(&format!("/api/v1/executions/{id}/stdin")))
        .bearer_auth(&token)
        .json(&json!({"data": "y\n"}))
        .send()
        .await
        .unwrap();
    let e = wait_status(
        &t,
        &token,
        &id,
        &["completed", "failed"],
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(e["status"], "completed", "{e}");
    assert_eq!(e["result"]["filesChanged"], 3);
    let lines = log_lines(&stored_events(&t, &token, &id).await);
    assert!(lines.iter().any(|l| l == "received: y"), "{lines:?}");
    assert!(lines.iter().any(|l| l.contains("add a health check")));
    t.shutdown().await;
}

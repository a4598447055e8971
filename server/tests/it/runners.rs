//! Remote runners with a real `yagura runner` process on 127.0.0.1:
//! dispatch, live logs in the browser protocol, completion with resource
//! usage, a runner killed mid-run, a link cut by a TCP proxy, token
//! revocation, a bad token, and task operations over `/ws/ktcp`.

use crate::common;

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::{create_agent, execution, stored_events, wait_status, TestServer};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

pub(crate) struct RunnerProcess {
    pub child: Child,
}

impl Drop for RunnerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RunnerProcess {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit on its own.
    fn exited_within(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

async fn server(lease: Duration) -> TestServer {
    common::start_with(|c| {
        c.exec.kill_grace = Duration::from_millis(500);
        c.runners.lease = lease;
    })
    .await
}

pub(crate) async fn runner_token(t: &TestServer, token: &str, name: &str) -> (String, String) {
    let res = t
        .http
        .post(t.url("/api/v1/runner-tokens"))
        .bearer_auth(token)
        .json(&json!({"name": name}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert!(body["token"].as_str().unwrap().starts_with("yrt_"));
    (
        body["id"].as_str().unwrap().to_string(),
        body["token"].as_str().unwrap().to_string(),
    )
}

fn spawn_runner(addr: &str, token: &str, name: &str, work: &std::path::Path) -> RunnerProcess {
    let child = Command::new(env!("CARGO_BIN_EXE_yagura"))
        .args([
            "runner",
            "--server",
            &format!("ws://{addr}"),
            "--token",
            token,
            "--name",
            name,
            "--capabilities",
            "local,docker",
            "--concurrency",
            "2",
            "--heartbeat-secs",
            "0.3",
            "--kill-grace-secs",
            "0.5",
            "--work-dir",
        ])
        .arg(work)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    RunnerProcess { child }
}

pub(crate) async fn runners(t: &TestServer, token: &str) -> Vec<Value> {
    t.http
        .get(t.url("/api/v1/runners"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

pub(crate) async fn wait_online(t: &TestServer, token: &str, name: &str, online: bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let list = runners(t, token).await;
        if list
            .iter()
            .any(|r| r["name"] == name && r["online"] == online)
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "runner {name} never became online={online}: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An agent only a runner with `docker` runs.
async fn remote_agent(t: &TestServer, token: &str, name: &str, script: &str) -> String {
    create_agent(
        t,
        token,
        name,
        &["sh", "-c", script],
        json!({"capabilities": ["docker"]}),
    )
    .await
}

fn log_messages(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["type"] == "agent.log")
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect()
}

fn assert_gap_free(events: &[Value]) {
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["seq"].as_u64(), Some(i as u64 + 1), "seq gap at {i}: {e}");
    }
}

#[tokio::test]
async fn a_runner_runs_an_execution_and_its_lines_reach_the_browser_protocol() {
    let t = server(Duration::from_secs(5)).await;
    let token = t.setup_admin().await;
    let (_, secret) = runner_token(&t, &token, "ci").await;
    let work = tempfile::tempdir().unwrap();
    let _runner = spawn_runner(&t.server.addr.to_string(), &secret, "box-1", work.path());
    wait_online(&t, &token, "box-1", true).await;
    let list = runners(&t, &token).await;
    assert_eq!(list[0]["capabilities"], json!(["local", "docker"]));
    assert_eq!(list[0]["tokenName"], "ci");

    let agent = remote_agent(
        &t,
        &token,
        "remote lines",
        "echo \"::progress 10 counting\"; i=1; while [ $i -le 300 ]; do echo \"line $i\"; i=$((i+1)); done; \
         echo oops >&2; echo '::result {\"lines\": 300}'",
    )
    .await;

    // A browser-protocol subscriber, before the execution starts.
    let (mut ws, _) =
        tokio_tungstenite::connect_async(t.ws_url(&format!("?token={token}&batch=1")))
            .await
            .unwrap();
    let _hello = ws.next().await;
    let id = common::start_execution(&t, &token, &agent, "").await;
    ws.send(Message::text(
        json!({"type":"subscribe","channel":"agent-execution","executionId":id,"since":0})
            .to_string(),
    ))
    .await
    .unwrap();
    let mut live = Vec::new();
    'read: loop {
        let msg = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("events within 20 s")
            .unwrap()
            .unwrap();
        let Message::Text(text) = msg else { continue };
        let v: Value = serde_json::from_str(&text).unwrap();
        let items = if v["type"] == "batch" {
            v["events"].as_array().unwrap().clone()
        } else {
            vec![v]
        };
        for m in items {
            if m.get("seq").is_some() && m["executionId"] == id {
                let end = matches!(m["type"].as_str(), Some("agent.completed" | "agent.failed"));
                live.push(m);
                if end {
                    break 'read;
                }
            }
        }
    }
    assert_gap_free(&live);
    let kinds: Vec<&str> = live.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds[0], "agent.queued");
    assert!(kinds.contains(&"agent.started"));
    assert!(kinds.contains(&"agent.progress"));
    let done = live.last().unwrap();
    assert_eq!(done["type"], "agent.completed", "{done}");
    assert_eq!(done["result"]["lines"], 300);
    assert!(done["usage"]["wallMs"].as_u64().is_some());
    let lines = log_messages(&live);
    let expected: Vec<String> = (1..=300).map(|i| format!("line {i}")).collect();
    let numbered: Vec<String> = lines
        .iter()
        .filter(|l| l.starts_with("line "))
        .cloned()
        .collect();
    assert_eq!(numbered, expected);
    assert!(live
        .iter()
        .any(|e| e["type"] == "agent.log" && e["message"] == "oops" && e["stream"] == "stderr"));
    // The store holds the same.
    assert_eq!(stored_events(&t, &token, &id).await.len(), live.len());
    t.shutdown().await;
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

#[tokio::test]
async fn a_runner_killed_mid_run_loses_its_execution_with_runner_lost() {
    let t = server(Duration::from_secs(2)).await;
    let token = t.setup_admin().await;
    let (_, secret) = runner_token(&t, &token, "ci").await;
    let work = tempfile::tempdir().unwrap();
    let mut runner = spawn_runner(&t.server.addr.to_string(), &secret, "doomed", work.path());
    wait_online(&t, &token, "doomed", true).await;
    let agent = remote_agent(&t, &token, "sleeper", "echo \"pid $$\"; exec sleep 60").await;
    let id = common::start_execution(&t, &token, &agent, "").await;
    wait_status(&t, &token, &id, &["running"], Duration::from_secs(20)).await;
    // The agent's pid, from its first line.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let pid: u32 = loop {
        let lines = log_messages(&stored_events(&t, &token, &id).await);
        if let Some(p) = lines.iter().find_map(|l| l.strip_prefix("pid ")) {
            break p.trim().parse().unwrap();
        }
        assert!(tokio::time::Instant::now() < deadline, "no pid line");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(alive(pid));

    let killed_at = tokio::time::Instant::now();
    unsafe {
        libc::kill(runner.pid() as i32, libc::SIGKILL);
    }
    let _ = runner.exited_within(Duration::from_secs(5));
    let failed = wait_status(&t, &token, &id, &["failed"], Duration::from_secs(10)).await;
    let took = killed_at.elapsed();
    assert_eq!(failed["errorCode"], "RUNNER_LOST", "{failed}");
    assert!(
        took < Duration::from_secs(2) + Duration::from_millis(2500),
        "RUNNER_LOST after {took:?} with a 2 s lease"
    );
    // The agent died with its runner.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while alive(pid) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!alive(pid), "agent {pid} outlived its runner");
    wait_online(&t, &token, "doomed", false).await;
    t.shutdown().await;
}

/// A TCP proxy that can cut every connection and refuse new ones for a while.
struct Proxy {
    addr: String,
    cut: Arc<AtomicBool>,
    generation: Arc<std::sync::atomic::AtomicU64>,
}

async fn proxy(target: String) -> Proxy {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let cut = Arc::new(AtomicBool::new(false));
    let generation = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (c, g) = (cut.clone(), generation.clone());
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            if c.load(Ordering::SeqCst) {
                drop(client);
                continue;
            }
            let target = target.clone();
            let mine = g.load(Ordering::SeqCst);
            let g = g.clone();
            tokio::spawn(async move {
                let Ok(mut upstream) = TcpStream::connect(&target).await else {
                    return;
                };
                let (mut cr, mut cw) = client.split();
                let (mut ur, mut uw) = upstream.split();
                let watch = async {
                    while g.load(Ordering::SeqCst) == mine {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                };
                tokio::select! {
                    _ = tokio::io::copy(&mut cr, &mut uw) => {}
                    _ = tokio::io::copy(&mut ur, &mut cw) => {}
                    _ = watch => {}
                }
            });
        }
    });
    Proxy {
        addr,
        cut,
        generation,
    }
}

impl Proxy {
    /// Drops every open connection and refuses new ones until `restore`.
    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_link_cut_mid_run_loses_and_repeats_no_line() {
    let t = server(Duration::from_secs(15)).await;
    let token = t.setup_admin().await;
    let (_, secret) = runner_token(&t, &token, "ci").await;
    let proxy = proxy(t.server.addr.to_string()).await;
    let work = tempfile::tempdir().unwrap();
    let _runner = spawn_runner(&proxy.addr, &secret, "flaky", work.path());
    wait_online(&t, &token, "flaky", true).await;
    let agent = remote_agent(
        &t,
        &token,
        "steady",
        "i=1; while [ $i -le 400 ]; do echo \"line $i\"; i=$((i+1)); sleep 0.01; done",
    )
    .await;
    let id = common::start_execution(&t, &token, &agent, "").await;
    // Cut once some lines are in.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let n = log_messages(&stored_events(&t, &token, &id).await).len();
        if n >= 50 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no lines arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during = execution(&t, &token, &id).await;
    assert_eq!(
        during["status"], "running",
        "the lease holds during the cut"
    );
    proxy.restore();
    let done = wait_status(
        &t,
        &token,
        &id,
        &["completed", "failed"],
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(done["status"], "completed", "{done}");
    let events = stored_events(&t, &token, &id).await;
    assert_gap_free(&events);
    let lines = log_messages(&events);
    let expected: Vec<String> = (1..=400).map(|i| format!("line {i}")).collect();
    assert_eq!(lines, expected, "every line exactly once, in order");
    t.shutdown().await;
}

/// The runner's outbox is a journal in its work dir: a runner killed while
/// its link is down comes back with every line it had read, then says the
/// task its death interrupted is lost (`RUNNER_RESTARTED`, which the
/// server treats as a lost runner).
#[tokio::test]
async fn a_restarted_runner_delivers_what_its_outbox_held_and_ends_the_lost_task() {
    let t = server(Duration::from_secs(20)).await;
    let token = t.setup_admin().await;
    let (_, secret) = runner_token(&t, &token, "ci").await;
    let proxy = proxy(t.server.addr.to_string()).await;
    let work = tempfile::tempdir().unwrap();
    let mut runner = spawn_runner(&proxy.addr, &secret, "phoenix", work.path());
    wait_online(&t, &token, "phoenix", true).await;
    // A second runner on the same work dir is refused.
    let mut twin = spawn_runner(&proxy.addr, &secret, "twin", work.path());
    let status = twin
        .exited_within(Duration::from_secs(10))
        .expect("a second runner on one work dir stops");
    assert!(!status.success());

    let agent = remote_agent(
        &t,
        &token,
        "late-talker",
        "echo started; sleep 3; i=1; while [ $i -le 50 ]; do echo \"line $i\"; i=$((i+1)); done; exec sleep 60",
    )
    .await;
    let id = common::start_execution(&t, &token, &agent, "").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !log_messages(&stored_events(&t, &token, &id).await).contains(&"started".to_string()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the agent never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The link goes down; the agent prints its 50 lines into the outbox.
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(5)).await;
    unsafe {
        libc::kill(runner.pid() as i32, libc::SIGKILL);
    }
    let _ = runner.exited_within(Duration::from_secs(5));
    assert_eq!(
        log_messages(&stored_events(&t, &token, &id).await),
        vec!["started".to_string()],
        "nothing more arrived before the restart"
    );
    assert!(work.path().join("outbox.log").exists());

    proxy.restore();
    let _runner = spawn_runner(&proxy.addr, &secret, "phoenix", work.path());
    let done = wait_status(
        &t,
        &token,
        &id,
        &["failed", "completed"],
        Duration::from_secs(20),
    )
    .await;
    // A lost runner, told at once (not after the lease): the agent's
    // policy (fail, the default, or requeue) applies.
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["errorCode"], "RUNNER_LOST", "{done}");
    assert!(
        done["errorMessage"].as_str().unwrap().contains("restarted"),
        "{done}"
    );
    let events = stored_events(&t, &token, &id).await;
    assert_gap_free(&events);
    let mut expected = vec!["started".to_string()];
    expected.extend((1..=50).map(|i| format!("line {i}")));
    assert_eq!(log_messages(&events), expected, "every line once, in order");
    // The runner takes new work afterwards.
    let quick = remote_agent(&t, &token, "quick", "echo after").await;
    let next = common::start_execution(&t, &token, &quick, "").await;
    let after = wait_status(
        &t,
        &token,
        &next,
        &["completed", "failed"],
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(after["status"], "completed", "{after}");
    t.shutdown().await;
}

#[tokio::test]
async fn a_revoked_token_disconnects_its_runner_and_a_bad_token_is_refused() {
    let t = server(Duration::from_secs(5)).await;
    let token = t.setup_admin().await;
    let (token_id, secret) = runner_token(&t, &token, "temporary").await;
    let work = tempfile::tempdir().unwrap();
    let mut runner = spawn_runner(
        &t.server.addr.to_string(),
        &secret,
        "short-lived",
        work.path(),
    );
    wait_online(&t, &token, "short-lived", true).await;
    let res = t
        .http
        .delete(t.url(&format!("/api/v1/runner-tokens/{token_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let revoked_at = std::time::Instant::now();
    // Disconnected within a second; the runner sees the refusal and stops.
    wait_online(&t, &token, "short-lived", false).await;
    assert!(
        revoked_at.elapsed() < Duration::from_secs(1),
        "{:?}",
        revoked_at.elapsed()
    );
    let status = runner
        .exited_within(Duration::from_secs(10))
        .expect("runner exits");
    assert!(!status.success());

    // A bad token: an error frame, then close 4001.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws/ktcp", t.server.addr))
        .await
        .unwrap();
    ws.send(Message::text(
        json!({"type":"authenticate","token":"yrt_nope","clientType":"provider","clientVersion":"1","capabilities":["local"]})
            .to_string(),
    ))
    .await
    .unwrap();
    let first = ws.next().await.unwrap().unwrap();
    let v: Value = serde_json::from_str(first.to_text().unwrap()).unwrap();
    assert_eq!(v["type"], "generic_error");
    assert_eq!(v["data"]["errorCode"], "AUTH_FAILED");
    match ws.next().await {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 4001),
        other => panic!("expected close 4001, got {other:?}"),
    }
    // The revoked token is refused the same way.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws/ktcp", t.server.addr))
        .await
        .unwrap();
    ws.send(Message::text(
        json!({"type":"authenticate","token":secret,"clientType":"provider"}).to_string(),
    ))
    .await
    .unwrap();
    let first = ws.next().await.unwrap().unwrap();
    assert!(first.to_text().unwrap().contains("AUTH_FAILED"));
    t.shutdown().await;
}

#[tokio::test]
async fn task_operations_round_trip_with_request_ids() {
    let t = server(Duration::from_secs(5)).await;
    let token = t.setup_admin().await;
    let agent = create_agent(
        &t,
        &token,
        "local echo",
        &["sh", "-c", "echo \"task says $1\"", "sh", "{prompt}"],
        json!({}),
    )
    .await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws/ktcp", t.server.addr))
        .await
        .unwrap();
    let mut ask = async |frame: Value| -> Value {
        ws.send(Message::text(frame.to_string())).await.unwrap();
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(20), ws.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            if let Message::Text(t) = msg {
                return serde_json::from_str(&t).unwrap();
            }
        }
    };
    let hello =
        ask(json!({"type":"authenticate","token":token,"clientType":"client","clientVersion":"1"}))
            .await;
    assert_eq!(hello["type"], "auth_success");

    let created = ask(json!({"type":"task_create","requestId":"req-1","data":{
        "name":"Build Project","description":"build it","timeout":120,"tags":["build","production"],
        "agentId":agent,"prompt":"hello"},"timestamp":"2024-01-01T10:00:00Z"}))
    .await;
    assert_eq!(created["type"], "task_create_response", "{created}");
    assert_eq!(created["requestId"], "req-1");
    assert_eq!(created["data"]["status"], "CREATED");
    let task = created["taskId"].as_str().unwrap().to_string();
    wait_status(&t, &token, &task, &["completed"], Duration::from_secs(20)).await;

    let read = ask(json!({"type":"task_read","requestId":"req-2","taskId":task,"data":{"includeLogs":true,"includeMetadata":true}})).await;
    assert_eq!(read["type"], "task_read_response");
    assert_eq!(read["requestId"], "req-2");
    assert_eq!(read["data"]["name"], "Build Project");
    assert_eq!(read["data"]["status"], "COMPLETED");
    assert_eq!(read["data"]["timeout"], 120);
    assert_eq!(read["data"]["tags"], json!(["build", "production"]));
    assert_eq!(read["data"]["createdBy"], common::ADMIN);
    assert_eq!(read["data"]["logs"][0]["message"], "task says hello");

    let updated = ask(json!({"type":"task_update","requestId":"req-3","taskId":task,"data":{"name":"Renamed","tags":["build"]}})).await;
    assert_eq!(updated["type"], "task_update_response", "{updated}");
    assert_eq!(updated["data"]["status"], "UPDATED");
    assert_eq!(
        updated["data"]["changes"]["name"],
        json!({"old": "Build Project", "new": "Renamed"})
    );
    // The timeout of a finished task cannot change.
    let refused =
        ask(json!({"type":"task_update","requestId":"req-4","taskId":task,"data":{"timeout":5}}))
            .await;
    assert_eq!(refused["type"], "generic_error");
    assert_eq!(refused["requestId"], "req-4");

    let list = ask(json!({"type":"task_list","requestId":"req-5","data":{"status":["COMPLETED"],"tags":["build"],"limit":10,"offset":0,"sortBy":"createdAt","sortOrder":"DESC"}})).await;
    assert_eq!(list["type"], "task_list_response");
    assert_eq!(list["data"]["totalCount"], 1);
    assert_eq!(list["data"]["hasMore"], false);
    assert_eq!(list["data"]["tasks"][0]["taskId"], task);
    assert_eq!(list["data"]["tasks"][0]["name"], "Renamed");
    let none =
        ask(json!({"type":"task_list","requestId":"req-6","data":{"status":["PENDING"]}})).await;
    assert_eq!(none["data"]["totalCount"], 0);
    let bad =
        ask(json!({"type":"task_list","requestId":"req-7","data":{"status":["SLEEPING"]}})).await;
    assert_eq!(bad["type"], "generic_error");

    let deleted = ask(json!({"type":"task_delete","requestId":"req-8","taskId":task,"data":{"reason":"done","force":false}})).await;
    assert_eq!(deleted["type"], "task_delete_response", "{deleted}");
    assert_eq!(deleted["data"]["status"], "DELETED");
    let gone = ask(json!({"type":"task_read","requestId":"req-9","taskId":task})).await;
    assert_eq!(gone["type"], "generic_error");
    assert_eq!(gone["data"]["errorCode"], "TASK_NOT_FOUND");
    t.shutdown().await;
}

#[tokio::test]
async fn a_lost_runners_execution_goes_back_to_the_queue_when_its_agent_asks() {
    let t = server(Duration::from_secs(2)).await;
    let token = t.setup_admin().await;
    let (_, secret) = runner_token(&t, &token, "ci").await;
    let work = tempfile::tempdir().unwrap();
    let mut first = spawn_runner(&t.server.addr.to_string(), &secret, "first", work.path());
    wait_online(&t, &token, "first", true).await;
    let agent = create_agent(
        &t,
        &token,
        "patient",
        &["sh", "-c", "echo begin; sleep 2; echo end"],
        json!({"capabilities": ["docker"], "onRunnerLost": "requeue"}),
    )
    .await;
    let id = common::start_execution(&t, &token, &agent, "").await;
    wait_status(&t, &token, &id, &["running"], Duration::from_secs(20)).await;
    unsafe {
        libc::kill(first.pid() as i32, libc::SIGKILL);
    }
    let _ = first.exited_within(Duration::from_secs(5));
    // Lease over: queued again (no runner to take it yet).
    let queued = wait_status(&t, &token, &id, &["queued"], Duration::from_secs(10)).await;
    assert!(queued["errorCode"].is_null(), "{queued}");
    let _second = spawn_runner(&t.server.addr.to_string(), &secret, "second", work.path());
    let done = wait_status(
        &t,
        &token,
        &id,
        &["completed", "failed"],
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(done["status"], "completed", "{done}");
    let events = stored_events(&t, &token, &id).await;
    assert_gap_free(&events);
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "agent.requeued").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "agent.started").count(),
        2,
        "{kinds:?}"
    );
    let lines = log_messages(&events);
    assert_eq!(lines.iter().filter(|l| *l == "end").count(), 1, "{lines:?}");
    t.shutdown().await;
}

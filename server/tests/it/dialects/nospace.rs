//! Seed 004, nospace over Socket.IO, with a Socket.IO 5 client written for
//! these tests (`common::sio`): auth at the handshake, runs as executions,
//! output exactly as written, interactive and batch input, kill, one run
//! per socket, disconnect; and the Team Dashboard's `message` event.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::sio::{ConnectError, SioClient, Transport};
use crate::common::{self, create_agent, wait_status, TestServer};

const WAIT: Duration = Duration::from_secs(15);

async fn client(t: &TestServer, token: &str, transport: Transport) -> SioClient {
    SioClient::connect(&t.base, json!({"token": token}), transport)
        .await
        .unwrap_or_else(|e| panic!("connect over {transport:?}: {e}"))
}

/// Events of session `id` until its final status: (stdout, stderr, statuses).
async fn run_to_end(c: &mut SioClient, id: &str) -> (String, String, Vec<Value>) {
    let (mut out, mut err, mut statuses) = (String::new(), String::new(), Vec::new());
    loop {
        let (name, v) = c.next_event(WAIT).await.expect("an event");
        if v["sessionId"] != id {
            continue;
        }
        match name.as_str() {
            "nospace_stdout" => out.push_str(v["data"].as_str().unwrap()),
            "nospace_stderr" => err.push_str(v["data"].as_str().unwrap()),
            "nospace_execution_status" => {
                let end = v["status"] != "running";
                statuses.push(v);
                if end {
                    return (out, err, statuses);
                }
            }
            other => panic!("unexpected event {other}: {v}"),
        }
    }
}

async fn started(c: &mut SioClient) -> String {
    let v = c.expect_event("nospace_execution_status", WAIT).await;
    assert_eq!(v["status"], "running", "{v}");
    v["sessionId"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn interactive_runs_keep_the_bytes_as_written_over_every_transport() {
    let t = common::start().await;
    let token = t.setup_admin().await;
    create_agent(
        &t,
        &token,
        "nospace20",
        &[
            "sh",
            "-c",
            "printf '%s|%s|' \"$1\" \"$NOSPACE_LANGUAGE\"; printf 'Name? '; read n; \
                       printf 'hi %s\\r\\n' \"$n\"; printf 'é\\n'; echo warn >&2; exit 3",
            "sh",
            "{prompt}",
        ],
        json!({}),
    )
    .await;
    for transport in [
        Transport::Polling,
        Transport::WebSocket,
        Transport::PollingThenUpgrade,
    ] {
        let mut c = client(&t, &token, transport).await;
        c.emit(
            "nospace_run",
            json!({"code": "push 1", "options": {"agentId": "nospace20", "language": "ws", "inputMode": "interactive"}}),
        )
        .unwrap();
        let id = started(&mut c).await;
        // The prompt arrives without a newline.
        let mut out = String::new();
        while !out.ends_with("Name? ") {
            let v = c.expect_event("nospace_stdout", WAIT).await;
            out.push_str(v["data"].as_str().unwrap());
        }
        assert_eq!(out, "push 1|ws|Name? ", "{transport:?}");
        c.emit("nospace_stdin", json!({"sessionId": id, "data": "bob"}))
            .unwrap();
        // Input for a session that is not ours is ignored.
        c.emit(
            "nospace_stdin",
            json!({"sessionId": uuid::Uuid::new_v4(), "data": "x"}),
        )
        .unwrap();
        let (rest, err, statuses) = run_to_end(&mut c, &id).await;
        assert_eq!(rest, "hi bob\r\né\n", "{transport:?}");
        assert_eq!(err, "warn\n");
        assert_eq!(statuses.len(), 1, "{statuses:?}");
        assert_eq!(statuses[0]["status"], "error");
        assert_eq!(statuses[0]["exitCode"], 3);
        // The run is an ordinary execution.
        let e = common::execution(&t, &token, &id).await;
        assert_eq!(e["status"], "failed");
        c.close().await;
    }
    t.shutdown().await;
}

#[tokio::test]
async fn batch_input_kill_one_run_per_socket_and_disconnect() {
    let t = common::start_with(|c| {
        c.exec.kill_grace = Duration::from_millis(500);
        c.nospace_agent = Some("default-runner".into());
    })
    .await;
    let token = t.setup_admin().await;
    create_agent(
        &t,
        &token,
        "default-runner",
        &["sh", "-c", "cat; echo done"],
        json!({}),
    )
    .await;
    create_agent(
        &t,
        &token,
        "sleeper",
        &["sh", "-c", "echo up; exec sleep 60"],
        json!({}),
    )
    .await;
    let mut c = client(&t, &token, Transport::WebSocket).await;

    // Batch: stdin written and closed; the agent comes from the setting.
    c.emit(
        "nospace_run",
        json!({"code": "", "options": {"inputMode": "batch"}, "stdinData": "x\ny"}),
    )
    .unwrap();
    let id = started(&mut c).await;
    let (out, _, statuses) = run_to_end(&mut c, &id).await;
    assert_eq!(out, "x\nydone\n");
    assert_eq!(statuses[0]["status"], "finished");
    assert_eq!(statuses[0]["exitCode"], 0);

    // Kill.
    c.emit(
        "nospace_run",
        json!({"code": "", "options": {"agentId": "sleeper"}}),
    )
    .unwrap();
    let id = started(&mut c).await;
    c.expect_event("nospace_stdout", WAIT).await;
    c.emit("nospace_kill", json!({"sessionId": id})).unwrap();
    let (_, _, statuses) = run_to_end(&mut c, &id).await;
    assert_eq!(statuses[0]["status"], "killed");
    assert!(statuses[0]["exitCode"].is_null());

    // A new run ends the old one.
    c.emit(
        "nospace_run",
        json!({"code": "", "options": {"agentId": "sleeper"}}),
    )
    .unwrap();
    let first = started(&mut c).await;
    c.emit(
        "nospace_run",
        json!({"code": "", "options": {"agentId": "sleeper"}}),
    )
    .unwrap();
    let (_, _, statuses) = run_to_end(&mut c, &first).await;
    assert_eq!(statuses[0]["status"], "killed");
    let second = started(&mut c).await;
    assert_ne!(first, second);

    // A disconnect ends the run.
    c.close().await;
    wait_status(&t, &token, &second, &["cancelled"], WAIT).await;

    // An unknown agent: an error status and the reason on stderr.
    let mut c = client(&t, &token, Transport::Polling).await;
    c.emit(
        "nospace_run",
        json!({"code": "", "options": {"agentId": "missing"}}),
    )
    .unwrap();
    let id = started(&mut c).await;
    let (_, err, statuses) = run_to_end(&mut c, &id).await;
    assert!(err.contains("missing"), "{err}");
    assert_eq!(statuses[0]["status"], "error");
    assert!(statuses[0]["exitCode"].is_null());
    c.close().await;
    t.shutdown().await;
}

#[tokio::test]
async fn twenty_thousand_lines_at_once_arrive_exactly_in_few_events_of_64_kib_at_most() {
    let t = common::start().await;
    let token = t.setup_admin().await;
    // 20,000 lines of 40 bytes in one burst (about 800 KB).
    create_agent(
        &t,
        &token,
        "loud",
        &["sh", "-c", "seq -f '%039g' 1 20000"],
        json!({}),
    )
    .await;
    for transport in [Transport::Polling, Transport::WebSocket] {
        let mut c = client(&t, &token, transport).await;
        c.emit(
            "nospace_run",
            json!({"code": "", "options": {"agentId": "loud"}}),
        )
        .unwrap();
        let id = started(&mut c).await;
        let mut out = String::new();
        let mut pieces = Vec::new();
        let status = loop {
            let (name, v) = c.next_event(WAIT).await.expect("an event");
            match name.as_str() {
                "nospace_stdout" => {
                    let data = v["data"].as_str().unwrap();
                    pieces.push(data.len());
                    out.push_str(data);
                }
                "nospace_execution_status" => break v,
                other => panic!("unexpected {other}: {v}"),
            }
        };
        assert_eq!(status["sessionId"], id);
        assert_eq!(status["status"], "finished");
        let expected: String = (1..=20_000).map(|i| format!("{i:039}\n")).collect();
        assert_eq!(out.len(), expected.len(), "{transport:?}");
        assert!(out == expected, "every byte, in order ({transport:?})");
        assert!(pieces.iter().all(|n| *n <= 64 * 1024), "{pieces:?}");
        assert!(
            pieces.len() < 200,
            "{} events for 20,000 lines",
            pieces.len()
        );
        c.close().await;
    }
    t.shutdown().await;
}

#[tokio::test]
async fn the_handshake_needs_a_credential_and_the_dashboard_speaks_on_message() {
    let t = common::start().await;
    let token = t.setup_admin().await;
    for (auth, transport) in [
        (json!({}), Transport::Polling),
        (json!({"token": "nope"}), Transport::WebSocket),
        (json!({"token": "nope"}), Transport::Polling),
    ] {
        match SioClient::connect(&t.base, auth.clone(), transport).await {
            Err(ConnectError::Refused(v)) => {
                assert_eq!(v["message"], "Unauthorized", "{auth} {transport:?}")
            }
            Err(e) => panic!("{auth} {transport:?}: {e}"),
            Ok(_) => panic!("{auth} {transport:?}: connected"),
        }
    }

    // The dashboard's UI: websocket transport, the auth envelope first.
    let mut c = SioClient::connect(&t.base, Value::Null, Transport::WebSocket)
        .await
        .expect("a websocket handshake may authenticate by envelope");
    c.emit("message", json!({"id": "m1", "type": "auth", "timestamp": 1, "payload": {"token": token, "clientId": "ui"}}))
        .unwrap();
    let ack = c.expect_event("message", WAIT).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["payload"]["messageId"], "m1");
    assert_eq!(ack["payload"]["success"], true);
    c.emit(
        "message",
        json!({"id": "m2", "type": "subscribe:metrics", "timestamp": 2, "payload": {}}),
    )
    .unwrap();
    let mut kinds = Vec::new();
    while kinds.len() < 2 {
        let m = c.expect_event("message", WAIT).await;
        kinds.push(m["type"].as_str().unwrap().to_string());
    }
    assert_eq!(kinds, ["ack", "metrics:update"]);
    c.close().await;

    // Authenticated at the handshake, the envelope flows at once.
    let mut c = client(&t, &token, Transport::Polling).await;
    c.emit(
        "message",
        json!({"id": "p1", "type": "ping", "timestamp": 1, "payload": {}}),
    )
    .unwrap();
    let pong = c.expect_event("message", WAIT).await;
    assert_eq!(pong["type"], "pong");
    assert_eq!(pong["metadata"]["correlationId"], "p1");
    c.close().await;

    // Revoking the key a socket connected with disconnects it.
    let (key_id, key) = common::api_key(&t, &token, "sio").await;
    let mut c = client(&t, &key, Transport::WebSocket).await;
    let res = t
        .http
        .delete(t.url(&format!("/api/v1/api-keys/{key_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert!(c.next_event(WAIT).await.is_none());
    assert!(matches!(c.state(), common::sio::State::Disconnected(_)));

    // Without the envelope within 5 s, a credential-less socket goes.
    let mut c = SioClient::connect(&t.base, Value::Null, Transport::WebSocket)
        .await
        .unwrap();
    assert!(c.next_event(Duration::from_secs(9)).await.is_none());
    assert!(matches!(c.state(), common::sio::State::Disconnected(_)));
    t.shutdown().await;
}

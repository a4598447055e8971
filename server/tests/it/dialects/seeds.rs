//! Clients written from seeds 002 and 000 alone: a Miyabi dashboard on
//! `/ws` that never asked for Yagura's extensions, a keruta provider that
//! numbers nothing, and task creation with the seed's own payload. And the
//! API keys such clients sign in with.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::common::{
    self, api_key, create_agent, start_execution, user_with_role, wait_status, ws_connect, ws_recv,
    ws_send,
};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn a_seed_dashboard_gets_one_message_per_frame_and_every_line() {
    let t = common::start().await;
    let token = t.setup_admin().await;
    let agent = create_agent(
        &t,
        &token,
        "chatty",
        &[
            "sh",
            "-c",
            "i=0; while [ $i -lt 3000 ]; do echo line$i; i=$((i+1)); done",
        ],
        json!({}),
    )
    .await;
    // The original dashboard: `?events=true`, and an unknown parameter.
    let mut ws = ws_connect(&t.ws_url(&format!("?token={token}&events=true&theme=dark"))).await;
    let hello = ws_recv(&mut ws, WAIT).await.unwrap();
    assert_eq!(hello["type"], "connected");
    assert_eq!(hello["user"]["githubUsername"], "admin", "{hello}");
    let id = start_execution(&t, &token, &agent, "go").await;
    let mut lines = Vec::new();
    let mut kinds = std::collections::BTreeSet::new();
    loop {
        let m = ws_recv(&mut ws, WAIT).await.expect("a frame");
        let kind = m["type"].as_str().unwrap().to_string();
        // Only seed 002's own frame types, unless the client asks for more.
        assert!(
            [
                "connected",
                "pong",
                "subscribed",
                "unsubscribed",
                "error",
                "agent.started",
                "agent.progress",
                "agent.completed",
                "agent.failed",
                "agent.log",
                "issue.created",
                "workflow.started",
                "workflow.completed",
                "notification"
            ]
            .contains(&kind.as_str()),
            "{m}"
        );
        if m["executionId"] == id.as_str()
            || m["execution_id"] == id.as_str()
            || m.to_string().contains(&id)
        {
            if kind == "agent.log" {
                lines.push(m["message"].as_str().unwrap().to_string());
            }
            kinds.insert(kind.clone());
            if kind == "agent.completed" || kind == "agent.failed" {
                break;
            }
        }
    }
    let expected: Vec<String> = (0..3000).map(|i| format!("line{i}")).collect();
    assert_eq!(lines.len(), 3000);
    assert!(lines == expected, "every line, in order");
    assert!(kinds.contains("agent.started"), "{kinds:?}");

    // `?execution_id=` (with `?events=true` too): that run's history, then
    // live, each event once.
    let mut ws =
        ws_connect(&t.ws_url(&format!("?token={token}&execution_id={id}&events=true"))).await;
    let mut seqs = Vec::new();
    loop {
        let m = ws_recv(&mut ws, WAIT).await.expect("a frame");
        assert_ne!(m["type"], "batch");
        if m["type"] == "agent.log" {
            seqs.push(m["seq"].as_u64().unwrap());
        }
        if m["type"] == "agent.completed" {
            break;
        }
    }
    assert_eq!(seqs.len(), 3000);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "once each, in order");
    t.shutdown().await;
}

#[tokio::test]
async fn a_cancelled_run_is_a_seed_failure_unless_extensions_were_asked_for() {
    let t = common::start_with(|c| c.exec.kill_grace = Duration::from_millis(300)).await;
    let token = t.setup_admin().await;
    let agent = create_agent(&t, &token, "sleepy", &["sleep", "30"], json!({})).await;
    let mut seed = ws_connect(&t.ws_url(&format!("?token={token}&events=true"))).await;
    let mut ours = ws_connect(&t.ws_url(&format!("?token={token}&events=true&batch=1"))).await;
    let id = start_execution(&t, &token, &agent, "go").await;
    wait_status(&t, &token, &id, &["running"], WAIT).await;
    let res = t
        .http
        .post(t.url(&format!("/api/v1/executions/{id}/cancel")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let end = |m: &Value| {
        m.to_string().contains(&id)
            && (m["type"] == "agent.failed" || m["type"] == "agent.cancelled")
    };
    let m = loop {
        let m = ws_recv(&mut seed, WAIT).await.unwrap();
        if end(&m) {
            break m;
        }
    };
    assert_eq!(m["type"], "agent.failed");
    assert_eq!(
        m["errorCode"].as_str().or(m["error_code"].as_str()),
        Some("CANCELLED"),
        "{m}"
    );
    let m = loop {
        let frames = common::next_frames(&mut ours).await;
        if let Some(m) = frames.into_iter().find(|m| end(m)) {
            break m;
        }
    };
    assert_eq!(m["type"], "agent.cancelled");
    t.shutdown().await;
}

/// A provider written from seed 000: no `seq`, no `ack` expected.
#[tokio::test]
async fn a_seed_provider_runs_a_seed_task_without_numbering_its_reports() {
    let t = common::start().await;
    let token = t.setup_admin().await;
    let res = t
        .http
        .post(t.url("/api/v1/runner-tokens"))
        .bearer_auth(&token)
        .json(&json!({"name": "seed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let secret = res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let ktcp = format!("ws://{}/ws/ktcp", t.server.addr);

    let mut provider = ws_connect(&ktcp).await;
    ws_send(
        &mut provider,
        &json!({"type": "authenticate", "token": secret, "clientType": "provider",
                "clientVersion": "1.0.0", "capabilities": ["kubernetes", "docker", "local"]}),
    )
    .await;
    let hello = ws_recv(&mut provider, WAIT).await.unwrap();
    assert_eq!(hello["type"], "auth_success", "{hello}");

    // A client creates a task with the seed's payload only.
    let mut client = ws_connect(&ktcp).await;
    ws_send(&mut client, &json!({"type": "authenticate", "token": token, "clientType": "client", "clientVersion": "1"})).await;
    assert_eq!(
        ws_recv(&mut client, WAIT).await.unwrap()["type"],
        "auth_success"
    );
    ws_send(
        &mut client,
        &json!({"type": "task_create", "requestId": "req-1",
                "data": {"name": "Build Project", "description": "build it", "timeout": 3600, "tags": ["build", "production"]},
                "timestamp": "2024-01-01T10:00:00Z"}),
    )
    .await;
    let created = ws_recv(&mut client, WAIT).await.unwrap();
    assert_eq!(created["type"], "task_create_response", "{created}");
    assert_eq!(created["data"]["status"], "CREATED");
    let task = created["taskId"].as_str().unwrap().to_string();

    // The provider is asked to run it, as the seed shows.
    let execute = loop {
        let m = ws_recv(&mut provider, WAIT).await.expect("task_execute");
        if m["type"] == "task_execute" {
            break m;
        }
    };
    assert_eq!(execute["taskId"], task);
    assert_eq!(execute["data"]["name"], "Build Project");
    assert_eq!(execute["data"]["timeout"], 3600);

    let now = || chrono::Utc::now().to_rfc3339();
    ws_send(&mut provider, &json!({"type": "task_status_update", "taskId": task,
        "data": {"status": "PROCESSING", "progress": 10, "message": "starting", "startedAt": now()}, "timestamp": now()})).await;
    for i in 0..200 {
        // Only what a provider must say: the fields it leaves out (level,
        // timestamps) and metadata of any kind are fine.
        let log = if i % 2 == 0 {
            json!({"type": "task_log", "taskId": task,
                   "data": {"level": "INFO", "message": format!("step {i}"), "timestamp": now(),
                            "metadata": {"phase": "build", "attempt": 1, "flags": ["a"]}},
                   "timestamp": now()})
        } else {
            json!({"type": "task_log", "taskId": task, "data": {"message": format!("step {i}")}})
        };
        ws_send(&mut provider, &log).await;
        if i == 100 {
            ws_send(
                &mut provider,
                &json!({"type": "task_status_update", "taskId": task,
                "data": {"status": "PROCESSING", "progress": 49.6, "message": "half way"}}),
            )
            .await;
        }
    }
    ws_send(
        &mut provider,
        &json!({"type": "task_completed", "taskId": task,
        "data": {"status": "COMPLETED", "exitCode": 0}}),
    )
    .await;

    let e = wait_status(&t, &token, &task, &["completed"], WAIT).await;
    assert_eq!(e["exitCode"], 0, "{e}");
    let events = common::stored_events(&t, &token, &task).await;
    let lines = common::log_lines(&events);
    let expected: Vec<String> = (0..200).map(|i| format!("step {i}")).collect();
    assert_eq!(lines, expected, "all 200 lines in arrival order");
    let progress: Vec<(u64, String)> = events
        .iter()
        .filter(|e| e["type"] == "agent.progress")
        .map(|e| {
            (
                e["progress"].as_u64().unwrap(),
                e["currentStep"]
                    .as_str()
                    .or(e["current_step"].as_str())
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        progress,
        [(10, "starting".to_string()), (50, "half way".to_string())],
        "{events:?}"
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| e["type"] == "agent.started")
            .count(),
        1
    );
    // No ack was sent for unnumbered reports.
    while let Ok(Some(Ok(msg))) =
        tokio::time::timeout(Duration::from_millis(300), provider.next()).await
    {
        if let Message::Text(text) = msg {
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_ne!(v["type"], "ack", "{v}");
        }
    }
    t.shutdown().await;
}

#[tokio::test]
async fn api_keys_act_as_their_user_and_members_see_only_their_own() {
    let t = common::start().await;
    let admin = t.setup_admin().await;
    let member = user_with_role(&t, "mia", app::model::Role::Member).await;
    let viewer = user_with_role(&t, "vic", app::model::Role::Viewer).await;
    let (_, admin_key) = api_key(&t, &admin, "admin-script").await;
    let (mine, member_key) = api_key(&t, &member, "mia-script").await;
    assert!(member_key.starts_with("yak_"));

    // Both headers work on REST.
    for req in [
        t.http
            .get(t.url("/api/v1/me"))
            .header("x-api-key", &member_key),
        t.http.get(t.url("/api/v1/me")).bearer_auth(&member_key),
    ] {
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.json::<Value>().await.unwrap()["username"], "mia");
    }
    // A member lists their own keys; an admin everyone's. The key itself
    // is never listed.
    let list = |token: String| {
        let t = &t;
        async move {
            let res = t
                .http
                .get(t.url("/api/v1/api-keys"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            res.json::<Vec<Value>>().await.unwrap()
        }
    };
    let theirs = list(member.clone()).await;
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0]["name"], "mia-script");
    assert!(!theirs[0].to_string().contains(&member_key));
    assert_eq!(list(admin.clone()).await.len(), 2);
    // A member cannot revoke another's key; the admin can revoke any.
    let admin_key_id = list(admin.clone())
        .await
        .into_iter()
        .find(|k| k["name"] == "admin-script")
        .unwrap()["id"]
        .clone();
    let res = t
        .http
        .delete(t.url(&format!(
            "/api/v1/api-keys/{}",
            admin_key_id.as_str().unwrap()
        )))
        .bearer_auth(&member)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = t
        .http
        .delete(t.url(&format!("/api/v1/api-keys/{mine}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = t
        .http
        .get(t.url("/api/v1/me"))
        .header("x-api-key", &member_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // Viewers make no keys; a blank name is a clear 422.
    let res = t
        .http
        .post(t.url("/api/v1/api-keys"))
        .bearer_auth(&viewer)
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = t
        .http
        .post(t.url("/api/v1/api-keys"))
        .bearer_auth(&admin)
        .json(&json!({"name": "  "}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    // The admin's key still works, with the admin's role.
    let res = t
        .http
        .get(t.url("/api/v1/runner-tokens"))
        .header("x-api-key", &admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    t.shutdown().await;
}

/// Seed 000 leaves cancelling open: a client may ask (`task_cancel`), a
/// provider answers with `task_error` and the task ends cancelled; a forced
/// delete does not hold up the client's other requests; revoking the
/// client's key closes its socket.
#[tokio::test]
async fn seed_cancels_and_deletes_and_a_revoked_client() {
    let t = common::start().await;
    let token = t.setup_admin().await;
    let res = t
        .http
        .post(t.url("/api/v1/runner-tokens"))
        .bearer_auth(&token)
        .json(&json!({"name": "seed"}))
        .send()
        .await
        .unwrap();
    let secret = res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let ktcp = format!("ws://{}/ws/ktcp", t.server.addr);
    let mut provider = ws_connect(&ktcp).await;
    ws_send(
        &mut provider,
        &json!({"type": "authenticate", "token": secret, "clientType": "provider", "capabilities": ["local"]}),
    )
    .await;
    assert_eq!(
        ws_recv(&mut provider, WAIT).await.unwrap()["type"],
        "auth_success"
    );

    let (key_id, key) = api_key(&t, &token, "ktcp-client").await;
    let mut client = ws_connect(&ktcp).await;
    ws_send(
        &mut client,
        &json!({"type": "authenticate", "token": key, "clientType": "client"}),
    )
    .await;
    assert_eq!(
        ws_recv(&mut client, WAIT).await.unwrap()["type"],
        "auth_success"
    );

    async fn create(client: &mut common::Socket, name: &str) -> String {
        ws_send(
            client,
            &json!({"type": "task_create", "requestId": name, "data": {"name": name}}),
        )
        .await;
        let created = ws_recv(client, WAIT).await.unwrap();
        assert_eq!(created["type"], "task_create_response", "{created}");
        created["taskId"].as_str().unwrap().to_string()
    }
    async fn next_of(provider: &mut common::Socket, kind: &str) -> Value {
        loop {
            let m = ws_recv(provider, WAIT).await.expect("a frame");
            if m["type"] == kind {
                return m;
            }
        }
    }

    // The client cancels; the provider hears it and answers with task_error.
    let task = create(&mut client, "one").await;
    assert_eq!(next_of(&mut provider, "task_execute").await["taskId"], task);
    ws_send(
        &mut provider,
        &json!({"type": "task_status_update", "taskId": task, "data": {"status": "PROCESSING"}}),
    )
    .await;
    wait_status(&t, &token, &task, &["running"], WAIT).await;
    ws_send(
        &mut client,
        &json!({"type": "task_cancel", "taskId": task, "data": {"reason": "no longer needed"}}),
    )
    .await;
    assert_eq!(next_of(&mut provider, "task_cancel").await["taskId"], task);
    ws_send(
        &mut provider,
        &json!({"type": "task_error", "taskId": task,
        "data": {"status": "FAILED", "errorCode": "CANCELLED", "errorMessage": "stopped"}}),
    )
    .await;
    wait_status(&t, &token, &task, &["cancelled"], WAIT).await;

    // A report the server cannot read says which task it was about.
    ws_send(
        &mut provider,
        &json!({"type": "task_log", "taskId": task, "data": {"level": "INFO"}}),
    )
    .await;
    let refusal = next_of(&mut provider, "generic_error").await;
    assert_eq!(refusal["taskId"], task, "{refusal}");

    // A forced delete of a task whose provider does not answer: other
    // requests are answered meanwhile, and a refusal says to retry.
    let stuck = create(&mut client, "two").await;
    assert_eq!(
        next_of(&mut provider, "task_execute").await["taskId"],
        stuck
    );
    ws_send(&mut client, &json!({"type": "task_delete", "requestId": "del", "taskId": stuck, "data": {"force": true}})).await;
    ws_send(
        &mut client,
        &json!({"type": "task_list", "requestId": "list", "data": {}}),
    )
    .await;
    let first = ws_recv(&mut client, WAIT).await.unwrap();
    assert_eq!(
        first["requestId"], "list",
        "the list does not wait for the delete: {first}"
    );
    let del = ws_recv(&mut client, Duration::from_secs(30)).await.unwrap();
    assert_eq!(del["requestId"], "del");
    if del["type"] == "generic_error" {
        assert_eq!(del["data"]["retryable"], true, "{del}");
    }
    // The provider was told to kill it at once.
    let cancel = next_of(&mut provider, "task_cancel").await;
    assert_eq!(cancel["taskId"], stuck);
    assert_eq!(cancel["data"]["force"], true, "{cancel}");

    // Revoking the client's key closes its socket.
    let res = t
        .http
        .delete(t.url(&format!("/api/v1/api-keys/{key_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(common::ws_close_code(&mut client, WAIT).await, 4001);
    t.shutdown().await;
}

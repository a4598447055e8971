//! Issues, workflows and notifications against the real server, with real
//! processes as agents: the engine (parallel steps, failure policies,
//! approval gates, re-run, cancel, restart) and the events on `/ws`.

use crate::common;

use std::time::Duration;

use crate::common::{create_agent, execution, next_frames, wait_status, TestServer};
use serde_json::{json, Value};

async fn fast_server() -> TestServer {
    common::start_with(|c| c.exec.kill_grace = Duration::from_millis(800)).await
}

/// An agent that prints its prompt and reports it as its result.
async fn echo_agent(t: &TestServer, token: &str, name: &str, sleep: &str) -> String {
    create_agent(
        t,
        token,
        name,
        &[
            "sh",
            "-c",
            &format!("echo \"working on $1\"; sleep {sleep}; printf '::result {{\"prompt\":\"%s\"}}\\n' \"$1\""),
            "sh",
            "{prompt}",
        ],
        json!({}),
    )
    .await
}

async fn failing_agent(t: &TestServer, token: &str) -> String {
    create_agent(
        t,
        token,
        "fails",
        &["sh", "-c", "echo 'error: it broke' >&2; exit 3"],
        json!({}),
    )
    .await
}

async fn post(t: &TestServer, token: &str, path: &str, body: Value) -> (u16, Value) {
    let res = t
        .http
        .post(t.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn get(t: &TestServer, token: &str, path: &str) -> Value {
    let res = t
        .http
        .get(t.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "GET {path}");
    res.json().await.unwrap()
}

fn step(key: &str, agent: &str, prompt: &str) -> Value {
    json!({"key": key, "agentId": agent, "prompt": prompt})
}

async fn workflow(t: &TestServer, token: &str, name: &str, stages: Value) -> String {
    let (status, body) = post(
        t,
        token,
        "/api/v1/workflows",
        json!({"name": name, "definition": {"stages": stages}}),
    )
    .await;
    assert_eq!(status, 201, "create workflow: {body}");
    body["id"].as_str().unwrap().to_string()
}

async fn issue(t: &TestServer, token: &str, title: &str, labels: Value) -> (String, u64) {
    let repos = get(t, token, "/api/v1/repositories").await;
    let repo = match repos.as_array().and_then(|r| r.first()) {
        Some(r) => r["id"].as_str().unwrap().to_string(),
        None => {
            let (status, body) =
                post(t, token, "/api/v1/repositories", json!({"name": "web"})).await;
            assert_eq!(status, 201, "{body}");
            body["id"].as_str().unwrap().to_string()
        }
    };
    let (status, body) = post(
        t,
        token,
        "/api/v1/issues",
        json!({"repositoryId": repo, "title": title, "body": "Make it **fast**.", "labels": labels}),
    )
    .await;
    assert_eq!(status, 201, "create issue: {body}");
    (
        body["id"].as_str().unwrap().to_string(),
        body["number"].as_u64().unwrap(),
    )
}

async fn start_run(t: &TestServer, token: &str, workflow: &str, issue: Option<&str>) -> String {
    let (status, body) = post(
        t,
        token,
        &format!("/api/v1/workflows/{workflow}/runs"),
        json!({"issueId": issue}),
    )
    .await;
    assert_eq!(status, 201, "start run: {body}");
    body["id"].as_str().unwrap().to_string()
}

async fn run(t: &TestServer, token: &str, id: &str) -> Value {
    get(t, token, &format!("/api/v1/workflow-runs/{id}")).await
}

async fn wait_run(t: &TestServer, token: &str, id: &str, wanted: &[&str]) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r = run(t, token, id).await;
        if wanted.contains(&r["status"].as_str().unwrap_or("")) {
            return r;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "run stayed {} (wanted {wanted:?}): {r}",
            r["status"]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn step_of<'a>(run: &'a Value, key: &str) -> &'a Value {
    run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == key)
        .unwrap_or_else(|| panic!("no step {key} in {run}"))
}

/// Waits until step `key`'s execution runs; returns the execution's id.
async fn wait_step_running(t: &TestServer, token: &str, run_id: &str, key: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = run(t, token, run_id).await;
        if let Some(e) = step_of(&r, key)["executionId"].as_str() {
            if execution(t, token, e).await["status"] == "running" {
                return e.to_string();
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "never running: {r}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The run's history must be numbered 1..N with no gap.
async fn history_is_gap_free(t: &TestServer, token: &str, id: &str) -> Vec<Value> {
    let events = get(t, token, &format!("/api/v1/workflow-runs/{id}/events")).await;
    let events = events.as_array().unwrap().clone();
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["seq"].as_u64(), Some(i as u64 + 1), "history: {events:?}");
    }
    events
}

#[tokio::test]
async fn parallel_steps_run_together_and_later_prompts_see_results() {
    let t = fast_server().await;
    let token = t.setup_admin().await;
    let slow = echo_agent(&t, &token, "slow", "1").await;
    let quick = echo_agent(&t, &token, "quick", "0").await;
    let (issue_id, number) = issue(&t, &token, "Speed up the build", json!(["perf"])).await;
    let wf = workflow(
        &t,
        &token,
        "plan and build",
        json!([
            {"name": "plan", "steps": [step("a", &slow, "A for #{issue.number}"), step("b", &slow, "B {issue.labels}")]},
            {"name": "build", "steps": [step("c", &quick, "after {steps.a.result.prompt} / {steps.b.status}")]},
        ]),
    )
    .await;
    let id = start_run(&t, &token, &wf, Some(&issue_id)).await;
    let done = wait_run(&t, &token, &id, &["completed", "failed"]).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["issue"]["number"], number);

    let (a, b, c) = (
        step_of(&done, "a"),
        step_of(&done, "b"),
        step_of(&done, "c"),
    );
    // Parallel: each of a and b started before the other ended.
    assert!(a["startedAt"].as_i64() < b["finishedAt"].as_i64());
    assert!(b["startedAt"].as_i64() < a["finishedAt"].as_i64());
    // Stage 2 began only after stage 1 ended.
    assert!(c["startedAt"].as_i64() >= a["finishedAt"].as_i64().max(b["finishedAt"].as_i64()));
    assert_eq!(a["result"]["prompt"], format!("A for #{number}"));
    assert_eq!(b["result"]["prompt"], "B perf");
    assert_eq!(
        c["result"]["prompt"],
        format!("after A for #{number} / completed")
    );

    // The executions are linked to the issue and the run.
    let exec = execution(&t, &token, c["executionId"].as_str().unwrap()).await;
    assert_eq!(exec["workflowRunId"], id);
    assert_eq!(exec["issue"]["number"], number);
    let on_issue = get(&t, &token, &format!("/api/v1/issues/{issue_id}")).await;
    assert_eq!(on_issue["executions"].as_array().unwrap().len(), 3);
    assert_eq!(on_issue["runs"][0]["id"], id);
    assert_eq!(on_issue["runs"][0]["stepsDone"], 3);

    let history = history_is_gap_free(&t, &token, &id).await;
    assert_eq!(history.first().unwrap()["body"]["kind"], "started");
    assert_eq!(history.last().unwrap()["body"]["kind"], "finished");
    t.shutdown().await;
}

#[tokio::test]
async fn a_failed_step_stops_or_continues_by_its_policy() {
    let t = fast_server().await;
    let token = t.setup_admin().await;
    let fails = failing_agent(&t, &token).await;
    let ok = echo_agent(&t, &token, "ok", "0").await;

    let stop = workflow(
        &t,
        &token,
        "stops",
        json!([
            {"name": "one", "steps": [step("broken", &fails, ""), step("fine", &ok, "x")]},
            {"name": "two", "steps": [step("later", &ok, "y")]},
        ]),
    )
    .await;
    let id = start_run(&t, &token, &stop, None).await;
    let done = wait_run(&t, &token, &id, &["completed", "failed"]).await;
    assert_eq!(done["status"], "failed");
    assert!(done["error"].as_str().unwrap().contains("broken"), "{done}");
    assert_eq!(step_of(&done, "broken")["status"], "failed");
    // The parallel step of the same stage still finished.
    assert_eq!(step_of(&done, "fine")["status"], "completed");
    assert_eq!(step_of(&done, "later")["status"], "skipped");
    assert!(step_of(&done, "later")["executionId"].is_null());

    let go_on = workflow(
        &t,
        &token,
        "continues",
        json!([
            {"name": "one", "steps": [{"key": "broken", "agentId": fails, "onFailure": "continue"}]},
            {"name": "two", "steps": [step("later", &ok, "{steps.broken.status}")]},
        ]),
    )
    .await;
    let id = start_run(&t, &token, &go_on, None).await;
    let done = wait_run(&t, &token, &id, &["completed", "failed"]).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(step_of(&done, "broken")["status"], "failed");
    assert_eq!(step_of(&done, "later")["result"]["prompt"], "failed");
    t.shutdown().await;
}

#[tokio::test]
async fn an_approval_gate_waits_for_a_person_and_a_rejection_ends_the_run() {
    let t = fast_server().await;
    let token = t.setup_admin().await;
    let ok = echo_agent(&t, &token, "ok", "0").await;
    let wf = workflow(
        &t,
        &token,
        "gated",
        json!([
            {"name": "plan", "steps": [step("plan", &ok, "p")]},
            {"name": "ship", "steps": [{"key": "ship", "agentId": ok, "prompt": "s", "approval": true}]},
        ]),
    )
    .await;

    let id = start_run(&t, &token, &wf, None).await;
    let waiting = wait_run(&t, &token, &id, &["waiting_approval"]).await;
    assert_eq!(step_of(&waiting, "plan")["status"], "completed");
    assert_eq!(step_of(&waiting, "ship")["status"], "waiting_approval");
    // It stays blocked: nothing starts without a person.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let still = run(&t, &token, &id).await;
    assert_eq!(still["status"], "waiting_approval");
    assert!(step_of(&still, "ship")["executionId"].is_null());
    // Approving a step that does not wait is refused.
    let (status, _) = post(
        &t,
        &token,
        &format!("/api/v1/workflow-runs/{id}/approve"),
        json!({"stage": 0, "index": 0}),
    )
    .await;
    assert_eq!(status, 409);
    let (status, body) = post(
        &t,
        &token,
        &format!("/api/v1/workflow-runs/{id}/approve"),
        json!({"stage": 1, "index": 0}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let done = wait_run(&t, &token, &id, &["completed", "failed"]).await;
    assert_eq!(done["status"], "completed");
    let ship = step_of(&done, "ship");
    assert_eq!(ship["decidedBy"], common::ADMIN);
    assert!(ship["decidedAt"].as_i64().unwrap() > 0);
    let history = history_is_gap_free(&t, &token, &id).await;
    assert!(
        history
            .iter()
            .any(|e| e["body"]["actor"] == common::ADMIN && e["body"]["key"] == "ship"),
        "the approval is in the history with its actor: {history:?}"
    );

    // A second run, rejected at the gate.
    let id = start_run(&t, &token, &wf, None).await;
    wait_run(&t, &token, &id, &["waiting_approval"]).await;
    let (status, _) = post(
        &t,
        &token,
        &format!("/api/v1/workflow-runs/{id}/reject"),
        json!({"stage": 1, "index": 0}),
    )
    .await;
    assert_eq!(status, 200);
    let done = run(&t, &token, &id).await;
    assert_eq!(done["status"], "rejected");
    assert_eq!(step_of(&done, "ship")["status"], "rejected");
    assert!(step_of(&done, "ship")["executionId"].is_null());

    // An approval needed and a run ended were both notified.
    let notes = get(&t, &token, "/api/v1/notifications").await;
    let titles: Vec<&str> = notes["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["title"].as_str())
        .collect();
    assert!(titles.contains(&"Approval needed"), "{titles:?}");
    assert!(titles.contains(&"Workflow completed"), "{titles:?}");
    assert!(titles.contains(&"Workflow failed"), "{titles:?}");
    assert!(notes["unread"].as_u64().unwrap() >= 3);
    let res = t
        .http
        .post(t.url("/api/v1/notifications/read-all"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let notes = get(&t, &token, "/api/v1/notifications").await;
    assert_eq!(notes["unread"], 0);
    t.shutdown().await;
}

#[tokio::test]
async fn rerun_from_a_step_reuses_the_results_before_it() {
    let t = fast_server().await;
    let token = t.setup_admin().await;
    let ok = echo_agent(&t, &token, "ok", "0").await;
    let fails = failing_agent(&t, &token).await;
    let wf = workflow(
        &t,
        &token,
        "plan then test",
        json!([
            {"name": "plan", "steps": [step("plan", &ok, "the plan")]},
            {"name": "test", "steps": [step("test", &fails, "")]},
        ]),
    )
    .await;
    let first = start_run(&t, &token, &wf, None).await;
    let failed = wait_run(&t, &token, &first, &["failed"]).await;
    let plan_exec = step_of(&failed, "plan")["executionId"].clone();

    // The ended run is re-run from its failed step.
    let (status, body) = post(
        &t,
        &token,
        &format!("/api/v1/workflow-runs/{first}/rerun"),
        json!({"stage": 1, "index": 0}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let second = body["id"].as_str().unwrap().to_string();
    assert_ne!(second, first);
    assert_eq!(body["rerunOf"], first);
    let done = wait_run(&t, &token, &second, &["failed", "completed"]).await;
    let plan = step_of(&done, "plan");
    assert_eq!(plan["reused"], true);
    assert_eq!(plan["executionId"], plan_exec, "the plan did not run again");
    assert_eq!(plan["result"]["prompt"], "the plan");
    let test = step_of(&done, "test");
    assert_eq!(test["reused"], false);
    assert_ne!(
        test["executionId"],
        step_of(&failed, "test")["executionId"],
        "the test step ran again"
    );
    let (status, _) = post(
        &t,
        &token,
        &format!("/api/v1/workflow-runs/{second}/rerun"),
        json!({"stage": 5, "index": 0}),
    )
    .await;
    assert_eq!(status, 422);
    t.shutdown().await;
}

#[tokio::test]
async fn cancelling_a_run_stops_its_running_steps() {
    let t = fast_server().await;
    let token = t.setup_admin().await;
    let sleepy = create_agent(&t, &token, "sleepy", &["sleep", "30"], json!({})).await;
    let ok = echo_agent(&t, &token, "ok", "0").await;
    let wf = workflow(
        &t,
        &token,
        "long",
        json!([
            {"name": "wait", "steps": [step("wait", &sleepy, "")]},
            {"name": "after", "steps": [step("after", &ok, "")]},
        ]),
    )
    .await;
    let id = start_run(&t, &token, &wf, None).await;
    let exec_id = wait_step_running(&t, &token, &id, "wait").await;
    let (status, body) = post(
        &t,
        &token,
        &format!("/api/v1/workflow-runs/{id}/cancel"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "cancelled");
    assert_eq!(step_of(&body, "wait")["status"], "cancelled");
    assert_eq!(step_of(&body, "after")["status"], "skipped");
    wait_status(
        &t,
        &token,
        &exec_id,
        &["cancelled"],
        Duration::from_secs(10),
    )
    .await;
    // Cancelling again is a conflict, not a second ending.
    let (status, _) = post(
        &t,
        &token,
        &format!("/api/v1/workflow-runs/{id}/cancel"),
        json!({}),
    )
    .await;
    assert_eq!(status, 409);
    t.shutdown().await;
}

#[tokio::test]
async fn a_restart_continues_a_gated_run_and_fails_one_whose_step_died() {
    let dir = tempfile::tempdir().unwrap();
    let t = common::start_in(dir, |c| c.exec.kill_grace = Duration::from_millis(500)).await;
    let token = t.setup_admin().await;
    let ok = echo_agent(&t, &token, "ok", "0").await;
    let sleepy = create_agent(&t, &token, "sleepy", &["sleep", "30"], json!({})).await;
    let gated = workflow(
        &t,
        &token,
        "gated",
        json!([{"name": "ship", "steps": [{"key": "ship", "agentId": ok, "approval": true}]}]),
    )
    .await;
    let long = workflow(
        &t,
        &token,
        "long",
        json!([
            {"name": "wait", "steps": [step("wait", &sleepy, "")]},
            {"name": "after", "steps": [step("after", &ok, "")]},
        ]),
    )
    .await;
    let waiting = start_run(&t, &token, &gated, None).await;
    wait_run(&t, &token, &waiting, &["waiting_approval"]).await;
    let dying = start_run(&t, &token, &long, None).await;
    wait_step_running(&t, &token, &dying, "wait").await;

    let dir = t.shutdown().await;
    let t = common::start_in(dir, |c| c.exec.kill_grace = Duration::from_millis(500)).await;
    let token = t
        .login(common::ADMIN, common::PASSWORD)
        .await
        .json::<Value>()
        .await
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();

    // The step's process died with the old server: the run ends, saying why.
    let failed = wait_run(&t, &token, &dying, &["failed"]).await;
    assert_eq!(step_of(&failed, "after")["status"], "skipped");
    assert!(
        failed["error"].as_str().unwrap().contains("wait"),
        "{failed}"
    );
    // The gate is still waiting and works after the restart.
    let still = run(&t, &token, &waiting).await;
    assert_eq!(still["status"], "waiting_approval");
    let (status, _) = post(
        &t,
        &token,
        &format!("/api/v1/workflow-runs/{waiting}/approve"),
        json!({"stage": 0, "index": 0}),
    )
    .await;
    assert_eq!(status, 200);
    let done = wait_run(&t, &token, &waiting, &["completed"]).await;
    assert_eq!(step_of(&done, "ship")["status"], "completed");
    history_is_gap_free(&t, &token, &waiting).await;
    t.shutdown().await;
}

#[tokio::test]
async fn a_label_starts_its_workflow_and_issues_are_filtered() {
    let t = fast_server().await;
    let token = t.setup_admin().await;
    let ok = echo_agent(&t, &token, "ok", "0").await;
    let (status, body) = post(
        &t,
        &token,
        "/api/v1/workflows",
        json!({"name": "triage", "triggerLabel": "Auto", "definition": {"stages": [
            {"name": "triage", "steps": [step("triage", &ok, "{issue.title}")]}
        ]}}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (plain, _) = issue(&t, &token, "Nothing to do", json!([])).await;
    let (labelled, _) = issue(&t, &token, "Do it now", json!(["auto", "bug"])).await;
    let runs = get(
        &t,
        &token,
        &format!("/api/v1/workflow-runs?issueId={labelled}"),
    )
    .await;
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
    let none = get(
        &t,
        &token,
        &format!("/api/v1/workflow-runs?issueId={plain}"),
    )
    .await;
    assert_eq!(none.as_array().unwrap().len(), 0);
    // Adding the label later starts it too.
    let res = t
        .http
        .patch(t.url(&format!("/api/v1/issues/{plain}")))
        .bearer_auth(&token)
        .json(&json!({"labels": ["AUTO"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let runs = get(
        &t,
        &token,
        &format!("/api/v1/workflow-runs?issueId={plain}"),
    )
    .await;
    assert_eq!(runs.as_array().unwrap().len(), 1);

    // Filters.
    let bugs = get(&t, &token, "/api/v1/issues?label=BUG").await;
    assert_eq!(bugs["total"], 1);
    assert_eq!(bugs["items"][0]["title"], "Do it now");
    let text = get(&t, &token, "/api/v1/issues?text=nothing").await;
    assert_eq!(text["total"], 1);
    let res = t
        .http
        .patch(t.url(&format!("/api/v1/issues/{plain}")))
        .bearer_auth(&token)
        .json(&json!({"state": "closed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        get(&t, &token, "/api/v1/issues?state=open").await["total"],
        1
    );
    assert_eq!(
        get(&t, &token, "/api/v1/issues?state=closed").await["total"],
        1
    );
    let detail = get(&t, &token, &format!("/api/v1/issues/{labelled}")).await;
    assert_eq!(
        detail["bodyHtml"],
        "<p>Make it <strong>fast</strong>.</p>\n"
    );

    // Bad input gets a clear answer.
    let (status, body) = post(
        &t,
        &token,
        "/api/v1/issues",
        json!({"repositoryId": uuid_nil(), "title": "x"}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = post(
        &t,
        &token,
        "/api/v1/issues",
        json!({"title": "no repository"}),
    )
    .await;
    assert_eq!(status, 422);
    let (status, _) = post(&t, &token, "/api/v1/repositories", json!({"name": "web"})).await;
    assert_eq!(status, 409);
    let (status, body) = post(
        &t,
        &token,
        "/api/v1/workflows",
        json!({"name": "dup", "definition": {"stages": [{"name": "s", "steps": [step("a", &ok, ""), step("a", &ok, "")]}]}}),
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        body["message"].as_str().unwrap().contains("twice"),
        "{body}"
    );
    let (status, _) = post(
        &t,
        &token,
        "/api/v1/workflows",
        json!({"name": "ghost", "definition": {"stages": [{"name": "s", "steps": [step("a", &uuid_nil(), "")]}]}}),
    )
    .await;
    assert_eq!(status, 422);
    t.shutdown().await;
}

fn uuid_nil() -> String {
    "00000000-0000-0000-0000-000000000000".into()
}

#[tokio::test]
async fn every_connection_sees_issues_workflow_events_and_its_notifications() {
    let t = fast_server().await;
    let token = t.setup_admin().await;
    let ok = echo_agent(&t, &token, "ok", "0").await;
    let wf = workflow(
        &t,
        &token,
        "review flow",
        json!([
            {"name": "one", "steps": [step("a", &ok, "1"), step("b", &ok, "2")]},
            {"name": "two", "steps": [{"key": "c", "agentId": ok, "approval": true}]},
        ]),
    )
    .await;
    let (mut ws, _) =
        tokio_tungstenite::connect_async(t.ws_url(&format!("?token={token}&batch=1")))
            .await
            .unwrap();
    assert_eq!(next_frames(&mut ws).await[0]["type"], "connected");

    let (issue_id, number) = issue(&t, &token, "Add dark mode", json!([])).await;
    let created = next_frames(&mut ws).await;
    assert_eq!(created[0]["type"], "issue.created");
    assert_eq!(created[0]["issueNumber"], number);
    assert_eq!(created[0]["title"], "Add dark mode");
    assert_eq!(created[0]["issueId"], issue_id);
    assert!(created[0]["repositoryId"].is_string());
    assert!(created[0]["timestamp"].is_string());

    let run_id = start_run(&t, &token, &wf, Some(&issue_id)).await;
    let mut last = 0u64;
    let mut seen: Vec<Value> = Vec::new();
    let mut approved = false;
    'read: loop {
        for m in next_frames(&mut ws).await {
            let Some(kind) = m["type"].as_str() else {
                continue;
            };
            if kind.starts_with("workflow.") {
                assert_eq!(m["workflowExecutionId"], run_id, "{m}");
                let seq = m["seq"].as_u64().unwrap();
                assert_eq!(seq, last + 1, "gap or repeat after {last}: {m}");
                last = seq;
                if kind == "workflow.approval_required" && !approved {
                    assert_eq!(m["stepKey"], "c");
                    let (status, _) = post(
                        &t,
                        &token,
                        &format!("/api/v1/workflow-runs/{run_id}/approve"),
                        json!({"stage": 1, "index": 0}),
                    )
                    .await;
                    assert_eq!(status, 200);
                    approved = true;
                }
            }
            let end = kind == "notification" && m["title"] == "Workflow completed";
            seen.push(m);
            if end {
                break 'read;
            }
        }
    }
    let started = seen
        .iter()
        .find(|m| m["type"] == "workflow.started")
        .unwrap();
    assert_eq!(started["workflowId"], wf);
    assert_eq!(started["workflowName"], "review flow");
    assert_eq!(started["issueNumber"], number);
    let steps: Vec<&Value> = seen
        .iter()
        .filter(|m| m["type"] == "workflow.step")
        .collect();
    assert!(steps
        .iter()
        .any(|m| m["stepKey"] == "c" && m["actor"] == common::ADMIN));
    assert_eq!(
        steps.iter().filter(|m| m["status"] == "completed").count(),
        3,
        "{steps:?}"
    );
    let completed = seen
        .iter()
        .find(|m| m["type"] == "workflow.completed")
        .expect("workflow.completed");
    assert_eq!(completed["workflowId"], wf);
    let agents = completed["agentExecutions"].as_array().unwrap();
    assert_eq!(agents.len(), 3);
    for a in agents {
        assert!(a["executionId"].is_string());
        assert_eq!(a["agentType"], "Custom");
        assert_eq!(a["status"], "completed");
    }
    let note = seen.last().unwrap();
    assert_eq!(note["severity"], "success");
    assert_eq!(note["actionUrl"], format!("/workflow-runs/{run_id}"));
    assert!(note["message"]
        .as_str()
        .unwrap()
        .contains(&format!("#{number}")));
    // The approval request reached this user as a notification too.
    assert!(seen
        .iter()
        .any(|m| m["type"] == "notification" && m["severity"] == "warning"));
    // Per-execution events need a subscription: none arrived here.
    assert!(!seen.iter().any(|m| m["type"] == "agent.log"));
    t.shutdown().await;
}

/// A workflow whose prompts use the issue never runs on none: the run is
/// refused with the reason, and nothing starts.
#[tokio::test]
async fn a_workflow_that_uses_the_issue_is_refused_without_one() {
    let t = fast_server().await;
    let token = t.setup_admin().await;
    let quick = echo_agent(&t, &token, "quick", "0").await;
    let wf = workflow(
        &t,
        &token,
        "needs an issue",
        json!([{"name": "only", "steps": [step("a", &quick, "fix {issue.title}")]}]),
    )
    .await;
    let (status, body) = post(
        &t,
        &token,
        &format!("/api/v1/workflows/{wf}/runs"),
        json!({}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("choose an issue"), "{body}");
    assert_eq!(get(&t, &token, "/api/v1/workflow-runs").await, json!([]));
    // On an issue it runs, with the title filled in.
    let (issue_id, _) = issue(&t, &token, "Broken login", json!([])).await;
    let id = start_run(&t, &token, &wf, Some(&issue_id)).await;
    let done = wait_run(&t, &token, &id, &["completed", "failed"]).await;
    assert_eq!(done["status"], "completed", "{done}");
}

//! Tokens, cost and budgets against the real server: usage read from what
//! real processes print (`::usage`, Claude Code's stream-json, Codex's
//! JSON), summed on Insights, and a run over its budget paused with a
//! notification, then resumed to the end.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::*;

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

fn tokens(e: &Value) -> (u64, u64, f64) {
    let u = &e["tokenUsage"];
    (
        u["inputTokens"].as_u64().unwrap_or(0),
        u["outputTokens"].as_u64().unwrap_or(0),
        u["costUsd"].as_f64().unwrap_or(0.0),
    )
}

/// Prints what Claude Code and Codex print, waiting for a line of input
/// between Claude's messages and its closing totals.
const CLAUDE_AND_CODEX: &str = r#"
msg1='{"type":"assistant","message":{"id":"msg_1","type":"message","content":[{"type":"text","text":"Looking"}],"usage":{"input_tokens":10,"cache_read_input_tokens":90,"output_tokens":5}},"session_id":"s"}'
msg1b='{"type":"assistant","message":{"id":"msg_1","type":"message","content":[{"type":"tool_use","name":"Bash"}],"usage":{"input_tokens":10,"cache_read_input_tokens":90,"output_tokens":5}},"session_id":"s"}'
msg2='{"type":"assistant","message":{"id":"msg_2","type":"message","content":[{"type":"text","text":"Done"}],"usage":{"input_tokens":20,"output_tokens":7}},"session_id":"s"}'
result='{"type":"result","subtype":"success","is_error":false,"result":"Done","session_id":"s","total_cost_usd":0.25,"usage":{"input_tokens":30,"cache_read_input_tokens":100,"output_tokens":15}}'
turn='{"type":"turn.completed","usage":{"input_tokens":1000,"cached_input_tokens":900,"output_tokens":50}}'
echo '{"type":"system","subtype":"init","session_id":"s"}'
echo "$msg1"; echo "$msg1b"; echo "$msg2"
read go
echo "$result"
echo "$turn"
echo '::usage {"costUsd": 0.5}'
echo 'a line that only mentions "usage"'
"#;

#[tokio::test]
async fn usage_is_read_from_what_agents_print_and_summed_on_insights() {
    let t = start().await;
    let admin = t.setup_admin().await;
    let agent = create_agent(
        &t,
        &admin,
        "Claude-like",
        &["sh", "-c", CLAUDE_AND_CODEX],
        json!({}),
    )
    .await;
    let id = start_execution(&t, &admin, &agent, "").await;
    // Claude Code's messages count once each, before the closing totals.
    let mut seen = (0, 0, 0.0);
    for _ in 0..400 {
        seen = tokens(&execution(&t, &admin, &id).await);
        if seen.0 > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(seen, (120, 12, 0.0), "messages counted once each");
    // The run waits for a line of input.
    assert_eq!(execution(&t, &admin, &id).await["status"], "running");
    let res = t
        .http
        .post(t.url(&format!("/api/v1/executions/{id}/stdin")))
        .bearer_auth(&admin)
        .json(&json!({"data": "go\n"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let done = wait_status(&t, &admin, &id, &["completed"], Duration::from_secs(30)).await;
    // The result's totals replace its messages; Codex's turn and the
    // marker add; other lines count nothing.
    let (input, output, cost) = tokens(&done);
    assert_eq!((input, output), (130 + 1000, 15 + 50), "{done}");
    assert!((cost - 0.75).abs() < 1e-9, "cost {cost}");

    // A run that reports nothing has no usage at all.
    let (quiet, _) = run_to_completion(&t, &admin, "Quiet", &["echo", "hi"], json!({})).await;
    assert!(execution(&t, &admin, &quiet).await["tokenUsage"].is_null());

    let insights = get(&t, &admin, "/api/v1/insights?days=7").await;
    let usage = &insights["usage"];
    assert_eq!(usage["total"]["inputTokens"], 1130);
    assert_eq!(usage["total"]["outputTokens"], 65);
    assert_eq!(usage["perDay"].as_array().unwrap().len(), 7);
    // The run's day is the last, or the one before when midnight (UTC) fell in between.
    let per_day: u64 = usage["perDay"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["usage"]["inputTokens"].as_u64())
        .sum();
    assert_eq!(per_day, 1130);
    let agents = usage["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 1, "only runs that reported usage: {agents:?}");
    assert_eq!(agents[0]["name"], "Claude-like");
    assert_eq!(agents[0]["runs"], 1);

    // The page draws them.
    let page = t
        .http
        .get(t.url("/insights?days=7"))
        .header("cookie", format!("yagura_session={admin}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("data-testid=\"tokens-per-day\""),
        "chart drawn"
    );
    assert!(page.contains("1,195 tokens · $0.75"), "total shown");
}

/// Claude Code's closing totals on one line of ~200 KB (its result text is
/// long): stored in pieces of 64 KiB, and still counted.
#[tokio::test]
async fn usage_on_a_line_longer_than_a_stored_line_counts() {
    let t = start().await;
    let admin = t.setup_admin().await;
    let script = r#"text=$(head -c 200000 /dev/zero | tr '\0' 'a'); printf '{"type":"result","subtype":"success","result":"%s","session_id":"long","total_cost_usd":0.5,"usage":{"input_tokens":700,"output_tokens":70}}\n' "$text"; echo after"#;
    let (id, lines) =
        run_to_completion(&t, &admin, "Verbose", &["sh", "-c", script], json!({})).await;
    let done = execution(&t, &admin, &id).await;
    assert!(
        lines.len() >= 4,
        "the line came in pieces: {} lines",
        lines.len()
    );
    let (input, output, cost) = tokens(&done);
    assert_eq!((input, output), (700, 70), "{done}");
    assert!((cost - 0.5).abs() < 1e-9, "cost {cost}");
}

/// Prints `tokens` tokens of usage, then works for a few seconds.
fn spender(tokens: u64) -> String {
    format!(
        "echo '::usage {{\"inputTokens\": {}, \"outputTokens\": {}}}'; \
         i=0; while [ $i -lt 40 ]; do sleep 0.05; i=$((i+1)); done; echo finished",
        tokens / 2,
        tokens - tokens / 2
    )
}

async fn notifications(t: &TestServer, token: &str) -> Vec<Value> {
    get(t, token, "/api/v1/notifications").await["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn a_run_over_its_budget_is_paused_with_a_notification_and_can_go_on() {
    let t = start().await;
    let admin = t.setup_admin().await;

    // A budget that cannot be met is refused, saying why.
    let res = t
        .http
        .post(t.url("/api/v1/agents"))
        .bearer_auth(&admin)
        .json(
            &json!({"name": "Bad budget", "agentType": "Custom", "command": ["true"],
            "budget": {"tokensPerRun": 0}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("at least 1 token"));

    let agent = create_agent(
        &t,
        &admin,
        "Spender",
        &["sh", "-c", &spender(1200)],
        json!({"budget": {"tokensPerRun": 1000}}),
    )
    .await;
    let stored = get(&t, &admin, &format!("/api/v1/agents/{agent}")).await;
    assert_eq!(stored["budget"], json!({"tokensPerRun": 1000}));

    let id = start_execution(&t, &admin, &agent, "").await;
    let paused = wait_status(&t, &admin, &id, &["paused"], Duration::from_secs(30)).await;
    assert_eq!(tokens(&paused).0 + tokens(&paused).1, 1200);
    let lines = log_lines(&stored_events(&t, &admin, &id).await);
    assert!(
        lines.iter().any(|l| l.contains(
            "over budget: this run used 1,200 tokens; agent Spender allows 1,000 per run. Paused"
        )),
        "{lines:?}"
    );
    let notes = notifications(&t, &admin).await;
    let note = notes
        .iter()
        .find(|n| n["title"] == "Agent run paused: over budget")
        .unwrap_or_else(|| panic!("no budget notification: {notes:?}"));
    assert_eq!(note["actionUrl"], format!("/executions/{id}"));
    assert_eq!(note["severity"], "warning");

    // It stays paused (the process is stopped) until a person resumes it;
    // the budget does not stop it again.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(execution(&t, &admin, &id).await["status"], "paused");
    let res = t
        .http
        .post(t.url(&format!("/api/v1/executions/{id}/resume")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    wait_status(&t, &admin, &id, &["completed"], Duration::from_secs(30)).await;
    let lines = log_lines(&stored_events(&t, &admin, &id).await);
    assert_eq!(lines.last().map(String::as_str), Some("finished"));

    // A day budget counts every run of the agent today: the first run
    // fits, the second takes the day over.
    let daily = create_agent(
        &t,
        &admin,
        "Daily",
        &["sh", "-c", &spender(600)],
        json!({"budget": {"tokensPerDay": 1000}}),
    )
    .await;
    let first = start_execution(&t, &admin, &daily, "").await;
    wait_status(&t, &admin, &first, &["completed"], Duration::from_secs(30)).await;
    let second = start_execution(&t, &admin, &daily, "").await;
    wait_status(&t, &admin, &second, &["paused"], Duration::from_secs(30)).await;
    let lines = log_lines(&stored_events(&t, &admin, &second).await);
    assert!(
        lines
            .iter()
            .any(|l| l
                .contains("agent Daily's runs used 1,200 tokens today; it allows 1,000 per day")),
        "{lines:?}"
    );
    // Cancelling a paused run ends it.
    let res = t
        .http
        .post(t.url(&format!("/api/v1/executions/{second}/cancel")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    wait_status(&t, &admin, &second, &["cancelled"], Duration::from_secs(30)).await;
}

#[tokio::test]
async fn a_workflow_budget_counts_all_the_steps_of_a_run() {
    let t = start().await;
    let admin = t.setup_admin().await;
    let agent = create_agent(
        &t,
        &admin,
        "Worker",
        &["sh", "-c", &spender(600)],
        json!({}),
    )
    .await;
    let step = |key: &str| json!({"key": key, "agentId": agent, "prompt": "work"});
    let res = t
        .http
        .post(t.url("/api/v1/workflows"))
        .bearer_auth(&admin)
        .json(
            &json!({"name": "Pipeline", "budget": {"tokensPerRun": 1000},
            "definition": {"stages": [
                {"name": "one", "steps": [step("first")]},
                {"name": "two", "steps": [step("second")]}]}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let workflow: Value = res.json().await.unwrap();
    assert_eq!(workflow["budget"], json!({"tokensPerRun": 1000}));
    let res = t
        .http
        .post(t.url(&format!(
            "/api/v1/workflows/{}/runs",
            workflow["id"].as_str().unwrap()
        )))
        .bearer_auth(&admin)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let run_id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The first step (600 tokens) fits; the second takes the run to 1,200.
    let second = {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let run = get(&t, &admin, &format!("/api/v1/workflow-runs/{run_id}")).await;
            let steps = run["steps"].as_array().cloned().unwrap_or_default();
            let id = steps
                .iter()
                .find(|s| s["key"] == "second")
                .and_then(|s| s["executionId"].as_str().map(str::to_string));
            if let Some(id) = id {
                break id;
            }
            assert!(tokio::time::Instant::now() < deadline, "{run}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    wait_status(&t, &admin, &second, &["paused"], Duration::from_secs(30)).await;
    let lines = log_lines(&stored_events(&t, &admin, &second).await);
    assert!(
        lines.iter().any(|l| l.contains(
            "this workflow run used 1,200 tokens; workflow Pipeline allows 1,000 per run"
        )),
        "{lines:?}"
    );
    let insights = get(&t, &admin, "/api/v1/insights?days=1").await;
    assert_eq!(insights["usage"]["workflows"][0]["name"], "Pipeline");
    assert_eq!(insights["usage"]["workflows"][0]["runs"], 2);
    assert_eq!(
        insights["usage"]["workflows"][0]["usage"]["inputTokens"],
        600
    );
    // The server's shutdown ends the paused step (SIGCONT, then SIGTERM).
    t.shutdown().await;
}

//! The issue board over REST: each issue lands in the column its state and
//! its newest run (a workflow run, or an agent run on the issue by itself)
//! put it in, with real processes behind the runs; filters narrow it; bad
//! input is refused.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::*;

async fn issue(t: &TestServer, token: &str, repo: &Value, title: &str, labels: &[&str]) -> String {
    let (status, body) = send(
        t,
        token,
        "POST",
        "/api/v1/issues",
        Some(json!({"repositoryId": repo["id"], "title": title, "labels": labels})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_string()
}

/// A card as the test reads it: the issue's title, its column, and its
/// latest run's kind and status.
type Card = (String, String, Option<(String, String)>);

fn columns(board: &Value) -> Vec<Card> {
    board["cards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let run = c.get("latestRun").filter(|r| !r.is_null()).map(|r| {
                (
                    r["kind"].as_str().unwrap().to_string(),
                    r["status"].as_str().unwrap().to_string(),
                )
            });
            (
                c["issue"]["title"].as_str().unwrap().to_string(),
                c["column"].as_str().unwrap().to_string(),
                run,
            )
        })
        .collect()
}

fn card<'a>(cols: &'a [Card], title: &str) -> &'a Card {
    cols.iter()
        .find(|c| c.0 == title)
        .unwrap_or_else(|| panic!("no card {title:?} in {cols:?}"))
}

#[tokio::test]
async fn issues_sit_in_the_column_their_latest_run_puts_them() {
    let t = start().await;
    let token = t.setup_admin().await;
    let (status, repo) = send(
        &t,
        &token,
        "POST",
        "/api/v1/repositories",
        Some(json!({"name": "widgets"})),
    )
    .await;
    assert_eq!(status, 201, "{repo}");
    let (_, other) = send(
        &t,
        &token,
        "POST",
        "/api/v1/repositories",
        Some(json!({"name": "gadgets"})),
    )
    .await;

    let fresh = issue(&t, &token, &repo, "Nothing ran", &["ready"]).await;
    let reviewed = issue(&t, &token, &repo, "A workflow finished", &[]).await;
    let running = issue(&t, &token, &repo, "An agent runs", &[]).await;
    let closed = issue(&t, &token, &repo, "Closed", &[]).await;
    issue(&t, &token, &other, "Elsewhere", &["ready"]).await;

    let quick = create_agent(&t, &token, "Quick", &["sh", "-c", "echo done"], json!({})).await;
    let slow = create_agent(
        &t,
        &token,
        "Slow",
        &["sh", "-c", "echo started; sleep 30"],
        json!({}),
    )
    .await;
    let (status, wf) = send(
        &t,
        &token,
        "POST",
        "/api/v1/workflows",
        Some(json!({"name": "Fix", "definition": {"stages": [{"name": "Fix", "steps": [{"key": "fix", "agentId": quick, "prompt": "fix"}]}]}})),
    )
    .await;
    assert_eq!(status, 201, "{wf}");
    let (status, run) = send(
        &t,
        &token,
        "POST",
        &format!("/api/v1/workflows/{}/runs", wf["id"].as_str().unwrap()),
        Some(json!({"issueId": reviewed})),
    )
    .await;
    assert_eq!(status, 201, "{run}");
    let run_id = run["id"].as_str().unwrap().to_string();
    eventually("the workflow run completes", 30, || async {
        let (_, r) = send(
            &t,
            &token,
            "GET",
            &format!("/api/v1/workflow-runs/{run_id}"),
            None,
        )
        .await;
        r["status"] == "completed"
    })
    .await;
    let (status, exec) = send(
        &t,
        &token,
        "POST",
        "/api/v1/executions",
        Some(json!({"agentId": slow, "prompt": "go", "issueId": running})),
    )
    .await;
    assert_eq!(status, 201, "{exec}");
    let exec_id = exec["id"].as_str().unwrap().to_string();
    wait_status(&t, &token, &exec_id, &["running"], Duration::from_secs(20)).await;
    let (status, _) = send(
        &t,
        &token,
        "PATCH",
        &format!("/api/v1/issues/{closed}"),
        Some(json!({"state": "closed"})),
    )
    .await;
    assert_eq!(status, 200);

    let (status, board) = send(&t, &token, "GET", "/api/v1/board", None).await;
    assert_eq!(status, 200, "{board}");
    let cols = columns(&board);
    assert_eq!(cols.len(), 5, "{cols:?}");
    assert_eq!(card(&cols, "Nothing ran").1, "todo");
    assert_eq!(card(&cols, "Elsewhere").1, "todo");
    let done = card(&cols, "A workflow finished");
    assert_eq!(
        (done.1.as_str(), done.2.clone()),
        ("waiting", Some(("workflow".into(), "completed".into())))
    );
    let live = card(&cols, "An agent runs");
    assert_eq!(
        (live.1.as_str(), live.2.clone()),
        ("in_progress", Some(("agent".into(), "running".into())))
    );
    assert_eq!(card(&cols, "Closed").1, "done");
    assert_eq!(board["openNotShown"], 0);
    // The workflow card carries its steps and its workflow.
    let wf_card = board["cards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["issue"]["id"] == reviewed.as_str())
        .unwrap();
    assert_eq!(wf_card["latestRun"]["stepsDone"], 1);
    assert_eq!(wf_card["latestRun"]["workflowId"], wf["id"]);

    // A newer agent run on the issue is its latest run; cancelled, the
    // issue is back to do.
    let (status, _) = send(
        &t,
        &token,
        "POST",
        &format!("/api/v1/executions/{exec_id}/cancel"),
        None,
    )
    .await;
    assert_eq!(status, 202);
    wait_status(
        &t,
        &token,
        &exec_id,
        &["cancelled"],
        Duration::from_secs(20),
    )
    .await;
    let (_, board) = send(&t, &token, "GET", "/api/v1/board", None).await;
    let cols = columns(&board);
    let back = card(&cols, "An agent runs");
    assert_eq!(
        (back.1.as_str(), back.2.clone()),
        ("todo", Some(("agent".into(), "cancelled".into())))
    );

    // Filters: one repository, one label (ignoring case).
    let (_, board) = send(
        &t,
        &token,
        "GET",
        &format!(
            "/api/v1/board?repositoryId={}",
            repo["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    let titles: Vec<String> = columns(&board).into_iter().map(|c| c.0).collect();
    assert_eq!(titles.len(), 4, "{titles:?}");
    assert!(!titles.contains(&"Elsewhere".to_string()));
    let (_, board) = send(&t, &token, "GET", "/api/v1/board?label=READY", None).await;
    let mut titles: Vec<String> = columns(&board).into_iter().map(|c| c.0).collect();
    titles.sort();
    assert_eq!(titles, ["Elsewhere", "Nothing ran"]);
    let _ = fresh;

    // The page's server function, as the browser calls it: with no
    // filter, and with one.
    for body in [
        String::new(),
        format!("repository_id={}", repo["id"].as_str().unwrap()),
    ] {
        let res = t
            .http
            .post(t.url("/api/issues/board"))
            .bearer_auth(&token)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{body:?}");
        let board: Value = res.json().await.unwrap();
        let want = if body.is_empty() { 5 } else { 4 };
        assert_eq!(board["cards"].as_array().unwrap().len(), want, "{body:?}");
    }
    // The page, server-rendered: every card in its column.
    let page = t
        .http
        .get(t.url("/board"))
        .header("cookie", format!("yagura_session={token}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        page.matches("data-testid=\"board-card\"").count(),
        5,
        "{page}"
    );
    assert!(page.contains("A workflow finished"));

    // Bad input and no credentials.
    let (status, body) = send(&t, &token, "GET", "/api/v1/board?repositoryId=nope", None).await;
    assert_eq!(status, 422, "{body}");
    let res = t.http.get(t.url("/api/v1/board")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 401);

    // A viewer may read it.
    let viewer = user_with_role(&t, "vera", app::model::Role::Viewer).await;
    let (status, _) = send(&t, &viewer, "GET", "/api/v1/board", None).await;
    assert_eq!(status, 200);
}

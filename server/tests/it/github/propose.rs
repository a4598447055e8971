//! "Open pull request" from the Changes page: an agent run on a GitHub
//! issue commits in its worktree; a person proposes its branch, which is
//! pushed to the repository's origin and opened as a pull request once;
//! a run without commits, a workflow's step and a viewer are refused; a
//! failed workflow run (no pull request at its end) can be proposed too.

use super::*;

async fn wait_status(t: &TestServer, token: &str, path: &str, wanted: &[&str]) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        let (_, body) = send(t, token, "GET", path, None).await;
        if wanted.iter().any(|w| body["status"] == *w) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} never became {wanted:?}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

const COMMIT: &str = "echo proposed > proposed.txt && git add proposed.txt && git -c user.name=Agent -c user.email=agent@example.com commit -qm 'propose me'";

#[tokio::test]
async fn a_person_opens_a_pull_request_from_an_ended_runs_branch() {
    let dir = tempfile::tempdir().unwrap();
    let gh = FakeGitHub::start(dir.path()).await;
    let t = server().await;
    let token = t.setup_admin().await;
    send(
        &t,
        &token,
        "PUT",
        "/api/v1/settings/github",
        Some(json!({"webhookSecret": SECRET})),
    )
    .await;
    let repo = connect(&t, &token, &gh).await;
    let opened = issue_event(&gh, "opened", 9, "Proposals welcome", &[]);
    let b = serde_json::to_vec(&opened).unwrap();
    assert_eq!(
        deliver(&t, "issues", "prop-9", &opened, Some(sign(&b))).await,
        200
    );
    let issue = issues_of(&t, &token, &repo).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let committer = create_agent(&t, &token, "committer", &["sh", "-c", COMMIT], json!({})).await;
    let idle = create_agent(&t, &token, "idle", &["sh", "-c", "echo nothing"], json!({})).await;
    let start = |agent: String| {
        let (t, token, issue) = (&t, &token, &issue);
        async move {
            let (status, body) = send(
                t,
                token,
                "POST",
                "/api/v1/executions",
                Some(json!({"agentId": agent, "prompt": "go", "issueId": issue})),
            )
            .await;
            assert_eq!(status, 201, "{body}");
            body["id"].as_str().unwrap().to_string()
        }
    };
    let done = start(committer.clone()).await;
    let empty = start(idle).await;
    for id in [&done, &empty] {
        let e = wait_status(
            &t,
            &token,
            &format!("/api/v1/executions/{id}"),
            &["completed", "failed"],
        )
        .await;
        assert_eq!(e["status"], "completed", "{e}");
    }

    // Nothing committed: nothing to propose.
    let (_, c) = send(
        &t,
        &token,
        "GET",
        &format!("/api/v1/executions/{empty}/changes"),
        None,
    )
    .await;
    assert_eq!(c["canOpenPr"], false, "{c}");
    let (status, body) = send(
        &t,
        &token,
        "POST",
        &format!("/api/v1/executions/{empty}/changes/pull-request"),
        None,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(body.to_string().contains("no branch to propose"), "{body}");
    assert!(gh.world().pulls.is_empty());

    // A commit: the page offers it; a viewer may not.
    let (_, c) = send(
        &t,
        &token,
        "GET",
        &format!("/api/v1/executions/{done}/changes"),
        None,
    )
    .await;
    assert_eq!(
        (c["canOpenPr"].as_bool(), c["prUrl"].as_str()),
        (Some(true), None),
        "{c}"
    );
    let branch = c["branch"].as_str().unwrap().to_string();
    let viewer = common::user_with_role(&t, "vic", app::model::Role::Viewer).await;
    let (status, _) = send(
        &t,
        &viewer,
        "POST",
        &format!("/api/v1/executions/{done}/changes/pull-request"),
        None,
    )
    .await;
    assert_eq!(status, 403);

    let (status, body) = send(
        &t,
        &token,
        "POST",
        &format!("/api/v1/executions/{done}/changes/pull-request"),
        None,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let url = body["prUrl"].as_str().unwrap().to_string();
    {
        let w = gh.world();
        assert_eq!(w.pulls.len(), 1);
        let pr = &w.pulls[0];
        assert_eq!(pr["html_url"], url.as_str());
        assert_eq!(pr["head"], branch.as_str());
        assert_eq!(pr["base"], "main");
        assert_eq!(pr["title"], "committer: Proposals welcome");
        let text = pr["body"].as_str().unwrap();
        assert!(text.contains("Closes #9"), "{text}");
        assert!(text.contains(&format!("/executions/{done}")), "{text}");
    }
    // The branch is on the origin, with the agent's commit.
    let log = git(
        &gh.origin,
        &["log", "--format=%s", &format!("refs/heads/{branch}"), "-1"],
    );
    assert_eq!(log.trim(), "propose me");
    // Opened once: the page links it, and a second try is refused.
    let (_, c) = send(
        &t,
        &token,
        "GET",
        &format!("/api/v1/executions/{done}/changes"),
        None,
    )
    .await;
    assert_eq!(c["prUrl"], url.as_str());
    assert_eq!(
        (c["canOpenPr"].as_bool(), c["canDiscard"].as_bool()),
        (Some(false), Some(false))
    );
    let (status, body) = send(
        &t,
        &token,
        "POST",
        &format!("/api/v1/executions/{done}/changes/pull-request"),
        None,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(body.to_string().contains("already"), "{body}");
    assert_eq!(gh.world().pulls.len(), 1);

    // A workflow run that failed after committing: pushed at its end, but
    // no pull request; a person proposes it, and the run keeps the link.
    let failing = create_agent(
        &t,
        &token,
        "half-done",
        &["sh", "-c", &format!("{COMMIT} && exit 3")],
        json!({}),
    )
    .await;
    let (status, wf) = send(
        &t,
        &token,
        "POST",
        "/api/v1/workflows",
        Some(json!({"name": "Attempt", "definition": {"stages": [{"name": "only", "steps": [{"key": "try", "agentId": failing, "prompt": "go"}]}]}})),
    )
    .await;
    assert_eq!(status, 201, "{wf}");
    let (status, run) = send(
        &t,
        &token,
        "POST",
        &format!("/api/v1/workflows/{}/runs", wf["id"].as_str().unwrap()),
        Some(json!({"issueId": issue})),
    )
    .await;
    assert_eq!(status, 201, "{run}");
    let run_id = run["id"].as_str().unwrap().to_string();
    let run = wait_status(
        &t,
        &token,
        &format!("/api/v1/workflow-runs/{run_id}"),
        &["failed", "completed"],
    )
    .await;
    assert_eq!(run["status"], "failed", "{run}");
    // Its step is not proposed on its own.
    let step = run["steps"][0]["executionId"].as_str().unwrap().to_string();
    let (status, body) = send(
        &t,
        &token,
        "POST",
        &format!("/api/v1/executions/{step}/changes/pull-request"),
        None,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(body.to_string().contains("workflow's step"), "{body}");
    let (_, c) = send(
        &t,
        &token,
        "GET",
        &format!("/api/v1/workflow-runs/{run_id}/changes"),
        None,
    )
    .await;
    assert_eq!(c["canOpenPr"], true, "{c}");
    let (status, body) = send(
        &t,
        &token,
        "POST",
        &format!("/api/v1/workflow-runs/{run_id}/changes/pull-request"),
        None,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (_, run) = send(
        &t,
        &token,
        "GET",
        &format!("/api/v1/workflow-runs/{run_id}"),
        None,
    )
    .await;
    assert_eq!(run["prUrl"], body["prUrl"]);
    let pulls = gh.world().pulls.clone();
    assert_eq!(pulls.len(), 2);
    assert_eq!(pulls[1]["title"], "Attempt: Proposals welcome");

    // Unknown runs are 404.
    let (status, _) = send(
        &t,
        &token,
        "POST",
        "/api/v1/executions/00000000-0000-0000-0000-000000000000/changes/pull-request",
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = send(
        &t,
        &token,
        "POST",
        "/api/v1/workflow-runs/nope/changes/pull-request",
        None,
    )
    .await;
    assert_eq!(status, 404);
}

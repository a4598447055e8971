//! Runs on GitHub issues: worktrees per execution, results back to GitHub.

use super::*;

#[tokio::test]
async fn a_label_runs_the_workflow_in_a_worktree_and_results_go_back_to_github() {
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
    // The agent commits a file in its worktree.
    let agent = create_agent(
        &t,
        &token,
        "coder",
        &[
            "sh",
            "-c",
            "echo \"$1\" > change.txt && git add change.txt && git -c user.name=Agent -c user.email=agent@example.com commit -qm 'agent change' && git branch --show-current && printf '::result {\"summary\":\"wrote change.txt\"}\\n'; c=\"$(git rev-parse --git-common-dir)\"; if echo '[core]' >> \"$c/config\" 2>/dev/null || echo x > \"$c/hooks/post-merge\" 2>/dev/null; then echo 'shared git WRITTEN'; else echo 'shared git read-only'; fi",
            "sh",
            "{prompt}",
        ],
        json!({}),
    )
    .await;
    let (status, wf) = send(
        &t,
        &token,
        "POST",
        "/api/v1/workflows",
        Some(json!({"name": "codegen", "triggerLabel": "yagura:codegen",
            "definition": {"stages": [{"name": "only", "steps": [{"key": "code", "agentId": agent, "prompt": "fix {issue.title}"}]}]}})),
    )
    .await;
    assert_eq!(status, 201, "{wf}");

    let labeled = issue_event(&gh, "labeled", 7, "Widgets wobble", &["yagura:codegen"]);
    let b = serde_json::to_vec(&labeled).unwrap();
    assert_eq!(
        deliver(&t, "issues", "lab-7", &labeled, Some(sign(&b))).await,
        200
    );

    let issue_id = issues_of(&t, &token, &repo).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    let run = loop {
        let (_, detail) = send(
            &t,
            &token,
            "GET",
            &format!("/api/v1/issues/{issue_id}"),
            None,
        )
        .await;
        if let Some(id) = detail["runs"][0]["id"].as_str() {
            let (_, r) = send(
                &t,
                &token,
                "GET",
                &format!("/api/v1/workflow-runs/{id}"),
                None,
            )
            .await;
            let reported = {
                let w = gh.world();
                w.comments.len() >= 2 && w.labels_added.iter().any(|(_, l)| l == &["yagura:done"])
            };
            if r["prUrl"].is_string() && reported {
                break r;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "not reported back: {r} {:?}",
                gh.world().comments
            );
        } else {
            assert!(tokio::time::Instant::now() < deadline, "no run: {detail}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(run["status"], "completed", "{run}");
    let run_id = run["id"].as_str().unwrap();
    let branch = format!("yagura/7-{}", &run_id[..8]);
    assert_eq!(run["branch"], branch);

    // The pull request: from the run's branch to the default branch.
    {
        let w = gh.world();
        assert_eq!(w.pulls.len(), 1, "{:?}", w.pulls);
        assert_eq!(w.pulls[0]["head"], branch);
        assert_eq!(w.pulls[0]["base"], "main");
        assert!(w.pulls[0]["body"].as_str().unwrap().contains("Closes #7"));
        assert_eq!(run["prUrl"], w.pulls[0]["html_url"]);
        // Comments at start and end, with the run's link and outcome.
        assert_eq!(w.comments.len(), 2, "{:?}", w.comments);
        assert!(w.comments[0].1.contains("started"));
        assert!(w.comments[0]
            .1
            .contains(&format!("/workflow-runs/{run_id}")));
        assert!(w.comments[1].1.contains("completed"));
        assert!(w.comments[1].1.contains("wrote change.txt"));
        assert!(w.comments[1]
            .1
            .contains(w.pulls[0]["html_url"].as_str().unwrap()));
        // Labels: in progress, then done.
        assert!(w
            .labels_added
            .iter()
            .any(|(n, l)| *n == 7 && l == &["yagura:in-progress"]));
        assert!(w
            .labels_added
            .iter()
            .any(|(n, l)| *n == 7 && l == &["yagura:done"]));
        assert_eq!(
            w.labels_removed,
            vec![(7, "yagura:in-progress".to_string())]
        );
        assert_eq!(w.unauthorized, 0);
    }
    // The branch was pushed with the agent's commit on it.
    let log = git(&gh.origin, &["log", "--format=%s", &branch]);
    assert!(log.starts_with("agent change"), "{log}");
    let file = git(&gh.origin, &["show", &format!("{branch}:change.txt")]);
    assert_eq!(file, "fix Widgets wobble");
    // The execution ran on its own branch; its worktree is gone.
    let step_exec = run["steps"][0]["executionId"].as_str().unwrap();
    let events = common::stored_events(&t, &token, step_exec).await;
    let lines = common::log_lines(&events);
    assert!(
        lines
            .iter()
            .any(|l| l == &format!("yagura/7-{}", &step_exec[..8])),
        "{lines:?}"
    );
    // M8: the sandboxed agent committed, but could not touch the shared
    // repository's config or hooks, which the server's git reads.
    assert!(
        lines.iter().any(|l| l == "shared git read-only"),
        "{lines:?}"
    );
    let clone = t.data_dir().join("repos").join(&repo);
    let worktrees = git(&clone, &["worktree", "list", "--porcelain"]);
    assert_eq!(
        worktrees
            .lines()
            .filter(|l| l.starts_with("worktree "))
            .count(),
        1,
        "{worktrees}"
    );
    // The PR shows on the issue too, and the report is not sent twice.
    let (_, detail) = send(
        &t,
        &token,
        "GET",
        &format!("/api/v1/issues/{issue_id}"),
        None,
    )
    .await;
    assert_eq!(detail["runs"][0]["prUrl"], run["prUrl"]);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(gh.world().comments.len(), 2);
    assert_eq!(gh.world().pulls.len(), 1);
}

#[tokio::test]
async fn concurrent_runs_each_work_in_their_own_worktree_and_cleanup_leaves_only_main() {
    let dir = tempfile::tempdir().unwrap();
    let checkout = dir.path().join("project");
    fake_github::make_repo(&checkout);
    let t = server().await;
    let token = t.setup_admin().await;
    let (status, repo) = send(
        &t,
        &token,
        "POST",
        "/api/v1/repositories",
        Some(json!({"name": "project", "localPath": checkout.display().to_string()})),
    )
    .await;
    assert_eq!(status, 201, "{repo}");
    let repo = repo["id"].as_str().unwrap().to_string();
    // Each run writes its own file, waits for the other to have written,
    // then lists what it sees and commits.
    let agent = create_agent(
        &t,
        &token,
        "writer",
        &[
            "sh",
            "-c",
            "echo mine > \"$1.txt\"; sleep 1.5; echo \"sees: $(ls | tr '\\n' ' ')\"; git add . && git -c user.name=A -c user.email=a@example.com commit -qm \"$1\"",
            "sh",
            "{prompt}",
        ],
        json!({}),
    )
    .await;
    let mut issues = Vec::new();
    for title in ["first", "second"] {
        let (status, body) = send(
            &t,
            &token,
            "POST",
            "/api/v1/issues",
            Some(json!({"repositoryId": repo, "title": title})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        issues.push(body["id"].as_str().unwrap().to_string());
    }
    let mut executions = Vec::new();
    for (issue, name) in issues.iter().zip(["alpha", "beta"]) {
        let (status, body) = send(
            &t,
            &token,
            "POST",
            "/api/v1/executions",
            Some(json!({"agentId": agent, "prompt": name, "issueId": issue})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        executions.push((body["id"].as_str().unwrap().to_string(), name));
    }
    for (id, name) in &executions {
        let done = common::wait_status(
            &t,
            &token,
            id,
            &["completed", "failed"],
            Duration::from_secs(30),
        )
        .await;
        let lines = common::log_lines(&common::stored_events(&t, &token, id).await);
        assert_eq!(done["status"], "completed", "{done} {lines:#?}");
        let sees = lines.iter().find(|l| l.starts_with("sees:")).unwrap();
        assert_eq!(
            sees.trim(),
            format!("sees: README.md {name}.txt"),
            "{lines:?}"
        );
    }
    // Only the main worktree is left; each branch holds only its own commit.
    let list = git(&checkout, &["worktree", "list", "--porcelain"]);
    assert_eq!(
        list.lines().filter(|l| l.starts_with("worktree ")).count(),
        1,
        "{list}"
    );
    for (id, name) in &executions {
        let number = if *name == "alpha" { 1 } else { 2 };
        let branch = format!("yagura/{number}-{}", &id[..8]);
        let files = git(&checkout, &["ls-tree", "--name-only", &branch]);
        assert_eq!(files, format!("README.md\n{name}.txt"), "{branch}");
    }
    // The main checkout itself is untouched.
    assert_eq!(git(&checkout, &["status", "--porcelain"]), "");
    let (_, repos) = send(&t, &token, "GET", "/api/v1/repositories", None).await;
    assert!(repos[0]["diskBytes"].as_u64().is_some(), "{repos}");
}

//! The agent's work before it becomes a pull request: a real agent commits
//! in its worktree of a real git checkout; the changes page lists the
//! commit and the files with +/− counts, shows highlighted diffs, pages
//! them, and "Discard" deletes the branch.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::*;
use crate::fake_github;

/// Changes README.md, adds src/main.rs and 24 small files, and commits.
const AGENT: &str = r#"
printf '# Widgets\n\nNow with a main.\n' > README.md
mkdir -p src notes
printf 'fn main() {\n    let greeting = "hello <world>";\n    println!("{greeting}");\n}\n' > src/main.rs
i=1; while [ $i -le 24 ]; do echo "note $i" > notes/n$i.txt; i=$((i+1)); done
git add -A
git -c user.name=Agent -c user.email=agent@example.com commit -qm "Add a main and notes"
echo committed
"#;

#[tokio::test]
async fn an_agents_commit_is_reviewed_paged_and_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let checkout = dir.path().join("widgets");
    fake_github::make_repo(&checkout);
    let t = start().await;
    let token = t.setup_admin().await;
    let (status, repo) = send(
        &t,
        &token,
        "POST",
        "/api/v1/repositories",
        Some(json!({"name": "widgets", "localPath": checkout.display().to_string()})),
    )
    .await;
    assert_eq!(status, 201, "{repo}");
    let (status, issue) = send(
        &t,
        &token,
        "POST",
        "/api/v1/issues",
        Some(json!({"repositoryId": repo["id"], "title": "Add a main"})),
    )
    .await;
    assert_eq!(status, 201, "{issue}");
    let agent = create_agent(&t, &token, "Committer", &["sh", "-c", AGENT], json!({})).await;
    let (status, run) = send(
        &t,
        &token,
        "POST",
        "/api/v1/executions",
        Some(json!({"agentId": agent, "prompt": "go", "issueId": issue["id"]})),
    )
    .await;
    assert_eq!(status, 201, "{run}");
    let id = run["id"].as_str().unwrap().to_string();
    let done = wait_status(
        &t,
        &token,
        &id,
        &["completed", "failed"],
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(done["status"], "completed", "{done}");
    let branch = done["branch"]
        .as_str()
        .expect("the run's branch")
        .to_string();
    assert!(branch.starts_with("yagura/1-"), "{branch}");

    let (status, c) = send(
        &t,
        &token,
        "GET",
        &format!("/api/v1/executions/{id}/changes"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["state"], "ready");
    assert_eq!(c["branch"], branch.as_str());
    assert_eq!(c["commits"].as_array().unwrap().len(), 1);
    assert_eq!(c["commits"][0]["subject"], "Add a main and notes");
    assert_eq!(c["commits"][0]["author"], "Agent");
    let files = c["files"].as_array().unwrap();
    assert_eq!(files.len(), 26, "README, main.rs and 24 notes");
    let readme = files.iter().find(|f| f["path"] == "README.md").unwrap();
    assert_eq!(
        (
            readme["status"].as_str(),
            readme["additions"].as_u64(),
            readme["deletions"].as_u64()
        ),
        (Some("modified"), Some(3), Some(1))
    );
    let main = files.iter().find(|f| f["path"] == "src/main.rs").unwrap();
    assert_eq!(
        (main["status"].as_str(), main["additions"].as_u64()),
        (Some("added"), Some(4))
    );
    assert_eq!(c["additions"], 3 + 4 + 24);
    assert_eq!(
        (c["page"].as_u64(), c["pages"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(c["diffs"].as_array().unwrap().len(), 20);
    assert_eq!(c["canDiscard"], true);
    // The Rust file is highlighted, its text escaped.
    let (_, p2) = send(
        &t,
        &token,
        "GET",
        &format!("/api/v1/executions/{id}/changes?page=2"),
        None,
    )
    .await;
    let all: Vec<&Value> = c["diffs"]
        .as_array()
        .unwrap()
        .iter()
        .chain(p2["diffs"].as_array().unwrap())
        .collect();
    assert_eq!(all.len(), 26);
    let main_diff = all.iter().find(|d| d["path"] == "src/main.rs").unwrap();
    let lines = main_diff["hunks"][0]["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 4);
    assert!(lines.iter().all(|l| l["kind"] == "added"));
    assert_eq!(lines[1]["new"], 2);
    let html = lines[1]["html"].as_str().unwrap();
    assert!(
        html.contains("hl-string") && html.contains("&lt;world&gt;"),
        "{html}"
    );
    assert!(!html.contains("<world>"), "{html}");
    let readme_diff = all.iter().find(|d| d["path"] == "README.md").unwrap();
    let kinds: Vec<&str> = readme_diff["hunks"][0]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["removed", "added", "added", "added"]);

    // The page, server-rendered: files, diffs and the pager.
    let page = t
        .http
        .get(t.url(&format!("/executions/{id}/changes")))
        .header("cookie", format!("yagura_session={token}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("data-testid=\"changed-files\""),
        "files listed"
    );
    assert_eq!(page.matches("data-testid=\"file-diff\"").count(), 20);
    assert!(page.contains("Page 1 of 2"));
    let page2 = t
        .http
        .get(t.url(&format!("/executions/{id}/changes?page=2")))
        .header("cookie", format!("yagura_session={token}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(page2.matches("data-testid=\"file-diff\"").count(), 6);
    assert!(page2.contains("hl-string"), "highlighted");
    assert!(
        page2.contains("&lt;world&gt;") && !page2.contains("<world>"),
        "escaped"
    );
    assert!(page.contains("data-testid=\"discard-changes\""));
    // The run's own page links to them.
    let run_page = t
        .http
        .get(t.url(&format!("/executions/{id}")))
        .header("cookie", format!("yagura_session={token}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(run_page.contains(&format!("href=\"/executions/{id}/changes\"")));

    // A viewer may look but not discard.
    let viewer = user_with_role(&t, "vera", app::model::Role::Viewer).await;
    let (status, _) = send(
        &t,
        &viewer,
        "GET",
        &format!("/api/v1/executions/{id}/changes"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = send(
        &t,
        &viewer,
        "POST",
        &format!("/api/v1/executions/{id}/changes/discard"),
        None,
    )
    .await;
    assert_eq!(status, 403);

    let (status, body) = send(
        &t,
        &token,
        "POST",
        &format!("/api/v1/executions/{id}/changes/discard"),
        None,
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let listed = std::process::Command::new("git")
        .args([
            "-C",
            &checkout.display().to_string(),
            "branch",
            "--list",
            &branch,
        ])
        .output()
        .unwrap();
    assert!(listed.stdout.is_empty(), "the branch is deleted");
    let (_, c) = send(
        &t,
        &token,
        "GET",
        &format!("/api/v1/executions/{id}/changes"),
        None,
    )
    .await;
    assert_eq!(c["state"], "gone");
    let (status, body) = send(
        &t,
        &token,
        "POST",
        &format!("/api/v1/executions/{id}/changes/discard"),
        None,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    // The main checkout never moved.
    let head = std::process::Command::new("git")
        .args(["-C", &checkout.display().to_string(), "log", "--format=%s"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&head.stdout).trim(), "first");

    // A run without a repository has nothing to review; an unknown id is 404.
    let (quiet, _) = run_to_completion(&t, &token, "Quiet", &["echo", "hi"], json!({})).await;
    let (_, c) = send(
        &t,
        &token,
        "GET",
        &format!("/api/v1/executions/{quiet}/changes"),
        None,
    )
    .await;
    assert_eq!(c["state"], "none");
    let (status, _) = send(
        &t,
        &token,
        "GET",
        "/api/v1/executions/00000000-0000-4000-8000-000000000000/changes",
        None,
    )
    .await;
    assert_eq!(status, 404);
}

//! GitHub against a fake GitHub on 127.0.0.1 (see `fake_github`): import
//! with pages, polling with ETags, signed webhooks applied once, label
//! triggers, results flowing back (comment, labels, pull request from the
//! pushed branch), and secrets that never come back out. Worktrees on a
//! real local git repository.

use crate::common::{self, create_agent, TestServer};
use crate::fake_github::{self, git, FakeGitHub, OWNER, REPO, TOKEN};

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

const SECRET: &str = "webhook-secret-for-tests";

async fn server() -> TestServer {
    common::start_with(|c| {
        c.github.poll_interval = Duration::ZERO;
        c.github.report_interval = Duration::from_millis(300);
    })
    .await
}

async fn send(
    t: &TestServer,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = match method {
        "GET" => t.http.get(t.url(path)),
        "PUT" => t.http.put(t.url(path)),
        "PATCH" => t.http.patch(t.url(path)),
        _ => t.http.post(t.url(path)),
    }
    .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn connect(t: &TestServer, token: &str, gh: &FakeGitHub) -> String {
    let (status, body) = send(
        t,
        token,
        "POST",
        "/api/v1/repositories",
        Some(json!({"name": "widgets", "github": {"owner": OWNER, "repo": REPO, "token": TOKEN, "apiBaseUrl": gh.base()}})),
    )
    .await;
    assert_eq!(status, 201, "connect: {body}");
    assert!(
        !body.to_string().contains(TOKEN),
        "the token came back: {body}"
    );
    assert_eq!(body["connected"], true);
    body["id"].as_str().unwrap().to_string()
}

async fn issues_of(t: &TestServer, token: &str, repo: &str) -> Vec<Value> {
    let (status, body) = send(
        t,
        token,
        "GET",
        &format!("/api/v1/issues?repositoryId={repo}&state=open&limit=200"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let mut all = body["items"].as_array().unwrap().clone();
    let total = body["total"].as_u64().unwrap();
    let mut offset = all.len();
    while (offset as u64) < total {
        let (_, more) = send(
            t,
            token,
            "GET",
            &format!("/api/v1/issues?repositoryId={repo}&state=open&limit=200&offset={offset}"),
            None,
        )
        .await;
        let items = more["items"].as_array().unwrap();
        if items.is_empty() {
            break;
        }
        offset += items.len();
        all.extend(items.iter().cloned());
    }
    all
}

async fn eventually<F, Fut>(what: &str, secs: u64, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn deliver(
    t: &TestServer,
    event: &str,
    delivery: &str,
    body: &Value,
    signature: Option<String>,
) -> u16 {
    let bytes = serde_json::to_vec(body).unwrap();
    let mut req = t
        .http
        .post(t.url("/api/github/webhook"))
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery);
    if let Some(sig) = signature {
        req = req.header("x-hub-signature-256", sig);
    }
    req.body(bytes).send().await.unwrap().status().as_u16()
}

fn issue_event(gh: &FakeGitHub, action: &str, number: u64, title: &str, labels: &[&str]) -> Value {
    json!({
        "action": action,
        "issue": fake_github::issue_json(&gh.base(), number, title, labels),
        "repository": {"full_name": format!("{OWNER}/{REPO}")},
        "sender": {"login": "octocat"},
    })
}

#[tokio::test]
async fn import_follows_pages_then_polls_with_etags_and_secrets_stay_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let gh = FakeGitHub::start(dir.path()).await;
    for n in 1..=230 {
        gh.add_issue(n, &format!("Issue {n}"), &["bug"]);
    }
    // A pull request is listed by the issues API too, and skipped.
    {
        let mut w = gh.world();
        let mut pr = fake_github::issue_json(&gh.base(), 231, "A PR", &[]);
        pr["pull_request"] = json!({"url": "x"});
        w.issues.insert(231, pr);
    }
    let t = server().await;
    let token = t.setup_admin().await;
    let repo = connect(&t, &token, &gh).await;

    eventually("230 issues imported", 30, || async {
        issues_of(&t, &token, &repo).await.len() == 230
    })
    .await;
    let issues = issues_of(&t, &token, &repo).await;
    let mut numbers: Vec<u64> = issues
        .iter()
        .map(|i| i["number"].as_u64().unwrap())
        .collect();
    numbers.sort();
    assert_eq!(
        numbers,
        (1..=230).collect::<Vec<_>>(),
        "GitHub's numbers are kept"
    );
    let one = issues.iter().find(|i| i["number"] == 7).unwrap();
    assert_eq!(
        one["htmlUrl"],
        format!("{}/{OWNER}/{REPO}/issues/7", gh.base())
    );
    assert!(gh.world().list_requests >= 3, "three pages of 100");
    assert_eq!(gh.world().unauthorized, 0);

    // Polling: the first poll after the import asks with `since`; the
    // second finds nothing new and gets a 304 for its ETag.
    let (status, first) = send(
        &t,
        &token,
        "POST",
        &format!("/api/v1/repositories/{repo}/sync"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{first}");
    let (_, second) = send(
        &t,
        &token,
        "POST",
        &format!("/api/v1/repositories/{repo}/sync"),
        None,
    )
    .await;
    let (_, third) = send(
        &t,
        &token,
        "POST",
        &format!("/api/v1/repositories/{repo}/sync"),
        None,
    )
    .await;
    assert!(
        second["notModified"] == true || third["notModified"] == true,
        "an unchanged list is answered 304: {second} {third}"
    );
    assert!(gh.world().not_modified >= 1);
    // A change on GitHub arrives with the next poll.
    gh.set_labels(5, &["bug", "urgent"]);
    gh.add_issue(232, "Fresh", &[]);
    let (_, changed) = send(
        &t,
        &token,
        "POST",
        &format!("/api/v1/repositories/{repo}/sync"),
        None,
    )
    .await;
    assert_eq!(changed["notModified"], false, "{changed}");
    let issues = issues_of(&t, &token, &repo).await;
    assert_eq!(issues.len(), 231);
    let five = issues.iter().find(|i| i["number"] == 5).unwrap();
    assert_eq!(five["labels"], json!(["bug", "urgent"]));

    // Test connection works; bad credentials say so (401), and no secret
    // comes back anywhere.
    let (status, check) = send(
        &t,
        &token,
        "POST",
        &format!("/api/v1/repositories/{repo}/test"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(check["ok"], true, "{check}");
    assert_eq!(check["defaultBranch"], "main");
    let (_, repos) = send(&t, &token, "GET", "/api/v1/repositories", None).await;
    assert!(!repos.to_string().contains(TOKEN));
    assert_eq!(repos[0]["githubAuth"], "token");
    let (status, bad) = send(
        &t,
        &token,
        "POST",
        &format!("/api/v1/repositories/{repo}/github"),
        Some(json!({"owner": OWNER, "repo": REPO, "token": "ghp_wrong", "apiBaseUrl": gh.base()})),
    )
    .await;
    assert_eq!(status, 200, "{bad}");
    let (_, check) = send(
        &t,
        &token,
        "POST",
        &format!("/api/v1/repositories/{repo}/test"),
        None,
    )
    .await;
    assert_eq!(check["ok"], false);
    assert!(
        check["message"].as_str().unwrap().contains("401"),
        "{check}"
    );
    // Bad input is refused with a reason.
    let (status, body) = send(
        &t,
        &token,
        "POST",
        "/api/v1/repositories",
        Some(json!({"name": "x", "github": {"owner": OWNER, "repo": REPO}})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = send(
        &t,
        &token,
        "POST",
        "/api/v1/repositories",
        Some(json!({"name": "y", "github": {"owner": "a b", "repo": REPO, "token": "t"}})),
    )
    .await;
    assert_eq!(status, 422);
    // One GitHub repository is mirrored once.
    let (status, body) = send(
        &t,
        &token,
        "POST",
        "/api/v1/repositories",
        Some(json!({"name": "twin", "github": {"owner": OWNER, "repo": REPO, "token": TOKEN, "apiBaseUrl": gh.base()}})),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    // A repository with issues made in Yagura cannot start mirroring one.
    let (_, local) = send(
        &t,
        &token,
        "POST",
        "/api/v1/repositories",
        Some(json!({"name": "local"})),
    )
    .await;
    let local = local["id"].as_str().unwrap().to_string();
    let (status, _) = send(
        &t,
        &token,
        "POST",
        "/api/v1/issues",
        Some(json!({"repositoryId": local, "title": "mine"})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, body) = send(
        &t,
        &token,
        "POST",
        &format!("/api/v1/repositories/{local}/github"),
        Some(json!({"owner": OWNER, "repo": "other", "token": TOKEN, "apiBaseUrl": gh.base()})),
    )
    .await;
    assert_eq!(status, 409, "{body}");

    // The token is sealed at rest: not in the database file.
    let data = t.data_dir();
    t.server.shutdown().await.unwrap();
    for name in ["yagura.db", "yagura.db-wal"] {
        if let Ok(bytes) = std::fs::read(data.join(name)) {
            assert!(
                !bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
                "{name} holds the token in the clear"
            );
        }
    }
}

#[tokio::test]
async fn webhooks_are_verified_first_and_each_delivery_is_applied_once() {
    let dir = tempfile::tempdir().unwrap();
    let gh = FakeGitHub::start(dir.path()).await;
    let t = server().await;
    let token = t.setup_admin().await;

    // No secret yet: refused, nothing stored.
    let opened = issue_event(&gh, "opened", 41, "From a webhook", &["yagura:codegen"]);
    let bytes = serde_json::to_vec(&opened).unwrap();
    assert_eq!(
        deliver(&t, "issues", "d-0", &opened, Some(sign(&bytes))).await,
        503
    );

    let (status, settings) = send(
        &t,
        &token,
        "PUT",
        "/api/v1/settings/github",
        Some(json!({"webhookSecret": SECRET})),
    )
    .await;
    assert_eq!(status, 200, "{settings}");
    assert_eq!(settings["webhookSecretSet"], true);
    assert!(
        !settings.to_string().contains(SECRET),
        "the secret came back"
    );
    let repo = connect(&t, &token, &gh).await;
    let agent = create_agent(&t, &token, "quick", &["sh", "-c", "echo ok"], json!({})).await;
    let (status, wf) = send(
        &t,
        &token,
        "POST",
        "/api/v1/workflows",
        Some(json!({"name": "codegen", "triggerLabel": "yagura:codegen",
            "definition": {"stages": [{"name": "only", "steps": [{"key": "go", "agentId": agent, "prompt": "x"}]}]}})),
    )
    .await;
    assert_eq!(status, 201, "{wf}");

    // Forged, missing and sha1-only signatures: 401 and nothing stored.
    let forged = {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"not the secret").unwrap();
        mac.update(&bytes);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    };
    assert_eq!(
        deliver(&t, "issues", "d-1", &opened, Some(forged)).await,
        401
    );
    assert_eq!(deliver(&t, "issues", "d-2", &opened, None).await, 401);
    assert_eq!(
        deliver(
            &t,
            "issues",
            "d-3",
            &opened,
            Some("sha1=0123456789abcdef0123456789abcdef01234567".into())
        )
        .await,
        401
    );
    // A signature for another body does not cover this one.
    let other = serde_json::to_vec(&json!({"x": 1})).unwrap();
    assert_eq!(
        deliver(&t, "issues", "d-4", &opened, Some(sign(&other))).await,
        401
    );
    assert!(
        issues_of(&t, &token, &repo).await.is_empty(),
        "nothing stored"
    );

    // The same delivery ten times, concurrently: one issue, one run.
    let sig = sign(&bytes);
    let sends = (0..10).map(|_| deliver(&t, "issues", "delivery-41", &opened, Some(sig.clone())));
    let statuses = futures::future::join_all(sends).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    // And once more later.
    assert_eq!(
        deliver(&t, "issues", "delivery-41", &opened, Some(sig.clone())).await,
        200
    );
    let issues = issues_of(&t, &token, &repo).await;
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0]["number"], 41);
    assert_eq!(gh.world().unauthorized, 0);
    let issue_id = issues[0]["id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, detail) = send(
        &t,
        &token,
        "GET",
        &format!("/api/v1/issues/{issue_id}"),
        None,
    )
    .await;
    assert_eq!(
        detail["runs"].as_array().unwrap().len(),
        1,
        "the label started one run: {detail}"
    );

    // A stranger's new issue carrying the label (an issue template can add
    // one for anybody) starts nothing: only triage and above set labels.
    let mut strangers = issue_event(&gh, "opened", 43, "Run my code", &["yagura:codegen"]);
    strangers["issue"]["user"] = json!({"login": "stranger"});
    strangers["sender"] = json!({"login": "stranger"});
    let sb = serde_json::to_vec(&strangers).unwrap();
    assert_eq!(
        deliver(&t, "issues", "delivery-43", &strangers, Some(sign(&sb))).await,
        200
    );
    let stranger_issue = issues_of(&t, &token, &repo)
        .await
        .into_iter()
        .find(|i| i["number"] == 43)
        .expect("the issue is mirrored");
    let (_, detail) = send(
        &t,
        &token,
        "GET",
        &format!("/api/v1/issues/{}", stranger_issue["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(detail["runs"].as_array().unwrap().len(), 0, "{detail}");
    // An older payload arriving late does not undo a newer one.
    let mut old = issue_event(&gh, "labeled", 43, "Old title", &[]);
    old["issue"]["updated_at"] = json!("2001-01-01T00:00:00Z");
    let ob = serde_json::to_vec(&old).unwrap();
    assert_eq!(
        deliver(&t, "issues", "delivery-old", &old, Some(sign(&ob))).await,
        200
    );
    let (_, detail) = send(
        &t,
        &token,
        "GET",
        &format!("/api/v1/issues/{}", stranger_issue["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(detail["title"], "Run my code");

    // A later edit and a label removal arrive as updates.
    let edited = issue_event(&gh, "edited", 41, "Renamed on GitHub", &[]);
    let b = serde_json::to_vec(&edited).unwrap();
    assert_eq!(
        deliver(&t, "issues", "delivery-42", &edited, Some(sign(&b))).await,
        200
    );
    let (_, detail) = send(
        &t,
        &token,
        "GET",
        &format!("/api/v1/issues/{issue_id}"),
        None,
    )
    .await;
    assert_eq!(detail["title"], "Renamed on GitHub", "{detail}");
    assert_eq!(detail["labels"], json!([]));

    // A delivery whose application was cut off (the server died while it
    // was "processing") is applied when GitHub redelivers it later; one
    // still being processed is not applied twice.
    let db = &t.server.state.db;
    let now = chrono::Utc::now().timestamp_millis();
    assert!(
        yagura::db::deliveries::claim_delivery(db, "cut-off", "issues", now - 10 * 60 * 1000)
            .await
            .unwrap()
    );
    assert!(
        yagura::db::deliveries::claim_delivery(db, "in-flight", "issues", now)
            .await
            .unwrap()
    );
    let cut = issue_event(&gh, "opened", 44, "Cut off", &[]);
    let cb = serde_json::to_vec(&cut).unwrap();
    assert_eq!(
        deliver(&t, "issues", "cut-off", &cut, Some(sign(&cb))).await,
        200
    );
    let inflight = issue_event(&gh, "opened", 45, "In flight", &[]);
    let ib = serde_json::to_vec(&inflight).unwrap();
    assert_eq!(
        deliver(&t, "issues", "in-flight", &inflight, Some(sign(&ib))).await,
        200
    );
    let numbers: Vec<u64> = issues_of(&t, &token, &repo)
        .await
        .iter()
        .map(|i| i["number"].as_u64().unwrap())
        .collect();
    assert!(numbers.contains(&44), "{numbers:?}");
    assert!(!numbers.contains(&45), "{numbers:?}");

    // A ping is answered; a broken body after a good signature is 400.
    let ping = json!({"zen": "Keep it logically awesome."});
    let pb = serde_json::to_vec(&ping).unwrap();
    assert_eq!(
        deliver(&t, "ping", "p-1", &ping, Some(sign(&pb))).await,
        200
    );
    let res = t
        .http
        .post(t.url("/api/github/webhook"))
        .header("x-github-event", "issues")
        .header("x-github-delivery", "bad-json")
        .header("x-hub-signature-256", sign(b"{not json"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

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
            "echo \"$1\" > change.txt && git add change.txt && git -c user.name=Agent -c user.email=agent@example.com commit -qm 'agent change' && git branch --show-current && printf '::result {\"summary\":\"wrote change.txt\"}\\n'",
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
            .contains(&format!("/workflows/runs/{run_id}")));
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
        assert_eq!(done["status"], "completed", "{done}");
        let lines = common::log_lines(&common::stored_events(&t, &token, id).await);
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

#[tokio::test]
async fn credentials_never_reach_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let gh = FakeGitHub::start(dir.path()).await;
    let data = dir.path().join("data");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_yagura"))
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--github-poll-secs",
            "1",
            "--data-dir",
        ])
        .arg(&data)
        .env("RUST_LOG", "trace")
        .env("YAGURA_GITHUB_WEBHOOK_SECRET", SECRET)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    for stream in [
        Box::new(stderr) as Box<dyn std::io::Read + Send>,
        Box::new(stdout),
    ] {
        let log = log.clone();
        let tx = tx.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stream)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(url) = line.split("listening on ").nth(1) {
                    let _ = tx.send(
                        url.split_whitespace()
                            .next()
                            .unwrap_or_default()
                            .to_string(),
                    );
                }
                log.lock().unwrap().push_str(&line);
                log.lock().unwrap().push('\n');
            }
        });
    }
    let base = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("server starts");
    let http = reqwest::Client::new();
    let setup: Value = http
        .post(format!("{base}/api/v1/setup"))
        .json(&json!({"username": common::ADMIN, "password": common::PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = setup["token"].as_str().unwrap().to_string();
    gh.add_issue(1, "one", &[]);
    let res = http
        .post(format!("{base}/api/v1/repositories"))
        .bearer_auth(&token)
        .json(&json!({"name": "widgets", "github": {"owner": OWNER, "repo": REPO, "token": TOKEN, "apiBaseUrl": gh.base()}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    // The import and a couple of polls, then a webhook.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while gh.world().list_requests < 3 {
        assert!(tokio::time::Instant::now() < deadline, "no polls");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let body = serde_json::to_vec(&json!({"action": "opened", "issue": fake_github::issue_json(&gh.base(), 2, "two", &[]), "repository": {"full_name": format!("{OWNER}/{REPO}")}})).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&body);
    let status = http
        .post(format!("{base}/api/github/webhook"))
        .header("x-github-event", "issues")
        .header("x-github-delivery", "log-1")
        .header(
            "x-hub-signature-256",
            format!("sha256={}", hex::encode(mac.finalize().into_bytes())),
        )
        .body(body)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = log.lock().unwrap().clone();
    assert!(
        log.contains("repos/acme/widgets/issues"),
        "trace logs GitHub calls: {}",
        &log[..log.len().min(2000)]
    );
    assert!(!log.contains(TOKEN), "the token is in the log");
    assert!(
        !log.contains(&TOKEN[4..20]),
        "part of the token is in the log"
    );
    assert!(!log.contains(SECRET), "the webhook secret is in the log");
    assert!(gh.world().list_requests >= 2);
}

#[tokio::test]
async fn sign_in_with_github_needs_a_linked_account() {
    let dir = tempfile::tempdir().unwrap();
    let gh = FakeGitHub::start(dir.path()).await;
    let t = server().await;
    let token = t.setup_admin().await;
    // Not configured: back to the login page with a reason.
    let res = t.http.get(t.url("/auth/github")).send().await.unwrap();
    assert_eq!(
        res.headers()["location"],
        "/login?error=github_not_configured"
    );
    let (status, s) = send(
        &t,
        &token,
        "PUT",
        "/api/v1/settings/github",
        Some(json!({"oauthClientId": "client-1", "oauthClientSecret": "client-secret", "oauthWebUrl": gh.base()})),
    )
    .await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(s["oauthSecretSet"], true);
    assert!(!s.to_string().contains("client-secret"));

    // Starts at GitHub with a state that a cookie carries.
    async fn start(t: &TestServer) -> (String, String, String) {
        let res = t.http.get(t.url("/auth/github")).send().await.unwrap();
        let location = res.headers()["location"].to_str().unwrap().to_string();
        let cookie = res.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let state = location
            .split("state=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap()
            .to_string();
        (location, cookie, state)
    }
    async fn callback(
        t: &TestServer,
        cookie: Option<&str>,
        state: &str,
        code: &str,
        bearer: Option<&str>,
    ) -> (String, bool) {
        let mut req = t
            .http
            .get(t.url(&format!("/auth/github/callback?code={code}&state={state}")));
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        let res = req.send().await.unwrap();
        let to = res.headers()["location"].to_str().unwrap().to_string();
        let session = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("yagura_session="));
        (to, session)
    }
    let (location, cookie, state) = start(&t).await;
    assert!(
        location.starts_with(&format!(
            "{}/login/oauth/authorize?client_id=client-1",
            gh.base()
        )),
        "{location}"
    );
    let code = fake_github::OAUTH_CODE;
    // A state that is not this browser's, or none: refused.
    assert_eq!(
        callback(&t, Some(&cookie), "forged", code, None).await.0,
        "/login?error=github_state"
    );
    assert_eq!(
        callback(&t, None, &state, code, None).await.0,
        "/login?error=github_state"
    );
    // A good code for a login nobody linked: refused, no session.
    let (to, session) = callback(&t, Some(&cookie), &state, code, None).await;
    assert_eq!(
        (to.as_str(), session),
        ("/login?error=github_unlinked", false)
    );
    // A bad code: refused.
    let (_, cookie2, state2) = start(&t).await;
    assert_eq!(
        callback(&t, Some(&cookie2), &state2, "wrong", None).await.0,
        "/login?error=github_failed"
    );
    // Signed in, the same flow links the login to the account...
    let (_, cookie3, state3) = start(&t).await;
    let (to, _) = callback(&t, Some(&cookie3), &state3, code, Some(&token)).await;
    assert_eq!(to, "/settings?linked=1");
    // ...after which signing in with GitHub works.
    let (_, cookie4, state4) = start(&t).await;
    let (to, session) = callback(&t, Some(&cookie4), &state4, code, None).await;
    assert_eq!((to.as_str(), session), ("/", true));
}

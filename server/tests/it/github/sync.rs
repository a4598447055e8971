//! Issues flow in: the import follows every page, polls use ETags, and
//! credentials stay sealed.

use super::*;

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

//! Webhook deliveries: signature first, each delivery applied once.

use super::*;

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

    // L3: `/yagura run` starts one run per comment, even when the same
    // payload is sent again under a new delivery id (a replay).
    let runs_of_41 = || async {
        let (_, detail) = send(
            &t,
            &token,
            "GET",
            &format!("/api/v1/issues/{issue_id}"),
            None,
        )
        .await;
        detail["runs"].as_array().map_or(0, |r| r.len())
    };
    let before = runs_of_41().await;
    let mut comment = issue_event(&gh, "created", 41, "Renamed on GitHub", &[]);
    comment["comment"] = json!({"id": 9001, "body": "/yagura run codegen"});
    let cb = serde_json::to_vec(&comment).unwrap();
    for delivery in ["comment-1", "comment-1-replayed"] {
        assert_eq!(
            deliver(&t, "issue_comment", delivery, &comment, Some(sign(&cb))).await,
            200
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(runs_of_41().await, before + 1);
}

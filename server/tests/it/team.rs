//! The team workspace: invitations (used once, expire, revocable, stored
//! hashed), changing your password (ends your other sessions and their
//! sockets), and the audit log (every change, who and from where, never a
//! secret; failed sign-ins too).

use std::time::Duration;

use app::model::Role;
use serde_json::{json, Value};

use crate::common::*;

async fn invite(t: &TestServer, token: &str, body: Value) -> reqwest::Response {
    t.http
        .post(t.url("/api/v1/invitations"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn accept(t: &TestServer, secret: &str, username: &str) -> reqwest::Response {
    t.http
        .post(t.url("/api/v1/invitations/accept"))
        .json(&json!({"token": secret, "username": username, "password": "a-long-password"}))
        .send()
        .await
        .unwrap()
}

async fn me(t: &TestServer, token: &str) -> u16 {
    t.http
        .get(t.url("/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn audit(t: &TestServer, token: &str, query: &str) -> Vec<Value> {
    let res = t
        .http
        .get(t.url(&format!("/api/v1/audit{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.unwrap();
    page["entries"].as_array().unwrap().clone()
}

#[tokio::test]
async fn an_invitation_is_accepted_once_and_never_again() {
    let t = start().await;
    let admin = t.setup_admin().await;
    let member = user_with_role(&t, "mira", Role::Member).await;
    // Only admins invite.
    assert_eq!(
        invite(&t, &member, json!({"role": "member"}))
            .await
            .status(),
        403
    );
    let res = invite(
        &t,
        &admin,
        json!({"role": "viewer", "email": "vi@example.com"}),
    )
    .await;
    assert_eq!(res.status(), 201);
    let made: Value = res.json().await.unwrap();
    let secret = made["token"].as_str().unwrap().to_string();
    assert!(made["url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/invite/{secret}")));
    assert_eq!(made["status"], "pending");
    // Stored as a hash only.
    let stored: Vec<String> = yagura::on_db!(&t.server.state.db, pool => sqlx::query_scalar("SELECT token_hash FROM invitations")
        .fetch_all(pool)
        .await)
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].contains(&secret[4..]));

    let res = accept(&t, &secret, "vic").await;
    assert_eq!(
        res.status(),
        201,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let joined: Value = res.json().await.unwrap();
    assert_eq!(joined["user"]["role"], "viewer");
    let token = joined["token"].as_str().unwrap();
    assert_eq!(me(&t, token).await, 200);
    // Never again, under any name.
    let again = accept(&t, &secret, "vic2").await;
    assert_eq!(again.status(), 409);
    let body: Value = again.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("already been used"),
        "{body}"
    );
    // The list says who joined.
    let list: Vec<Value> = t
        .http
        .get(t.url("/api/v1/invitations"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["status"], "accepted");
    assert_eq!(list[0]["acceptedBy"], "vic");
    // A made-up link is not found; a malformed body is refused clearly.
    assert_eq!(accept(&t, "yai_00", "x1x").await.status(), 404);
    let bad = t
        .http
        .post(t.url("/api/v1/invitations/accept"))
        .json(&json!({"token": secret}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
}

#[tokio::test]
async fn a_raced_invitation_makes_one_account() {
    let t = start().await;
    let admin = t.setup_admin().await;
    let made: Value = invite(&t, &admin, json!({"role": "member"}))
        .await
        .json()
        .await
        .unwrap();
    let secret = made["token"].as_str().unwrap();
    let (a, b) = tokio::join!(accept(&t, secret, "racer1"), accept(&t, secret, "racer2"));
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [201, 409]);
    let n: i64 = yagura::on_db!(&t.server.state.db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE username LIKE 'racer%'")
        .fetch_one(pool)
        .await)
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn expired_revoked_and_taken_names_are_refused() {
    let t = start().await;
    let admin = t.setup_admin().await;
    // Out of range.
    assert_eq!(
        invite(&t, &admin, json!({"role": "member", "expiresInHours": 0}))
            .await
            .status(),
        422
    );
    assert_eq!(
        invite(
            &t,
            &admin,
            json!({"role": "member", "email": "not an email"})
        )
        .await
        .status(),
        422
    );
    let made: Value = invite(&t, &admin, json!({"role": "member", "expiresInHours": 1}))
        .await
        .json()
        .await
        .unwrap();
    let secret = made["token"].as_str().unwrap().to_string();
    // A taken username leaves the link usable.
    let taken = accept(&t, &secret, ADMIN).await;
    assert_eq!(taken.status(), 409);
    // Expired: moved into the past in the store.
    yagura::on_db!(&t.server.state.db, pool => sqlx::query("UPDATE invitations SET expires_at = 1")
        .execute(pool)
        .await.map(|_| ()))
    .unwrap();
    let expired = accept(&t, &secret, "late").await;
    assert_eq!(expired.status(), 409);
    let body: Value = expired.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("expired"),
        "{body}"
    );

    let made: Value = invite(&t, &admin, json!({"role": "admin"}))
        .await
        .json()
        .await
        .unwrap();
    let id = made["id"].as_str().unwrap();
    let revoked = t
        .http
        .delete(t.url(&format!("/api/v1/invitations/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(revoked.json::<Value>().await.unwrap()["status"], "revoked");
    assert_eq!(
        accept(&t, made["token"].as_str().unwrap(), "sneaky")
            .await
            .status(),
        409
    );
    let n: i64 =
        yagura::on_db!(&t.server.state.db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(pool)
        .await)
        .unwrap();
    assert_eq!(n, 1, "nobody joined");

    // An admin's unused links die with their admin rights.
    let second = user_with_role(&t, "second", Role::Admin).await;
    let made: Value = invite(&t, &second, json!({"role": "admin"}))
        .await
        .json()
        .await
        .unwrap();
    let people: Vec<Value> = t
        .http
        .get(t.url("/api/v1/users"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = people.iter().find(|p| p["username"] == "second").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let demoted = t
        .http
        .patch(t.url(&format!("/api/v1/users/{id}")))
        .bearer_auth(&admin)
        .json(&json!({"role": "member"}))
        .send()
        .await
        .unwrap();
    assert_eq!(demoted.status(), 200);
    let res = accept(&t, made["token"].as_str().unwrap(), "backdoor").await;
    assert_eq!(res.status(), 409, "a demoted admin's link still worked");
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions() {
    let t = start().await;
    t.setup_admin().await;
    user_with_role(&t, "mira", Role::Member).await;
    let laptop = login_token(&t, "mira", PASSWORD).await;
    let phone = login_token(&t, "mira", PASSWORD).await;
    let (_, key) = api_key(&t, &laptop, "script").await;
    // The phone has a socket open.
    let mut ws = ws_connect(&t.ws_url(&format!("?token={phone}"))).await;
    let change = |current: &str| {
        t.http
            .post(t.url("/api/v1/me/password"))
            .bearer_auth(&laptop)
            .json(&json!({"currentPassword": current, "newPassword": "a-new-long-password"}))
            .send()
    };
    // The current password is checked.
    let wrong = change("not-it").await.unwrap();
    assert_eq!(wrong.status(), 422);
    assert_eq!(me(&t, &phone).await, 200);
    let res = change(PASSWORD).await.unwrap();
    assert_eq!(res.status(), 200);
    let fresh = res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(me(&t, &phone).await, 401, "the other session ended");
    assert_eq!(me(&t, &laptop).await, 401, "the old token of this one too");
    assert_eq!(me(&t, &fresh).await, 200, "the new token works");
    assert_eq!(me(&t, &key).await, 200, "API keys stay");
    // An API key cannot change the password (nor turn into a session).
    let by_key = t
        .http
        .post(t.url("/api/v1/me/password"))
        .bearer_auth(&key)
        .json(&json!({"currentPassword": "a-new-long-password", "newPassword": "another-long-one"}))
        .send()
        .await
        .unwrap();
    assert_eq!(by_key.status(), 403);
    assert_ne!(ws_close_code(&mut ws, Duration::from_secs(2)).await, 0);
    assert_eq!(t.login("mira", PASSWORD).await.status(), 401);
    assert_eq!(t.login("mira", "a-new-long-password").await.status(), 200);
}

#[tokio::test]
async fn the_audit_log_records_changes_never_secrets_and_failed_sign_ins() {
    let t = start().await;
    let admin = t.setup_admin().await;
    let member = user_with_role(&t, "mira", Role::Member).await;
    // A failed sign-in, from nobody.
    assert_eq!(t.login("mira", "wrong-password").await.status(), 401);
    // A change with a secret in it.
    let agent = t
        .http
        .post(t.url("/api/v1/agents"))
        .bearer_auth(&admin)
        .json(&json!({"name": "audited", "agentType": "Custom", "command": ["echo", "hi"], "env": {"OPENAI_API_KEY": "sk-very-secret"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        agent.status(),
        201,
        "{}",
        agent.text().await.unwrap_or_default()
    );
    // A read is not recorded.
    let before = audit(&t, &admin, "").await.len();
    t.http
        .get(t.url("/api/v1/agents"))
        .bearer_auth(&member)
        .send()
        .await
        .unwrap();
    assert_eq!(audit(&t, &admin, "").await.len(), before);

    let all = audit(&t, &admin, "").await;
    let text = serde_json::to_string(&all).unwrap();
    assert!(!text.contains("sk-very-secret"), "a secret leaked: {text}");
    assert!(!text.contains(PASSWORD), "a password leaked");
    let created = all
        .iter()
        .find(|e| e["action"] == "agents.create")
        .expect("agents.create");
    assert_eq!(created["actor"], ADMIN);
    assert_eq!(created["source"], "token");
    assert_eq!(created["outcome"], "ok");
    assert_eq!(created["detail"]["name"], "audited");
    let failed = all
        .iter()
        .find(|e| e["action"] == "auth.login" && e["outcome"] == "failed")
        .expect("failed sign-in");
    assert_eq!(failed["actor"], "mira");
    assert_eq!(failed["source"], "anonymous");
    assert!(failed["actorId"].is_null());

    // Filters: by person, by action's start.
    let by_mira = audit(&t, &admin, "?actor=MIRA").await;
    assert!(by_mira.iter().all(|e| e["actor"] == "mira"), "{by_mira:?}");
    let agents = audit(&t, &admin, "?action=agents").await;
    assert_eq!(agents.len(), 1);
    // Paged.
    let first = audit(&t, &admin, "?limit=1").await;
    assert_eq!(first.len(), 1);
    // Admins only; bad filters are refused clearly.
    let res = t
        .http
        .get(t.url("/api/v1/audit"))
        .bearer_auth(&member)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = t
        .http
        .get(t.url("/api/v1/audit?since=yesterday"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
}

/// The state-changing routes the REST table of `docs/protocol.md`
/// documents: `POST /api/v1/agents · PUT /api/v1/agents/{id} · DELETE …`
/// and `POST /api/v1/executions/{id}/cancel · /pause` forms included.
fn documented_writes() -> Vec<(String, String)> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md"))
        .expect("docs/protocol.md");
    let section = doc.split("## REST API").nth(1).expect("the REST section");
    let mut routes = Vec::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cell = line.split('|').nth(1).unwrap_or("");
        let (mut method, mut path) = (String::new(), String::new());
        for piece in cell.split('·').map(|p| p.trim().trim_matches('`').trim()) {
            let mut words = piece.split_whitespace();
            let first = words.next().unwrap_or("");
            if first.starts_with('/') && !path.is_empty() {
                // `/pause`: the previous route's sibling.
                let parent = path.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
                path = format!("{parent}{}", first.split(['?', ' ']).next().unwrap_or(""));
            } else if ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&first) {
                method = first.to_string();
                match words.next() {
                    Some(p) if p.starts_with("/api/v1/") => {
                        path = p.split('?').next().unwrap_or(p).to_string()
                    }
                    // `DELETE …`: the previous route's path.
                    _ => {}
                }
            } else {
                continue;
            }
            if method != "GET" && !path.is_empty() {
                routes.push((method.clone(), path.clone()));
            }
        }
    }
    routes.dedup();
    routes
}

/// Every state-changing route the API documents writes an entry when it
/// changes something: this walks the documented list with real ids and
/// bodies, and for each request that succeeded checks the newest entry
/// names it. Enough of them must succeed for the walk to mean something.
#[tokio::test]
async fn every_state_changing_route_writes_an_audit_entry() {
    let routes = documented_writes();
    assert!(
        routes.len() >= 25,
        "the REST table was not read: {routes:?}"
    );
    let t = start().await;
    let admin = t.setup_admin().await;
    let post = |path: &'static str, body: Value| {
        let req = t.http.post(t.url(path)).bearer_auth(&admin).json(&body);
        async move {
            let res = req.send().await.unwrap();
            assert!(res.status().is_success(), "{path}: {}", res.status());
            let v: Value = res.json().await.unwrap();
            v["id"].as_str().unwrap().to_string()
        }
    };
    let agent_body =
        json!({"name": "walker", "agentType": "Custom", "command": ["/bin/sh", "-c", "sleep 30"]});
    let agent = create_agent(
        &t,
        &admin,
        "walker",
        &["/bin/sh", "-c", "sleep 30"],
        json!({}),
    )
    .await;
    let execution = start_execution(&t, &admin, &agent, "walk").await;
    let repo = post("/api/v1/repositories", json!({"name": "walk-repo"})).await;
    let issue = post(
        "/api/v1/issues",
        json!({"repositoryId": repo, "title": "walk"}),
    )
    .await;
    let workflow_body = json!({"name": "walk-flow", "definition": {"stages": [{"name": "s", "steps": [{"key": "a", "agentId": agent, "prompt": "x"}]}]}});
    let workflow = post("/api/v1/workflows", workflow_body.clone()).await;
    let (key, _) = api_key(&t, &admin, "walk-key").await;
    let runner_token = post("/api/v1/runner-tokens", json!({"name": "walk-runner"})).await;
    let invitation = post("/api/v1/invitations", json!({"role": "viewer"})).await;
    let me: Value = t
        .http
        .get(t.url("/api/v1/me"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let me = me["id"].as_str().unwrap().to_string();
    let id_for = |path: &str| -> String {
        let after = path.trim_start_matches("/api/v1/");
        match after.split('/').next().unwrap_or("") {
            "agents" => agent.clone(),
            "executions" => execution.clone(),
            "repositories" => repo.clone(),
            "issues" => issue.clone(),
            "workflows" => workflow.clone(),
            "api-keys" => key.clone(),
            "runner-tokens" => runner_token.clone(),
            "invitations" => invitation.clone(),
            "users" => me.clone(),
            _ => "00000000-0000-4000-8000-000000000000".into(),
        }
    };
    let mut checked = Vec::new();
    let mut missing = Vec::new();
    for (method, path) in &routes {
        // Signing out or deleting the agent would end the walk early.
        if path.ends_with("/auth/logout")
            || (method == "DELETE" && path.starts_with("/api/v1/agents"))
        {
            continue;
        }
        let concrete = path
            .split('/')
            .map(|s| {
                if s.starts_with('{') {
                    id_for(path)
                } else {
                    s.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let body = match path.as_str() {
            p if p.ends_with("/stdin") => json!({"data": "hello\n"}),
            p if p.ends_with("/api-keys") || p.ends_with("/runner-tokens") => {
                json!({"name": "walk"})
            }
            p if p.ends_with("/invitations") => json!({"role": "viewer"}),
            p if p.ends_with("/issues") => json!({"repositoryId": repo, "title": "walked"}),
            p if p.ends_with("/repositories/{id}") => json!({"keepWorktrees": true}),
            p if p.ends_with("/settings/github") => {
                json!({"labels": {"inProgress": "wip", "done": "done", "failed": "failed"}})
            }
            p if p.ends_with("/api/v1/executions") => json!({"agentId": agent, "prompt": "again"}),
            "/api/v1/agents/{id}" => agent_body.clone(),
            "/api/v1/workflows/{id}" => workflow_body.clone(),
            "/api/v1/issues/{id}" => json!({"title": "walked again"}),
            "/api/v1/users/{id}" => json!({"role": "admin"}),
            _ => json!({}),
        };
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let res = t
            .http
            .request(m, t.url(&concrete))
            .bearer_auth(&admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        if !res.status().is_success() {
            continue;
        }
        let entries = audit(&t, &admin, "?limit=1").await;
        let last = entries.first().cloned().unwrap_or_default();
        // The target is the route's (`executions/<id>/cancel`) or, for a
        // create, what was made (`executions/<new id>`).
        let kind = path
            .trim_start_matches("/api/v1/")
            .split('/')
            .next()
            .unwrap_or("");
        let named = last["target"].as_str().is_none_or(|target| {
            concrete.ends_with(target) || target.split('/').next() == Some(kind)
        });
        if last["outcome"] == "ok" && last["actor"] == ADMIN && named {
            checked.push(format!("{method} {path}"));
        } else {
            missing.push(format!("{method} {path}: {last}"));
        }
    }
    eprintln!(
        "{} of {} documented writes succeeded and were recorded",
        checked.len(),
        routes.len()
    );
    assert!(missing.is_empty(), "changes left unrecorded: {missing:#?}");
    assert!(
        checked.len() >= 12,
        "too few routes succeeded to mean anything: {checked:#?}"
    );
}

#[tokio::test]
async fn a_reset_link_sets_a_password_once_and_ends_the_old_sessions() {
    let t = start().await;
    let admin = t.setup_admin().await;
    let member = user_with_role(&t, "mira", Role::Member).await;
    let id: Value = t
        .http
        .get(t.url("/api/v1/me"))
        .bearer_auth(&member)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = id["id"].as_str().unwrap();
    let link = |token: &str| {
        t.http
            .post(t.url(&format!("/api/v1/users/{id}/reset-link")))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(link(&member).await.unwrap().status(), 403);
    let res = link(&admin).await.unwrap();
    assert_eq!(res.status(), 201);
    let made: Value = res.json().await.unwrap();
    assert_eq!(made["resetFor"], "mira");
    let secret = made["token"].as_str().unwrap().to_string();
    // Too short a password is refused and leaves the link usable.
    let short = t
        .http
        .post(t.url("/api/v1/invitations/accept"))
        .json(&json!({"token": secret, "username": "", "password": "short"}))
        .send()
        .await
        .unwrap();
    assert_eq!(short.status(), 422);
    let mut ws = ws_connect(&t.ws_url(&format!("?token={member}"))).await;
    let res = accept(&t, &secret, "ignored").await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["user"]["username"], "mira",
        "the link sets mira's, makes no account"
    );
    assert_eq!(me(&t, &member).await, 401, "the old session ended");
    assert_ne!(
        ws_close_code(&mut ws, Duration::from_secs(2)).await,
        0,
        "its socket closed"
    );
    assert_eq!(t.login("mira", PASSWORD).await.status(), 401);
    assert_eq!(t.login("mira", "a-long-password").await.status(), 200);
    assert_eq!(accept(&t, &secret, "ignored").await.status(), 409);
    let n: i64 =
        yagura::on_db!(&t.server.state.db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(pool)
        .await)
        .unwrap();
    assert_eq!(n, 2);
}

#[tokio::test]
async fn your_sessions_are_listed_and_one_can_be_ended() {
    let t = start().await;
    t.setup_admin().await;
    user_with_role(&t, "mira", Role::Member).await;
    let laptop = login_token(&t, "mira", PASSWORD).await;
    let phone = login_token(&t, "mira", PASSWORD).await;
    let other = user_with_role(&t, "otto", Role::Member).await;
    let list = |token: String| {
        let req = t.http.get(t.url("/api/v1/me/sessions")).bearer_auth(token);
        async move {
            req.send()
                .await
                .unwrap()
                .json::<Vec<Value>>()
                .await
                .unwrap()
        }
    };
    // Three of mira's (user_with_role signed in once too), the laptop's current.
    let mine = list(laptop.clone()).await;
    assert_eq!(mine.len(), 3, "{mine:?}");
    assert_eq!(mine.iter().filter(|s| s["current"] == true).count(), 1);
    assert!(mine
        .iter()
        .all(|s| s["userAgent"].is_string() || s["userAgent"].is_null()));
    assert_eq!(mine[0]["client"], "127.0.0.1");
    let phone_id = mine
        .iter()
        .find(|s| s["current"] == false)
        .map(|s| s["id"].as_str().unwrap().to_string())
        .unwrap();
    // Someone else's session is not theirs to end.
    let res = t
        .http
        .delete(t.url(&format!("/api/v1/me/sessions/{phone_id}")))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let mut ws = ws_connect(&t.ws_url(&format!("?token={phone}"))).await;
    // Which of the two others is the phone's is not known here: end both.
    for s in mine.iter().filter(|s| s["current"] == false) {
        let res = t
            .http
            .delete(t.url(&format!(
                "/api/v1/me/sessions/{}",
                s["id"].as_str().unwrap()
            )))
            .bearer_auth(&laptop)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
    }
    assert_eq!(me(&t, &phone).await, 401);
    assert_eq!(me(&t, &laptop).await, 200);
    assert_ne!(ws_close_code(&mut ws, Duration::from_secs(2)).await, 0);
    assert_eq!(list(laptop).await.len(), 1);
}

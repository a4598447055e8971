//! GitHub against a fake GitHub on 127.0.0.1 (see `fake_github`): import
//! with pages, polling with ETags, signed webhooks applied once, label
//! triggers, results flowing back (comment, labels, pull request from the
//! pushed branch), and secrets that never come back out. Worktrees on a
//! real local git repository.

use crate::common::{self, create_agent, eventually, TestServer};
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

mod oauth;
mod propose;
mod runs;
mod secrets;
mod sync;
mod webhooks;

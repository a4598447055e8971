//! A small GitHub on 127.0.0.1 for the tests: the REST routes Yagura uses
//! (repository, issues with pages and ETags, comments, labels, pull
//! requests), a token check, and a record of every write. Its repository
//! clones from a real bare git repository on disk.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::{
    extract::{Path as UrlPath, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{delete, get, post},
    Json, Router,
};
use serde_json::{json, Value};

pub const OWNER: &str = "acme";
pub const REPO: &str = "widgets";
pub const TOKEN: &str = "ghp_TESTtokenNEVERshown0123456789abcdef";

#[derive(Default)]
pub struct World {
    /// Issues (and pull requests) by number.
    pub issues: BTreeMap<u64, Value>,
    /// Bumped on every change: the ETag of the issue list.
    pub version: u64,
    pub comments: Vec<(u64, String)>,
    pub labels_added: Vec<(u64, Vec<String>)>,
    pub labels_removed: Vec<(u64, String)>,
    pub pulls: Vec<Value>,
    /// Requests with a wrong or missing token.
    pub unauthorized: u32,
    /// Issue list requests answered 304.
    pub not_modified: u32,
    pub list_requests: u32,
}

#[derive(Clone)]
pub struct FakeGitHub {
    pub addr: SocketAddr,
    pub world: Arc<Mutex<World>>,
    pub origin: PathBuf,
}

#[derive(Clone)]
struct Shared {
    world: Arc<Mutex<World>>,
    base: String,
    origin: PathBuf,
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A repository with one commit on `main` (a working copy at `dir`).
pub fn make_repo(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q", "-b", "main"]);
    std::fs::write(dir.join("README.md"), "# widgets\n").unwrap();
    git(dir, &["add", "README.md"]);
    git(dir, &["commit", "-q", "-m", "first"]);
}

pub fn issue_json(base: &str, number: u64, title: &str, labels: &[&str]) -> Value {
    json!({
        "id": 1000 + number,
        "number": number,
        "title": title,
        "body": format!("Body of {title}"),
        "state": "open",
        "labels": labels.iter().map(|l| json!({"name": l})).collect::<Vec<_>>(),
        "assignee": null,
        "user": {"login": "octocat"},
        "html_url": format!("{base}/{OWNER}/{REPO}/issues/{number}"),
        "updated_at": now(),
    })
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl FakeGitHub {
    /// Starts the fake with a bare origin repository under `dir`.
    pub async fn start(dir: &Path) -> FakeGitHub {
        let work = dir.join("seed");
        make_repo(&work);
        let origin = dir.join("origin.git");
        git(
            dir,
            &[
                "clone",
                "-q",
                "--bare",
                work.to_str().unwrap(),
                origin.to_str().unwrap(),
            ],
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let world = Arc::new(Mutex::new(World::default()));
        let shared = Shared {
            world: world.clone(),
            base: format!("http://{addr}"),
            origin: origin.clone(),
        };
        let app = Router::new()
            .route("/repos/{owner}/{repo}", get(repo))
            .route(
                "/repos/{owner}/{repo}/issues",
                get(list_issues).post(create_issue),
            )
            .route(
                "/repos/{owner}/{repo}/issues/{n}",
                axum::routing::patch(patch_issue),
            )
            .route("/repos/{owner}/{repo}/issues/{n}/comments", post(comment))
            .route("/repos/{owner}/{repo}/issues/{n}/labels", post(add_labels))
            .route(
                "/repos/{owner}/{repo}/issues/{n}/labels/{name}",
                delete(remove_label),
            )
            .route(
                "/repos/{owner}/{repo}/pulls",
                post(create_pull).get(list_pulls),
            )
            .route(
                "/repos/{owner}/{repo}/collaborators/{login}/permission",
                get(permission),
            )
            .route("/login/oauth/access_token", post(oauth_token))
            .route("/api/v3/user", get(oauth_user))
            .with_state(shared);
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeGitHub {
            addr,
            world,
            origin,
        }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn add_issue(&self, number: u64, title: &str, labels: &[&str]) {
        let mut w = self.world.lock().unwrap();
        w.issues
            .insert(number, issue_json(&self.base(), number, title, labels));
        w.version += 1;
    }

    pub fn set_labels(&self, number: u64, labels: &[&str]) {
        let mut w = self.world.lock().unwrap();
        if let Some(issue) = w.issues.get_mut(&number) {
            issue["labels"] = json!(labels
                .iter()
                .map(|l| json!({"name": l}))
                .collect::<Vec<_>>());
            issue["updated_at"] = json!(now());
        }
        w.version += 1;
    }

    pub fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().unwrap()
    }
}

fn authorised(headers: &HeaderMap, world: &Mutex<World>) -> bool {
    let ok = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(|v| v == format!("Bearer {TOKEN}") || v == format!("token {TOKEN}"))
        .unwrap_or(false);
    if !ok {
        world.lock().unwrap().unauthorized += 1;
    }
    ok
}

fn refused() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})),
    )
        .into_response()
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"message": "Not Found"}))).into_response()
}

fn ours(owner: &str, repo: &str) -> bool {
    owner == OWNER && repo == REPO
}

async fn repo(
    State(s): State<Shared>,
    headers: HeaderMap,
    UrlPath((owner, name)): UrlPath<(String, String)>,
) -> Response {
    if !authorised(&headers, &s.world) {
        return refused();
    }
    if !ours(&owner, &name) {
        return not_found();
    }
    Json(json!({
        "id": 1,
        "name": REPO,
        "full_name": format!("{OWNER}/{REPO}"),
        "private": true,
        "default_branch": "main",
        "url": format!("{}/repos/{OWNER}/{REPO}", s.base),
        "clone_url": s.origin.display().to_string(),
        "permissions": {"admin": false, "push": true, "pull": true},
    }))
    .into_response()
}

async fn list_issues(
    State(s): State<Shared>,
    headers: HeaderMap,
    UrlPath((owner, name)): UrlPath<(String, String)>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if !authorised(&headers, &s.world) {
        return refused();
    }
    if !ours(&owner, &name) {
        return not_found();
    }
    let mut w = s.world.lock().unwrap();
    w.list_requests += 1;
    let etag = format!(
        "\"v{}-{}\"",
        w.version,
        q.get("since").cloned().unwrap_or_default()
    );
    if headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        w.not_modified += 1;
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let state = q.get("state").map(String::as_str).unwrap_or("open");
    let per_page: usize = q
        .get("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(30)
        .min(100);
    let page: usize = q
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let all: Vec<Value> = w
        .issues
        .values()
        .filter(|i| state == "all" || i["state"] == state)
        .filter(|i| match q.get("since") {
            Some(since) => i["updated_at"].as_str().unwrap_or("") >= since.as_str(),
            None => true,
        })
        .cloned()
        .collect();
    let items: Vec<Value> = all
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .cloned()
        .collect();
    let mut response = Json(items).into_response();
    response.headers_mut().insert("etag", etag.parse().unwrap());
    if page * per_page < all.len() {
        let mut next_q = q.clone();
        next_q.insert("page".into(), (page + 1).to_string());
        let query: Vec<String> = next_q.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let link = format!(
            "<{}/repos/{OWNER}/{REPO}/issues?{}>; rel=\"next\"",
            s.base,
            query.join("&")
        );
        response.headers_mut().insert("link", link.parse().unwrap());
    }
    response
}

async fn create_issue(
    State(s): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !authorised(&headers, &s.world) {
        return refused();
    }
    let mut w = s.world.lock().unwrap();
    let number = w.issues.keys().max().copied().unwrap_or(0) + 1;
    let labels: Vec<&str> = body["labels"]
        .as_array()
        .map(|a| a.iter().filter_map(|l| l.as_str()).collect())
        .unwrap_or_default();
    let mut issue = issue_json(
        &s.base,
        number,
        body["title"].as_str().unwrap_or(""),
        &labels,
    );
    issue["body"] = body["body"].clone();
    w.issues.insert(number, issue.clone());
    w.version += 1;
    (StatusCode::CREATED, Json(issue)).into_response()
}

async fn patch_issue(
    State(s): State<Shared>,
    headers: HeaderMap,
    UrlPath((_, _, n)): UrlPath<(String, String, u64)>,
    Json(body): Json<Value>,
) -> Response {
    if !authorised(&headers, &s.world) {
        return refused();
    }
    let mut w = s.world.lock().unwrap();
    let Some(issue) = w.issues.get_mut(&n) else {
        return not_found();
    };
    issue["updated_at"] = json!(now());
    for key in ["title", "body", "state"] {
        if let Some(v) = body.get(key) {
            issue[key] = v.clone();
        }
    }
    if let Some(labels) = body.get("labels").and_then(|l| l.as_array()) {
        issue["labels"] = json!(labels
            .iter()
            .map(|l| json!({"name": l}))
            .collect::<Vec<_>>());
    }
    let issue = issue.clone();
    w.version += 1;
    Json(issue).into_response()
}

async fn comment(
    State(s): State<Shared>,
    headers: HeaderMap,
    UrlPath((_, _, n)): UrlPath<(String, String, u64)>,
    Json(body): Json<Value>,
) -> Response {
    if !authorised(&headers, &s.world) {
        return refused();
    }
    let text = body["body"].as_str().unwrap_or_default().to_string();
    s.world.lock().unwrap().comments.push((n, text.clone()));
    (StatusCode::CREATED, Json(json!({"id": 1, "body": text}))).into_response()
}

async fn add_labels(
    State(s): State<Shared>,
    headers: HeaderMap,
    UrlPath((_, _, n)): UrlPath<(String, String, u64)>,
    Json(body): Json<Value>,
) -> Response {
    if !authorised(&headers, &s.world) {
        return refused();
    }
    let labels: Vec<String> = body["labels"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| l.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    s.world
        .lock()
        .unwrap()
        .labels_added
        .push((n, labels.clone()));
    Json(
        labels
            .iter()
            .map(|l| json!({"name": l}))
            .collect::<Vec<_>>(),
    )
    .into_response()
}

async fn remove_label(
    State(s): State<Shared>,
    headers: HeaderMap,
    UrlPath((_, _, n, name)): UrlPath<(String, String, u64, String)>,
) -> Response {
    if !authorised(&headers, &s.world) {
        return refused();
    }
    s.world.lock().unwrap().labels_removed.push((n, name));
    Json(json!([])).into_response()
}

async fn create_pull(
    State(s): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !authorised(&headers, &s.world) {
        return refused();
    }
    let mut w = s.world.lock().unwrap();
    let number = 500 + w.pulls.len() as u64;
    let pr = json!({
        "number": number,
        "html_url": format!("{}/{OWNER}/{REPO}/pull/{number}", s.base),
        "head": body["head"],
        "base": body["base"],
        "title": body["title"],
        "body": body["body"],
    });
    w.pulls.push(pr.clone());
    (StatusCode::CREATED, Json(pr)).into_response()
}

async fn list_pulls(State(s): State<Shared>, headers: HeaderMap) -> Response {
    if !authorised(&headers, &s.world) {
        return refused();
    }
    Json(s.world.lock().unwrap().pulls.clone()).into_response()
}

pub const OAUTH_CODE: &str = "good-code";
const OAUTH_TOKEN: &str = "gho_oauthTOKEN";

/// GitHub's OAuth token exchange: a known code from the right client.
async fn oauth_token(Json(body): Json<Value>) -> Response {
    if body["client_id"] == "client-1"
        && body["client_secret"] == "client-secret"
        && body["code"] == OAUTH_CODE
    {
        Json(json!({"access_token": OAUTH_TOKEN, "token_type": "bearer", "scope": "read:user"}))
            .into_response()
    } else {
        Json(json!({"error": "bad_verification_code"})).into_response()
    }
}

async fn oauth_user(headers: HeaderMap) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {OAUTH_TOKEN}"))
    {
        Json(json!({"login": "octocat", "id": 583231})).into_response()
    } else {
        refused()
    }
}

/// `octocat` may write; everyone else only reads.
async fn permission(
    State(s): State<Shared>,
    headers: HeaderMap,
    UrlPath((_, _, login)): UrlPath<(String, String, String)>,
) -> Response {
    if !authorised(&headers, &s.world) {
        return refused();
    }
    let role = if login == "octocat" { "write" } else { "read" };
    Json(json!({"permission": role, "role_name": role, "user": {"login": login}})).into_response()
}

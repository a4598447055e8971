//! Starts the real server on 127.0.0.1:0 with a temporary data directory.
#![allow(dead_code)]

use std::time::Duration;

use serde_json::{json, Value};
use tempfile::TempDir;
use yagura::{config::StoreLocation, Config, RunningServer};

pub const ADMIN: &str = "admin";
pub const PASSWORD: &str = "correct horse battery";

pub struct TestServer {
    pub server: RunningServer,
    pub dir: TempDir,
    pub base: String,
    pub http: reqwest::Client,
}

pub async fn start() -> TestServer {
    start_with(|_| {}).await
}

pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
    start_in(tempfile::tempdir().expect("tempdir"), adjust).await
}

/// The suite runs on SQLite unless `YAGURA_TEST_POSTGRES` names a
/// PostgreSQL server (`postgres://postgres@127.0.0.1:5432/test`): then each
/// data directory gets a fresh database of its own, created here on first
/// use and remembered beside the directory, so a restarted server (or a
/// CLI command on the same data directory) finds the same store. Databases
/// are named `yagura_it_*`; `cargo xtask test-postgres` drops them after
/// the run.
pub fn postgres_url(data_dir: &std::path::Path) -> Option<String> {
    let admin = std::env::var("YAGURA_TEST_POSTGRES").ok()?;
    let remembered = std::path::PathBuf::from(format!("{}.postgres-url", data_dir.display()));
    if let Ok(url) = std::fs::read_to_string(&remembered) {
        return Some(url);
    }
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let name = format!(
        "yagura_it_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let mut url = reqwest::Url::parse(&admin).expect("YAGURA_TEST_POSTGRES is a URL");
    url.set_path(&format!("/{name}"));
    // On a thread of its own: callers may be inside a runtime or not.
    let create = format!("CREATE DATABASE \"{name}\"");
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .expect("connect to YAGURA_TEST_POSTGRES");
                sqlx::query(&create)
                    .execute(&mut conn)
                    .await
                    .expect("create the test database");
            })
    })
    .join()
    .unwrap();
    if let Some(parent) = remembered.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&remembered, url.as_str()).unwrap();
    Some(url.to_string())
}

/// True when the suite runs on PostgreSQL (see [`postgres_url`]).
pub fn on_postgres() -> bool {
    std::env::var_os("YAGURA_TEST_POSTGRES").is_some()
}

pub async fn start_in(dir: TempDir, adjust: impl FnOnce(&mut Config)) -> TestServer {
    let data_dir = dir.path().join("data");
    let mut config = Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        store: StoreLocation {
            database_url: postgres_url(&data_dir),
            data_dir,
        },
        shutdown_grace: Duration::from_secs(3),
        ..Config::default()
    };
    // `{yagura}` (the demo agent) is the real binary, not this test harness.
    config.exec.yagura_bin = env!("CARGO_BIN_EXE_yagura").into();
    adjust(&mut config);
    let server = yagura::start(config).await.expect("server starts");
    let base = format!("http://{}", server.addr);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    TestServer {
        server,
        dir,
        base,
        http,
    }
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn ws_url(&self, query: &str) -> String {
        format!("ws://{}/ws{query}", self.server.addr)
    }

    pub fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    /// First-run setup through the API; returns the admin's token.
    pub async fn setup_admin(&self) -> String {
        let res = self
            .http
            .post(self.url("/api/v1/setup"))
            .json(&json!({"username": ADMIN, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            201,
            "setup: {}",
            res.text().await.unwrap_or_default()
        );
        let body: Value = res.json().await.unwrap();
        body["token"].as_str().unwrap().to_string()
    }

    pub async fn login(&self, username: &str, password: &str) -> reqwest::Response {
        self.http
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap()
    }

    pub async fn shutdown(self) -> TempDir {
        self.server.shutdown().await.expect("clean shutdown");
        self.dir
    }
}

/// Signs a token with the server's own secret, for expiry tests.
pub fn sign_token(data_dir: &std::path::Path, claims: Value) -> String {
    let hex = std::fs::read_to_string(data_dir.join("jwt-secret")).unwrap();
    let secret = hex::decode(hex.trim()).unwrap();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&secret),
    )
    .unwrap()
}

/// Creates an agent through the API; returns its id.
pub async fn create_agent(
    t: &TestServer,
    token: &str,
    name: &str,
    command: &[&str],
    extra: Value,
) -> String {
    let mut body = json!({"name": name, "agentType": "Custom", "command": command});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    let res = t
        .http
        .post(t.url("/api/v1/agents"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        201,
        "create agent: {}",
        res.text().await.unwrap_or_default()
    );
    res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Starts an execution; returns its id.
pub async fn start_execution(t: &TestServer, token: &str, agent_id: &str, prompt: &str) -> String {
    let res = t
        .http
        .post(t.url("/api/v1/executions"))
        .bearer_auth(token)
        .json(&json!({"agentId": agent_id, "prompt": prompt}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        201,
        "start: {}",
        res.text().await.unwrap_or_default()
    );
    res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

pub async fn execution(t: &TestServer, token: &str, id: &str) -> Value {
    t.http
        .get(t.url(&format!("/api/v1/executions/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Defines an agent running `command`, runs it once and waits for it to
/// end `completed`; returns the run's id and its log lines.
pub async fn run_to_completion(
    t: &TestServer,
    token: &str,
    name: &str,
    command: &[&str],
    extra: Value,
) -> (String, Vec<String>) {
    let agent = create_agent(t, token, name, command, extra).await;
    let run = start_execution(t, token, &agent, "").await;
    wait_status(t, token, &run, &["completed"], Duration::from_secs(60)).await;
    let lines = log_lines(&stored_events(t, token, &run).await);
    (run, lines)
}

/// Signs in through the API; returns the session token.
pub async fn login_token(t: &TestServer, username: &str, password: &str) -> String {
    let res = t.login(username, password).await;
    assert_eq!(res.status(), 200, "sign-in as {username}");
    res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Polls until the execution's status is one of `wanted`.
pub async fn wait_status(
    t: &TestServer,
    token: &str,
    id: &str,
    wanted: &[&str],
    within: Duration,
) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let e = execution(t, token, id).await;
        if wanted.contains(&e["status"].as_str().unwrap_or("")) {
            return e;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "status stayed {} (wanted {wanted:?}): {e}",
            e["status"]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every stored event of an execution, in the native dialect.
pub async fn stored_events(t: &TestServer, token: &str, id: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let page: Vec<Value> = t
            .http
            .get(t.url(&format!(
                "/api/v1/executions/{id}/events?after={after}&limit=10000"
            )))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let Some(last) = page.last() else { return all };
        after = last["seq"].as_u64().unwrap();
        all.extend(page);
    }
}

/// Log messages among events.
pub fn log_lines(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["type"] == "agent.log")
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// A client WebSocket of the tests.
pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The messages of the next text frame, `batch` frames unpacked.
pub async fn next_frames(ws: &mut Socket) -> Vec<Value> {
    use futures::StreamExt;
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("a frame within 20 s")
            .expect("open")
            .expect("frame");
        if let tokio_tungstenite::tungstenite::Message::Text(text) = msg {
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["type"] == "batch" {
                return v["events"].as_array().unwrap().clone();
            }
            return vec![v];
        }
    }
}

/// Sends `method path` with a bearer token and an optional JSON body;
/// answers the status and the body (JSON, or the text as a JSON string).
pub async fn send(
    t: &TestServer,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = t
        .http
        .request(method.parse().unwrap(), t.url(path))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Polls `check` every 100 ms until it holds, failing the test with
/// `what` after `secs` seconds.
pub async fn eventually<F, Fut>(what: &str, secs: u64, mut check: F)
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

pub mod sio;

/// Connects a WebSocket client.
pub async fn ws_connect(url: &str) -> Socket {
    tokio_tungstenite::connect_async(url)
        .await
        .unwrap_or_else(|e| panic!("upgrade {url}: {e}"))
        .0
}

/// Sends a JSON text frame.
pub async fn ws_send(ws: &mut Socket, value: &Value) {
    use futures::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        value.to_string(),
    ))
    .await
    .expect("send");
}

/// The next text frame as JSON (pings skipped), or `None` when nothing
/// came within `within` or the socket closed.
pub async fn ws_recv(ws: &mut Socket, within: Duration) -> Option<Value> {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .ok()??
            .ok()?;
        match msg {
            Message::Text(t) => return Some(serde_json::from_str(&t).expect("JSON text frame")),
            Message::Close(_) => return None,
            _ => continue,
        }
    }
}

/// Reads until the server closes; the close code (panics if none within
/// `within`).
pub async fn ws_close_code(ws: &mut Socket, within: Duration) -> u16 {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("closed in time");
        match msg {
            Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
            Some(Ok(Message::Close(None))) => return 1005,
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("socket error before the close frame: {e}"),
            None => panic!("stream ended without a close frame"),
        }
    }
}

/// Creates a user with `role` (as `yagura user create` would); returns
/// their session token.
pub async fn user_with_role(t: &TestServer, name: &str, role: app::model::Role) -> String {
    yagura::auth::accounts::create_user(&t.server.state.db, name, PASSWORD, role)
        .await
        .expect("create user");
    let res = t.login(name, PASSWORD).await;
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Makes an API key for the signed-in user of `token`; returns the key.
pub async fn api_key(t: &TestServer, token: &str, name: &str) -> (String, String) {
    let res = t
        .http
        .post(t.url("/api/v1/api-keys"))
        .bearer_auth(token)
        .json(&json!({"name": name}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        201,
        "create key: {}",
        res.text().await.unwrap_or_default()
    );
    let v: Value = res.json().await.unwrap();
    (
        v["id"].as_str().unwrap().into(),
        v["key"].as_str().unwrap().into(),
    )
}

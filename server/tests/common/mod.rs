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

pub async fn start_in(dir: TempDir, adjust: impl FnOnce(&mut Config)) -> TestServer {
    let mut config = Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        store: StoreLocation {
            data_dir: dir.path().join("data"),
            database_url: None,
        },
        shutdown_grace: Duration::from_secs(3),
        ..Config::default()
    };
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

//! Credentials never reach the log.

use super::*;

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

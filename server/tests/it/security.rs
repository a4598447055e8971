//! Findings of the security review, each with the test that proves it
//! fixed (see docs/security.md). The sandbox (H2) has its own file.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{self, create_agent, log_lines, start_execution, stored_events, wait_status};

/// C1: dropping 15,000 WebSocket connections at once is routine. The
/// server is its own process (the real binary, with its log subscriber):
/// an abort would end it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_fifteen_thousand_sockets_at_once_is_routine() {
    const SOCKETS: usize = 15_000;
    let dir = tempfile::tempdir().unwrap();
    let mut server = crate::restart::spawn_with(
        &dir.path().join("data"),
        &[("YAGURA_MAX_SOCKETS_PER_USER", "20000")],
    );
    let http = reqwest::Client::new();
    let res = http
        .post(format!("{}/api/v1/setup", server.base))
        .json(&json!({"username": common::ADMIN, "password": common::PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let token = res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let addr = server.base.trim_start_matches("http://").to_string();
    let request = format!(
        "GET /ws?token={token} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    );
    // Raw sockets: an upgrade, then the first frame (the session is live).
    let open = |addr: String, request: String| async move {
        let mut s = tokio::net::TcpStream::connect(&addr).await?;
        s.write_all(request.as_bytes()).await?;
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            let n = s.read(&mut buf).await?;
            anyhow::ensure!(n > 0, "closed during the handshake");
            got.extend_from_slice(&buf[..n]);
            if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                anyhow::ensure!(got.starts_with(b"HTTP/1.1 101"), "no upgrade");
                if got.len() > end + 4 {
                    return Ok(s);
                }
            }
        }
    };
    let mut sockets = Vec::with_capacity(SOCKETS);
    let started = std::time::Instant::now();
    while sockets.len() < SOCKETS {
        let batch: Vec<_> = (0..200.min(SOCKETS - sockets.len()))
            .map(|_| tokio::spawn(open(addr.clone(), request.clone())))
            .collect();
        for b in batch {
            sockets.push(b.await.unwrap().expect("socket opens"));
        }
    }
    eprintln!("{SOCKETS} sockets open in {:?}", started.elapsed());
    drop(sockets); // all at once
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server died when the sockets closed"
    );
    let health = http
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

/// H1: environment values never leave the server; saving the masked
/// value keeps the stored one; the process still gets the real value.
#[tokio::test]
async fn agent_environment_values_never_leave_the_server() {
    let t = common::start().await;
    let token = t.setup_admin().await;
    let id = create_agent(
        &t,
        &token,
        "keyed",
        &["sh", "-c", "echo \"key=$API_KEY\""],
        json!({"env": {"API_KEY": "sk-very-secret"}}),
    )
    .await;
    let viewer = common::user_with_role(&t, "viewer1", app::model::Role::Viewer).await;
    for who in [&token, &viewer] {
        for path in ["/api/v1/agents".to_string(), format!("/api/v1/agents/{id}")] {
            let body = t
                .http
                .get(t.url(&path))
                .bearer_auth(who)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(!body.contains("sk-very-secret"), "{path}: {body}");
            assert!(body.contains("********"), "{path}: {body}");
        }
    }
    // Saved back as shown: the value is kept.
    let agent: Value = t
        .http
        .get(t.url(&format!("/api/v1/agents/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let res = t
        .http
        .put(t.url(&format!("/api/v1/agents/{id}")))
        .bearer_auth(&token)
        .json(&agent)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(!res.text().await.unwrap().contains("sk-very-secret"));
    let run = start_execution(&t, &token, &id, "").await;
    wait_status(&t, &token, &run, &["completed"], Duration::from_secs(30)).await;
    assert_eq!(
        log_lines(&stored_events(&t, &token, &run).await),
        vec!["key=sk-very-secret".to_string()]
    );
    // At rest the values are sealed, in the agent and in the run.
    let db = &t.server.state.db;
    for table in ["agents", "executions"] {
        let envs: Vec<String> =
            yagura::on_db!(db, pool => sqlx::query_scalar(&format!("SELECT env FROM {table}"))
            .fetch_all(pool)
            .await)
            .unwrap();
        assert!(
            envs.iter().any(|e| e.contains("API_KEY")),
            "{table}: {envs:?}"
        );
        assert!(
            !envs.iter().any(|e| e.contains("sk-very-secret")),
            "{table}: {envs:?}"
        );
    }
    // A new variable cannot be "saved" masked.
    let res = t
        .http
        .post(t.url("/api/v1/agents"))
        .bearer_auth(&token)
        .json(&json!({"name": "x", "agentType": "Custom", "command": ["true"], "env": {"K": "********"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    t.shutdown().await;
}

/// H3: a request naming a host that is not ours (DNS rebinding) is
/// refused before setup can happen; the real host works.
#[tokio::test]
async fn a_rebinding_page_cannot_create_the_admin() {
    let t = common::start().await;
    let res = t
        .http
        .post(t.url("/api/v1/setup"))
        .header("host", "attacker.example:3000")
        .json(&json!({"username": "evil", "password": "evil password 123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 421);
    let page = t
        .http
        .get(t.url("/setup"))
        .header("host", "attacker.example")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 421);
    t.setup_admin().await;
    t.shutdown().await;
}

/// L5: every page carries the security headers and a CSP whose nonce is
/// on the page's own scripts (and differs per response).
#[tokio::test]
async fn pages_carry_security_headers_and_a_nonce_csp() {
    let t = common::start().await;
    let mut nonces = Vec::new();
    for _ in 0..2 {
        let res = t.http.get(t.url("/setup")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let h = res.headers().clone();
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["referrer-policy"], "same-origin");
        let csp = h["content-security-policy"].to_str().unwrap().to_string();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        let nonce = csp
            .split("'nonce-")
            .nth(1)
            .and_then(|r| r.split('\'').next())
            .unwrap()
            .to_string();
        let html = res.text().await.unwrap();
        let scripts = html.matches("<script").count();
        let with_nonce = html.matches(&format!("nonce=\"{nonce}\"")).count();
        assert!(
            scripts >= 2 && with_nonce == scripts,
            "{scripts} scripts, {with_nonce} with the nonce"
        );
        nonces.push(nonce);
    }
    assert_ne!(nonces[0], nonces[1]);
    let api = t.http.get(t.url("/healthz")).send().await.unwrap();
    assert_eq!(api.headers()["x-content-type-options"], "nosniff");
    t.shutdown().await;
}

/// L11: the database and secrets are the owner's only; L2: an unsigned
/// webhook body is bounded before it is read.
#[tokio::test]
async fn data_files_are_private_and_webhook_bodies_bounded() {
    use std::os::unix::fs::PermissionsExt;
    let t = common::start().await;
    t.setup_admin().await;
    let data = t.data_dir();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    for name in [
        "yagura.db",
        "yagura.db-wal",
        "yagura.db-shm",
        "jwt-secret",
        "secrets-key",
    ] {
        let p = data.join(name);
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{name}");
        } else {
            assert!(
                name.starts_with("yagura.db-")
                    || name == "secrets-key"
                    || (name == "yagura.db" && common::on_postgres()),
                "{name} missing"
            );
        }
    }
    let res = t
        .http
        .post(t.url("/api/github/webhook"))
        .header("x-github-event", "issues")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    t.shutdown().await;
}

/// M9: signing out ends the token at once (not 12 hours later), and the
/// sockets it opened close; other sessions of the same user live on.
#[tokio::test]
async fn signing_out_ends_the_token_and_its_sockets() {
    let t = common::start().await;
    t.setup_admin().await;
    let token = common::login_token(&t, common::ADMIN, common::PASSWORD).await;
    let other = common::login_token(&t, common::ADMIN, common::PASSWORD).await;
    let mut ws = common::ws_connect(&t.ws_url(&format!("?token={token}"))).await;
    assert!(common::ws_recv(&mut ws, Duration::from_secs(5))
        .await
        .is_some());
    let me = |tok: String| {
        let req = t.http.get(t.url("/api/v1/me")).bearer_auth(tok).send();
        async move { req.await.unwrap().status() }
    };
    assert_eq!(me(token.clone()).await, 200);
    let res = t
        .http
        .post(t.url("/api/v1/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(me(token.clone()).await, 401);
    assert_eq!(me(other).await, 200);
    common::ws_close_code(&mut ws, Duration::from_secs(5)).await;
    // The ended token opens nothing: refused with 4001 like any bad token.
    let (mut again, _) = tokio_tungstenite::connect_async(t.ws_url(&format!("?token={token}")))
        .await
        .unwrap();
    assert_eq!(
        common::ws_close_code(&mut again, Duration::from_secs(5)).await,
        4001
    );
    t.shutdown().await;
}

/// M5: one user's sockets are bounded; past the bound the upgrade is
/// refused with 429 and closing one makes room again.
#[tokio::test]
async fn sockets_per_user_are_bounded() {
    let t = common::start_with(|c| c.ws.max_sockets_per_user = 3).await;
    let token = t.setup_admin().await;
    let url = t.ws_url(&format!("?token={token}"));
    let mut open = Vec::new();
    for _ in 0..3 {
        let mut ws = common::ws_connect(&url).await;
        assert!(common::ws_recv(&mut ws, Duration::from_secs(5))
            .await
            .is_some());
        open.push(ws);
    }
    match tokio_tungstenite::connect_async(&url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => assert_eq!(res.status(), 429),
        other => panic!("a fourth socket was not refused: {:?}", other.map(|_| ())),
    }
    drop(open.pop());
    common::eventually("a socket's slot is free again", 5, || async {
        tokio_tungstenite::connect_async(&url).await.is_ok()
    })
    .await;
    t.shutdown().await;
}

/// M6: progress markers count against the output cap like any line: a
/// flood of distinct, long progress steps stores no more than the cap.
#[tokio::test]
async fn progress_markers_count_against_the_output_cap() {
    let t = common::start().await;
    let token = t.setup_admin().await;
    let script = r#"pad=$(head -c 900 /dev/zero | tr '\0' s); i=0
while [ $i -lt 2000 ]; do echo "::progress $((i % 100)) $pad$i"; i=$((i+1)); done"#;
    let agent = create_agent(
        &t,
        &token,
        "progress-flood",
        &["sh", "-c", script],
        json!({"outputCapBytes": 65536}),
    )
    .await;
    let run = start_execution(&t, &token, &agent, "").await;
    wait_status(&t, &token, &run, &["completed"], Duration::from_secs(60)).await;
    let stored = stored_events(&t, &token, &run).await;
    let progress: usize = stored
        .iter()
        .filter(|e| e["type"] == "agent.progress")
        .map(|e| e.to_string().len())
        .sum();
    assert!(progress <= 2 * 65536, "{progress} bytes of progress stored");
    t.shutdown().await;
}

/// H3: setup from another machine needs the one-time code (printed at
/// start-up and written to `<data>/setup-code`); from this machine it
/// does not. The server listens on every address; the test reaches it
/// through this machine's own non-loopback address.
#[tokio::test]
async fn setup_from_another_machine_needs_the_code() {
    let t = common::start_with(|c| c.addr = "0.0.0.0:0".parse().unwrap()).await;
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    probe
        .connect("10.255.255.255:9")
        .expect("a route off this machine");
    let ip = probe.local_addr().unwrap().ip();
    assert!(!ip.is_loopback(), "no non-loopback address to test from");
    let url = format!("http://{ip}:{}/api/v1/setup", t.server.addr.port());
    let code_file = t.data_dir().join("setup-code");
    let code = std::fs::read_to_string(&code_file).unwrap();
    let setup = |body: Value| t.http.post(&url).json(&body).send();
    let res = setup(json!({"username": "remote", "password": "remote password 1"}))
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("setup code"));
    let res =
        setup(json!({"username": "remote", "password": "remote password 1", "setupCode": "nope"}))
            .await
            .unwrap();
    assert_eq!(res.status(), 422);
    let res =
        setup(json!({"username": "remote", "password": "remote password 1", "setupCode": code}))
            .await
            .unwrap();
    assert_eq!(res.status(), 201);
    t.shutdown().await;
}

/// L4: the log download is streamed page by page, and gives the output
/// back as written (line ends included), however long.
#[tokio::test]
async fn the_log_download_streams_the_output_as_written() {
    let t = common::start().await;
    let token = t.setup_admin().await;
    let script = "printf 'one\\ntwo\\r\\n'; seq 1 12000; printf 'last'";
    let (run, _) =
        common::run_to_completion(&t, &token, "writer", &["sh", "-c", script], json!({})).await;
    let res = t
        .http
        .get(t.url(&format!("/api/v1/executions/{run}/log")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    let numbers: String = (1..=12000).map(|n| format!("{n}\n")).collect();
    assert_eq!(body, format!("one\ntwo\r\n{numbers}last"));
    // With each line's time in front (RFC 3339, ms, UTC).
    let stamped = t
        .http
        .get(t.url(&format!("/api/v1/executions/{run}/log?timestamps=true")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = stamped.split_inclusive('\n').collect();
    assert_eq!(lines.len(), 12003, "one, two, 12000 numbers, last");
    for (line, want) in lines.iter().zip(body.split_inclusive('\n')) {
        let (time, rest) = line.split_once(' ').unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(time).is_ok() && time.ends_with('Z'),
            "{line:?}"
        );
        assert_eq!(rest, want);
    }
    t.shutdown().await;
}

/// H1: environment values stored in the clear by an earlier version are
/// sealed at the next start, and still reach the process.
#[tokio::test]
async fn environments_stored_in_the_clear_are_sealed_at_start() {
    let t = common::start().await;
    let token = t.setup_admin().await;
    let id = create_agent(
        &t,
        &token,
        "legacy",
        &["sh", "-c", "echo \"$OLD\""],
        json!({}),
    )
    .await;
    let plain =
        std::collections::BTreeMap::from([("OLD".to_string(), "plain-old-value".to_string())]);
    yagura::db::agents::set_env(&t.server.state.db, &id, &plain)
        .await
        .unwrap();
    yagura::on_db!(&t.server.state.db, pool => sqlx::query("DELETE FROM settings WHERE key = 'secrets.env_sealed_v1'")
        .execute(pool)
        .await.map(|_| ()))
        .unwrap();
    let dir = t.shutdown().await;
    let t = common::start_in(dir, |_| {}).await;
    let env: String = yagura::on_db!(&t.server.state.db, pool => sqlx::query_scalar("SELECT env FROM agents WHERE id = $1")
        .bind(&id)
        .fetch_one(pool)
        .await)
        .unwrap();
    assert!(!env.contains("plain-old-value"), "{env}");
    let token = common::login_token(&t, common::ADMIN, common::PASSWORD).await;
    let run = start_execution(&t, &token, &id, "").await;
    wait_status(&t, &token, &run, &["completed"], Duration::from_secs(30)).await;
    assert_eq!(
        log_lines(&stored_events(&t, &token, &run).await),
        vec!["plain-old-value".to_string()]
    );
    t.shutdown().await;
}

/// H1: a value typed to look sealed is sealed like any other: it reaches
/// the process as typed, and no stored secret can be smuggled in as one.
#[tokio::test]
async fn a_value_that_looks_sealed_is_still_just_a_value() {
    let t = common::start().await;
    let token = t.setup_admin().await;
    let looks = "yagura-sealed:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let (_, lines) = common::run_to_completion(
        &t,
        &token,
        "looks-sealed",
        &["sh", "-c", "echo \"$X\""],
        json!({"env": {"X": looks}}),
    )
    .await;
    assert_eq!(lines, vec![looks.to_string()]);
    t.shutdown().await;
}

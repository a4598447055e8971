//! The native WebSocket endpoint `/ws`, against the real server.

use crate::common;

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::{
    self, client::IntoClientRequest, protocol::frame::coding::CloseCode, Message,
};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str) -> Socket {
    tokio_tungstenite::connect_async(url)
        .await
        .expect("upgrade")
        .0
}

/// The next text frame as JSON (skipping pings), within 5 s.
async fn next_json(ws: &mut Socket) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a frame within 5 s")
            .expect("socket open")
            .expect("frame");
        match msg {
            Message::Text(t) => return serde_json::from_str(&t).expect("JSON"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected text, got {other:?}"),
        }
    }
}

/// Reads until the server closes; returns the close code.
async fn close_code(ws: &mut Socket, within: Duration) -> u16 {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("closed in time");
        match msg {
            Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
            Some(Ok(Message::Close(None))) => return 1005,
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("socket error before close frame: {e}"),
            None => panic!("stream ended without close frame"),
        }
    }
}

#[tokio::test]
async fn a_good_token_gets_connected_and_pong() {
    let t = common::start().await;
    let token = t.setup_admin().await;
    let mut ws = connect(&t.ws_url(&format!("?token={token}"))).await;
    let hello = next_json(&mut ws).await;
    assert_eq!(hello["type"], "connected");
    assert!(hello["connectionId"].as_str().unwrap().starts_with("conn_"));
    assert_eq!(hello["user"]["username"], common::ADMIN);
    assert!(hello["user"]["id"].as_str().unwrap().len() == 36);
    assert!(hello["timestamp"].as_str().unwrap().ends_with('Z'));

    ws.send(Message::text(json!({"type": "ping"}).to_string()))
        .await
        .unwrap();
    let pong = next_json(&mut ws).await;
    assert_eq!(pong["type"], "pong");
    assert!(pong["timestamp"].is_string());
    t.shutdown().await;
}

#[tokio::test]
async fn bad_expired_or_missing_credentials_close_with_4001() {
    let t = common::start().await;
    let token = t.setup_admin().await;
    let now = chrono::Utc::now().timestamp();
    let claims = |exp: i64| json!({"sub": "x", "iss": "yagura", "exp": exp, "iat": now});
    // A real user's token, expired an hour ago.
    let me: Value = t
        .http
        .get(t.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let expired = common::sign_token(
        &t.data_dir(),
        json!({"sub": me["id"], "iss": "yagura", "exp": now - 3600, "iat": now - 7200}),
    );
    let unknown_user = common::sign_token(&t.data_dir(), claims(now + 3600));
    for query in [
        "?token=garbage".to_string(),
        format!("?token={expired}"),
        format!("?token={unknown_user}"),
        String::new(),
    ] {
        let mut ws = connect(&t.ws_url(&query)).await;
        // Without a credential the socket waits 5 s for a first frame that
        // names another dialect (see DIALECTS), then closes.
        assert_eq!(
            close_code(&mut ws, Duration::from_secs(8)).await,
            4001,
            "query {query}"
        );
    }
    t.shutdown().await;
}

#[tokio::test]
async fn a_cookie_from_another_site_gets_no_upgrade() {
    let t = common::start().await;
    let token = t.setup_admin().await;
    let request = |origin: &str| {
        let mut req = t.ws_url("").into_client_request().unwrap();
        req.headers_mut()
            .insert("cookie", format!("yagura_session={token}").parse().unwrap());
        req.headers_mut().insert("origin", origin.parse().unwrap());
        req
    };
    match tokio_tungstenite::connect_async(request("http://evil.example")).await {
        Err(tungstenite::Error::Http(res)) => assert_eq!(res.status(), 403),
        other => panic!("expected 403, got {:?}", other.map(|(_, r)| r.status())),
    }
    // The same cookie from our own origin is fine.
    let (mut ws, _) = tokio_tungstenite::connect_async(request(&t.base))
        .await
        .unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "connected");
    t.shutdown().await;
}

#[tokio::test]
async fn malformed_frames_get_an_error_frame_then_4003() {
    let t = common::start().await;
    let token = t.setup_admin().await;
    let mut ws = connect(&t.ws_url(&format!("?token={token}"))).await;
    next_json(&mut ws).await;

    ws.send(Message::text("{not json")).await.unwrap();
    let err = next_json(&mut ws).await;
    assert_eq!(err["type"], "error");
    assert_eq!(err["code"], "INVALID_MESSAGE");
    assert!(err["message"].as_str().unwrap().contains("malformed JSON"));
    assert!(err["timestamp"].is_string());

    ws.send(Message::text(r#"{"type":"launch-missiles"}"#))
        .await
        .unwrap();
    let err = next_json(&mut ws).await;
    assert_eq!(err["code"], "INVALID_MESSAGE");
    assert!(err["message"].as_str().unwrap().contains("launch-missiles"));

    // Still usable between mistakes.
    ws.send(Message::text(r#"{"type":"ping"}"#)).await.unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "pong");

    ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    assert_eq!(next_json(&mut ws).await["code"], "INVALID_MESSAGE");
    assert_eq!(close_code(&mut ws, Duration::from_secs(5)).await, 4003);
    t.shutdown().await;
}

#[tokio::test]
async fn too_many_messages_close_with_4002() {
    let t = common::start_with(|c| c.ws.messages_per_minute = 5).await;
    let token = t.setup_admin().await;
    let mut ws = connect(&t.ws_url(&format!("?token={token}"))).await;
    next_json(&mut ws).await;
    for _ in 0..5 {
        ws.send(Message::text(r#"{"type":"ping"}"#)).await.unwrap();
        assert_eq!(next_json(&mut ws).await["type"], "pong");
    }
    ws.send(Message::text(r#"{"type":"ping"}"#)).await.unwrap();
    assert_eq!(next_json(&mut ws).await["code"], "RATE_LIMIT");
    assert_eq!(close_code(&mut ws, Duration::from_secs(5)).await, 4002);
    t.shutdown().await;
}

#[tokio::test]
async fn oversized_messages_are_refused() {
    let t = common::start().await;
    let token = t.setup_admin().await;
    let mut ws = connect(&t.ws_url(&format!("?token={token}"))).await;
    next_json(&mut ws).await;
    let huge = format!(r#"{{"type":"ping","pad":"{}"}}"#, "x".repeat(1 << 20));
    let _ = ws.send(Message::text(huge)).await;
    // 1009 = message too big.
    let code = close_code(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(code, u16::from(CloseCode::Size));
    t.shutdown().await;
}

#[tokio::test]
async fn a_silent_client_is_closed_after_the_idle_timeout() {
    let t = common::start_with(|c| {
        c.ws.idle_timeout = Duration::from_millis(1000);
        c.ws.ping_interval = Duration::from_secs(60);
    })
    .await;
    let token = t.setup_admin().await;
    let mut silent = connect(&t.ws_url(&format!("?token={token}"))).await;
    next_json(&mut silent).await;
    let started = tokio::time::Instant::now();
    let code = close_code(&mut silent, Duration::from_secs(5)).await;
    assert_eq!(code, 1000);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "closed after {:?}",
        started.elapsed()
    );
    t.shutdown().await;
}

#[tokio::test]
async fn server_pings_keep_an_answering_client_alive() {
    let t = common::start_with(|c| {
        c.ws.idle_timeout = Duration::from_millis(1500);
        c.ws.ping_interval = Duration::from_millis(300);
    })
    .await;
    let token = t.setup_admin().await;
    // tungstenite answers pings by itself while it reads, as browsers do.
    let mut alive = connect(&t.ws_url(&format!("?token={token}"))).await;
    next_json(&mut alive).await;
    let until = tokio::time::Instant::now() + Duration::from_millis(3000);
    let mut pings = 0;
    while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(until, alive.next()).await {
        match msg {
            Message::Ping(_) => pings += 1,
            Message::Close(c) => panic!("closed while answering pings: {c:?}"),
            _ => {}
        }
    }
    assert!(pings >= 5, "server sent {pings} pings");
    alive
        .send(Message::text(r#"{"type":"ping"}"#))
        .await
        .unwrap();
    assert_eq!(next_json(&mut alive).await["type"], "pong");
    t.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_sockets_with_1001() {
    let t = common::start().await;
    let token = t.setup_admin().await;
    let mut ws = connect(&t.ws_url(&format!("?token={token}"))).await;
    next_json(&mut ws).await;
    let server = t.server;
    let waiter = tokio::spawn(async move { close_code(&mut ws, Duration::from_secs(5)).await });
    server.shutdown().await.unwrap();
    assert_eq!(waiter.await.unwrap(), 1001);
}

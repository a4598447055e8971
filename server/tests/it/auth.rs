//! Accounts, sign-in and page access, against the real server.

use crate::common;

use crate::common::{ADMIN, PASSWORD};
use serde_json::{json, Value};

#[tokio::test]
async fn first_start_creates_a_private_store() {
    let t = common::start().await;
    let data = t.data_dir();
    // On PostgreSQL the data dir holds the keys and worktrees, no database.
    assert_eq!(data.join("yagura.db").exists(), !common::on_postgres());
    let secret = std::fs::read_to_string(data.join("jwt-secret")).unwrap();
    assert!(hex::decode(secret.trim()).unwrap().len() >= 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("jwt-secret"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "secret must be private");
        let mode = std::fs::metadata(&data).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "data dir must be private");
    }
    if let yagura::db::Db::Sqlite(pool) = &t.server.state.db {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
    }
    let health = t.http.get(t.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    t.shutdown().await;
}

#[tokio::test]
async fn setup_then_login_then_the_api_with_the_token() {
    let t = common::start().await;
    // Before setup every page leads to the setup page.
    let res = t.http.get(t.url("/executions")).send().await.unwrap();
    assert!(res.status().is_redirection());
    assert_eq!(res.headers()["location"], "/setup");

    t.setup_admin().await;
    // Setup happens once.
    let again = t
        .http
        .post(t.url("/api/v1/setup"))
        .json(&json!({"username": "mallory", "password": "another password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);

    let res = t.login(ADMIN, PASSWORD).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let token = body["token"].as_str().unwrap();
    assert!(body["expiresAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(body["user"]["username"], ADMIN);
    assert_eq!(body["user"]["role"], "admin");

    let me: Value = t
        .http
        .get(t.url("/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], ADMIN);

    for bad in [None, Some("garbage"), Some(&token[..token.len() - 2])] {
        let mut req = t.http.get(t.url("/api/v1/me"));
        if let Some(b) = bad {
            req = req.bearer_auth(b);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "unauthorized");
    }

    // Pages: anonymous → login (remembering where to go), signed in → the page.
    let res = t.http.get(t.url("/executions")).send().await.unwrap();
    assert_eq!(res.headers()["location"], "/login?next=/executions");
    let res = t
        .http
        .get(t.url("/executions"))
        .header("cookie", format!("yagura_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("<h1"), "{html}");
    assert!(html.contains("Executions"));
    t.shutdown().await;
}

#[tokio::test]
async fn wrong_credentials_give_no_hint_and_are_throttled() {
    let t = common::start().await;
    t.setup_admin().await;

    let wrong_password = t.login(ADMIN, "wrong password!").await;
    assert_eq!(wrong_password.status(), 401);
    let a: Value = wrong_password.json().await.unwrap();
    let unknown_user = t.login("nobody", "wrong password!").await;
    assert_eq!(unknown_user.status(), 401);
    let b: Value = unknown_user.json().await.unwrap();
    assert_eq!(a, b, "the answer must not tell which part was wrong");

    // Five failures for one account from one address (one above, four
    // here) lock that pair.
    for _ in 0..4 {
        assert_eq!(t.login(ADMIN, "wrong password!").await.status(), 401);
    }
    // Locked now: even the right password is refused until the lock ends.
    let locked = t.login(ADMIN, PASSWORD).await;
    assert_eq!(locked.status(), 429);
    let retry: u64 = locked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "retry-after {retry}");
    t.shutdown().await;
}

/// M2: a parallel burst is counted whole (each attempt before its hash),
/// so 40 guesses at once get at most five hashes; the rest wait 429.
#[tokio::test]
async fn a_parallel_burst_cannot_outrun_the_throttle() {
    let t = common::start().await;
    t.setup_admin().await;
    let burst = (0..40).map(|_| t.login(ADMIN, "wrong password!"));
    let statuses: Vec<u16> = futures::future::join_all(burst)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked + refused, 40, "{statuses:?}");
    assert!(checked <= 5, "{checked} passwords checked: {statuses:?}");
    t.shutdown().await;
}

#[tokio::test]
async fn malformed_requests_get_clear_errors() {
    let t = common::start().await;
    let res = t
        .http
        .post(t.url("/api/v1/setup"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid");

    let res = t
        .http
        .post(t.url("/api/v1/setup"))
        .json(&json!({"username": "a b", "password": "long enough"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let res = t
        .http
        .post(t.url("/api/v1/setup"))
        .json(&json!({"username": "admin", "password": "short"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    // Nothing was created by the failed attempts.
    t.setup_admin().await;
    t.shutdown().await;
}

#[tokio::test]
async fn the_login_form_sets_a_safe_cookie_and_refuses_other_sites() {
    let t = common::start().await;
    t.setup_admin().await;
    let form = [
        ("username", ADMIN),
        ("password", PASSWORD),
        ("next", "/runners"),
    ];

    // A browser without JavaScript posts the form and follows a redirect.
    let res = t
        .http
        .post(t.url("/api/login"))
        .header("accept", "text/html")
        .header("origin", &t.base)
        .header("referer", t.url("/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(res.headers()["location"], "/runners");
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("yagura_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );

    // A wrong password returns to the login page with an error code.
    let res = t
        .http
        .post(t.url("/api/login"))
        .header("accept", "text/html")
        .form(&[("username", ADMIN), ("password", "nope nope nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(
        res.headers()["location"],
        "/login?error=invalid_credentials"
    );
    assert!(res.headers().get("set-cookie").is_none());

    // An open redirect is not followed.
    let res = t
        .http
        .post(t.url("/api/login"))
        .header("accept", "text/html")
        .form(&[
            ("username", ADMIN),
            ("password", PASSWORD),
            ("next", "//evil.example/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["location"], "/");

    // Another site's page cannot post to us.
    let res = t
        .http
        .post(t.url("/api/login"))
        .header("origin", "http://evil.example")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    t.shutdown().await;
}

/// A server function's error answers with the status it stands for, not
/// 500: a wrong password is 401, a record that is not there 404, and only
/// real failures count as server errors.
#[tokio::test]
async fn server_function_errors_carry_their_status() {
    let t = common::start().await;
    let token = t.setup_admin().await;
    let res = t
        .http
        .post(t.url("/api/login"))
        .form(&[("username", ADMIN), ("password", "nope nope nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = t
        .http
        .post(t.url("/api/agents/get"))
        .bearer_auth(&token)
        .form(&[("id", "00000000-0000-4000-8000-000000000000")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    // The body is still the error, as the browser's side decodes it.
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body, serde_json::json!("NotFound"), "{body}");
    t.shutdown().await;
}

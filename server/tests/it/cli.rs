//! The `yagura` command line, run as a real process.

use crate::common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn yagura(args: &[&str], stdin: &str) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_yagura"));
    command.env_remove("DATABASE_URL");
    // The same store as the server a test starts on this data directory.
    let data_dir = args
        .iter()
        .position(|a| *a == "--data-dir")
        .map(|i| args[i + 1]);
    if let Some(url) = data_dir.and_then(|d| common::postgres_url(std::path::Path::new(d))) {
        command.env("DATABASE_URL", url);
    }
    let mut child = command
        .args(args)
        .env_remove("YAGURA_DATA_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run yagura");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn help_and_version() {
    let help = yagura(&["--help"], "");
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("serve") && text.contains("user"), "{text}");
    let serve_help = String::from_utf8_lossy(&yagura(&["serve", "--help"], "").stdout).to_string();
    for flag in [
        "--addr",
        "--data-dir",
        "--database-url",
        "YAGURA_ADDR",
        "YAGURA_DATA_DIR",
        "DATABASE_URL",
    ] {
        assert!(serve_help.contains(flag), "missing {flag} in {serve_help}");
    }
    let version = yagura(&["--version"], "");
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("yagura {}", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test]
async fn user_create_reads_the_password_from_stdin_and_the_server_accepts_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();

    let out = yagura(
        &[
            "user",
            "create",
            "--username",
            "grace",
            "--admin",
            "--password-stdin",
            "--data-dir",
            data_arg,
        ],
        "hopper-1906\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("created admin user grace"));

    // The same name again (any case) is refused with a clear message.
    let out = yagura(
        &[
            "user",
            "create",
            "--username",
            "GRACE",
            "--password-stdin",
            "--data-dir",
            data_arg,
        ],
        "whatever-123\n",
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("taken"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A short password is refused.
    let out = yagura(
        &[
            "user",
            "create",
            "--username",
            "alan",
            "--password-stdin",
            "--data-dir",
            data_arg,
        ],
        "short\n",
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 8"));

    // Without --password-stdin there is no way to pass a password.
    let out = yagura(
        &[
            "user",
            "create",
            "--username",
            "alan",
            "--data-dir",
            data_arg,
        ],
        "",
    );
    assert!(!out.status.success());

    // A PostgreSQL URL is refused plainly rather than half-working.
    let out = yagura(
        &[
            "user",
            "create",
            "--username",
            "alan",
            "--password-stdin",
            "--database-url",
            "postgres://x/y",
            "--data-dir",
            data_arg,
        ],
        "long enough 1\n",
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("PostgreSQL"));

    // The server started on that data dir lets grace in, newline stripped.
    let t = common::start_in(dir, |_| {}).await;
    assert_eq!(t.login("grace", "hopper-1906").await.status(), 200);
    assert_eq!(t.login("grace", "hopper-1906\n").await.status(), 401);
    t.shutdown().await;
}

#[tokio::test]
async fn api_key_create_prints_a_key_that_signs_in_as_its_user() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();
    let out = yagura(
        &[
            "user",
            "create",
            "--username",
            "vera",
            "--role",
            "viewer",
            "--password-stdin",
            "--data-dir",
            data_arg,
        ],
        "long enough 1\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("created viewer user vera"));

    let out = yagura(
        &[
            "api-key",
            "create",
            "--name",
            "ci",
            "--user",
            "vera",
            "--data-dir",
            data_arg,
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(key.starts_with("yak_") && key.len() > 30, "{key}");
    // An unknown user is a clear error.
    let out = yagura(
        &[
            "api-key",
            "create",
            "--name",
            "ci",
            "--user",
            "nobody",
            "--data-dir",
            data_arg,
        ],
        "",
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nobody"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let t = common::start_in(dir, |_| {}).await;
    let res = t
        .http
        .get(t.url("/api/v1/me"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let me: serde_json::Value = res.json().await.unwrap();
    assert_eq!(me["username"], "vera");
    assert_eq!(me["role"], "viewer");
    // A viewer's key cannot start anything.
    let res = t
        .http
        .post(t.url("/api/v1/agents"))
        .header("x-api-key", &key)
        .json(&serde_json::json!({"name": "x", "agentType": "Custom", "command": ["true"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    t.shutdown().await;
}

#[tokio::test]
async fn user_invite_and_reset_link_print_links_that_work() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();
    // No admin yet: a clear error.
    let out = yagura(&["user", "invite", "--data-dir", data_arg], "");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no admin yet"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = yagura(
        &[
            "user",
            "create",
            "--username",
            "root",
            "--admin",
            "--password-stdin",
            "--data-dir",
            data_arg,
        ],
        "long enough 1\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = yagura(
        &[
            "user",
            "invite",
            "--role",
            "viewer",
            "--hours",
            "2",
            "--public-url",
            "https://yagura.example",
            "--data-dir",
            data_arg,
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let token = link
        .strip_prefix("https://yagura.example/invite/")
        .unwrap_or_else(|| panic!("{link}"))
        .to_string();
    let out = yagura(
        &[
            "user",
            "reset-link",
            "--username",
            "root",
            "--data-dir",
            data_arg,
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reset = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let reset = reset.rsplit('/').next().unwrap().to_string();
    // A bad role is refused by the command line itself.
    let out = yagura(
        &["user", "invite", "--role", "owner", "--data-dir", data_arg],
        "",
    );
    assert!(!out.status.success());

    let t = common::start_in(dir, |_| {}).await;
    let res = t
        .http
        .post(t.url("/api/v1/invitations/accept"))
        .json(&serde_json::json!({"token": token, "username": "vic", "password": "long enough 2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let joined: serde_json::Value = res.json().await.unwrap();
    assert_eq!(joined["user"]["role"], "viewer");
    // The reset link sets root's password (a forgotten admin password).
    let res = t
        .http
        .post(t.url("/api/v1/invitations/accept"))
        .json(&serde_json::json!({"token": reset, "username": "", "password": "a brand new one"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        201,
        "{}",
        res.text().await.unwrap_or_default()
    );
    assert_eq!(t.login("root", "long enough 1").await.status(), 401);
    assert_eq!(t.login("root", "a brand new one").await.status(), 200);
}

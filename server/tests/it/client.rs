//! The command-line client (`yagura login`, `ls`, `run`, `logs`) as a real
//! process against a real server: output as the agent wrote it, the run's
//! outcome as the exit code, and a follow that outlives a server restart.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{self, TestServer};

/// `yagura ARGS` with a home of its own (no saved login leaks in).
fn client(home: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_yagura"));
    cmd.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env_remove("YAGURA_URL")
        .env_remove("YAGURA_API_KEY")
        .env_remove("YAGURA_TOKEN")
        .env_remove("YAGURA_CLIENT_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// `yagura ARGS` with this home and standard input, to its end.
async fn yagura(home: &std::path::Path, args: &[&str], stdin: &str) -> Output {
    let mut cmd = client(home);
    cmd.args(args);
    output(cmd, stdin).await
}

/// Runs the client to its end, off the runtime (the server under test
/// shares it).
async fn output(mut cmd: Command, stdin: &str) -> Output {
    let stdin = stdin.to_string();
    tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().expect("run yagura");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn agent(t: &TestServer, token: &str, name: &str, script: &str) -> String {
    common::create_agent(t, token, name, &["sh", "-c", script], json!({})).await
}

#[tokio::test]
async fn login_ls_run_and_logs() {
    let t = common::start().await;
    let admin = t.setup_admin().await;
    agent(
        &t,
        &admin,
        "Greeter",
        "printf '\\033[32mhello\\033[0m\\n'; echo '::progress 50 halfway'; echo warning >&2; echo done",
    )
    .await;
    agent(&t, &admin, "Failing", "echo trying; exit 3").await;
    let home = tempfile::tempdir().unwrap();

    // Without a server or a login: a clear error.
    let out = yagura(home.path(), &["ls"], "").await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("yagura login"),
        "{}",
        text(&out.stderr)
    );
    // A wrong password: refused, nothing saved.
    let out = yagura(
        home.path(),
        &[
            "login",
            "--url",
            &t.base,
            "--username",
            common::ADMIN,
            "--password-stdin",
        ],
        "wrong password\n",
    )
    .await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("invalid username or password"),
        "{}",
        text(&out.stderr)
    );
    // Signed in: an API key is saved, readable by its owner only.
    let out = yagura(
        home.path(),
        &[
            "login",
            "--url",
            &t.base,
            "--username",
            common::ADMIN,
            "--password-stdin",
        ],
        &format!("{}\n", common::PASSWORD),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let saved = home.path().join(".config/yagura/client.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    assert!(
        file["apiKey"].as_str().unwrap().starts_with("yak_"),
        "{file}"
    );

    // Run and follow: stdout and stderr as written (escapes kept), the
    // outcome as the exit code.
    let out = yagura(home.path(), &["run", "greeter", "--follow"], "").await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    // (Marker lines are output too; on a terminal they also drive a bar.)
    assert_eq!(
        text(&out.stdout),
        "\u{1b}[32mhello\u{1b}[0m\n::progress 50 halfway\ndone\n"
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("warning\n") && err.contains("completed"),
        "{err}"
    );
    let out = yagura(home.path(), &["run", "Failing", "-f"], "").await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "trying\n");
    // An unknown agent: the ones there are.
    let out = yagura(home.path(), &["run", "nobody"], "").await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("Greeter"),
        "{}",
        text(&out.stderr)
    );

    // ls: the newest first, by short id.
    let out = yagura(home.path(), &["ls"], "").await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listing = text(&out.stdout);
    let rows: Vec<&str> = listing.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{listing}");
    assert!(
        rows[0].contains("Failing") && rows[0].contains("failed"),
        "{listing}"
    );
    assert!(
        rows[1].contains("Greeter") && rows[1].contains("completed"),
        "{listing}"
    );
    let short = rows[1].split_whitespace().next().unwrap().to_string();
    // logs by that short id: the stored output.
    let out = yagura(home.path(), &["logs", &short], "").await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let log = text(&out.stdout);
    assert!(
        log.contains("hello") && log.contains("warning") && log.contains("done"),
        "{log}"
    );
    // An id as people paste it (upper case) follows the same run.
    let full = rows[1].split_whitespace().next().unwrap().to_string();
    let page: Value = t
        .http
        .get(t.url("/api/v1/executions?limit=5"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .find(|id| id.starts_with(&full))
        .unwrap();
    let out = yagura(home.path(), &["logs", &id.to_uppercase(), "--follow"], "").await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("done"));
    // An unknown run, or a wrong URL: said at once, not retried.
    let out = yagura(
        home.path(),
        &["logs", "00000000-0000-4000-8000-000000000000", "-f"],
        "",
    )
    .await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no run"),
        "{}",
        text(&out.stderr)
    );
    let out = yagura(
        home.path(),
        &[
            "logs",
            &id,
            "-f",
            "--url",
            &format!("{}/nothing-here", t.base),
        ],
        "",
    )
    .await;
    assert!(!out.status.success());
    // Both environment variables set: the API key wins, no clap error.
    let key = file["apiKey"].as_str().unwrap().to_string();
    let out = output(
        {
            let mut c = client(home.path());
            c.args(["ls"])
                .env("YAGURA_URL", &t.base)
                .env("YAGURA_API_KEY", &key)
                .env("YAGURA_TOKEN", "not-a-token");
            c
        },
        "",
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Logging in again replaces the saved key and revokes the old one.
    let out = yagura(
        home.path(),
        &[
            "login",
            "--url",
            &t.base,
            "--username",
            common::ADMIN,
            "--password-stdin",
        ],
        &format!("{}\n", common::PASSWORD),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let res = t
        .http
        .get(t.url("/api/v1/me"))
        .header("X-API-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "the first key was revoked");
    // Flags win over the saved login: a bad key is refused clearly.
    let out = yagura(home.path(), &["ls", "--api-key", "yak_not_a_real_key"], "").await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("not signed in"),
        "{}",
        text(&out.stderr)
    );
    t.shutdown().await;
}

/// `yagura logs --follow` through a server restart: it reconnects,
/// resubscribes from the last line it printed, and prints every stored
/// line exactly once, then exits with the run's outcome.
#[tokio::test]
async fn a_follow_outlives_a_server_restart() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let t = common::start_with(|c| c.addr = addr).await;
    let admin = t.setup_admin().await;
    let id = agent(
        &t,
        &admin,
        "Counter",
        "i=1; while [ $i -le 400 ]; do echo line-$i; i=$((i+1)); sleep 0.02; done",
    )
    .await;
    let run = common::start_execution(&t, &admin, &id, "").await;
    let home = tempfile::tempdir().unwrap();
    let mut cmd = client(home.path());
    cmd.args([
        "logs", &run, "--follow", "--url", &t.base, "--token", &admin,
    ]);
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(());
            lines.push(line);
        }
        lines
    });
    // A few lines in, the server goes down and comes back on its port.
    tokio::task::spawn_blocking(move || {
        for _ in 0..5 {
            rx.recv_timeout(Duration::from_secs(30))
                .expect("lines arrive");
        }
    })
    .await
    .unwrap();
    let dir = t.shutdown().await;
    let t = common::start_in(dir, |c| c.addr = addr).await;
    let status = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let printed = reader.join().unwrap();
    // What the store holds is what was printed: each line once, in order.
    let events = common::stored_events(&t, &admin, &run).await;
    let stored: Vec<String> = events
        .iter()
        .filter(|e| e["type"] == "agent.log" && e["stream"] == "stdout")
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(stored.len() >= 5, "{stored:?}");
    assert_eq!(printed, stored);
    // The restart ended the run (it was this server's own process): the
    // exit code says it failed, and the client said it reconnected.
    let run = common::execution(&t, &admin, &run).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(status.status.code(), Some(1));
    let err = text(&status.stderr);
    assert!(err.contains("reconnect"), "{err}");
    t.shutdown().await;
}

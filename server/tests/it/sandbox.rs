//! The agent sandbox (Landlock): an agent reads the system and writes its
//! own work dir and tmp, and can read or write nothing of Yagura's.

use std::time::Duration;

use serde_json::json;
use yagura::executions::sandbox::{self, Support};

use crate::common::{self, create_agent, log_lines, start_execution, stored_events, wait_status};

/// The kernel's Landlock ABI (the test fails without Landlock).
fn landlock() -> u32 {
    match sandbox::support() {
        Support::Landlock { abi } => abi,
        Support::Unavailable(why) => {
            // The machines this project runs on have Landlock: fail loudly
            // rather than pass without testing anything.
            panic!("this test needs Landlock: {why}");
        }
    }
}

/// H2: `cat` / `ls` of the data dir, the secrets, the database and another
/// run's work dir are refused; the agent's own work dir and tmp work.
#[tokio::test]
async fn an_agent_cannot_touch_yaguras_data_or_other_runs() {
    let abi = landlock();
    let t = common::start().await;
    let token = t.setup_admin().await;
    let data = t.data_dir();

    // Another run, holding a file in its work dir.
    let other = create_agent(
        &t,
        &token,
        "other",
        &["sh", "-c", "echo private > mine.txt; echo ready; sleep 30"],
        json!({}),
    )
    .await;
    let other_run = start_execution(&t, &token, &other, "").await;
    common::eventually("the other run is ready", 20, || async {
        let stored = stored_events(&t, &token, &other_run).await;
        log_lines(&stored).iter().any(|l| l == "ready")
    })
    .await;
    let other_dir = data.join("work").join(&other_run);
    assert!(other_dir.join("mine.txt").exists());

    let d = data.display();
    let o = other_dir.display();
    let script = format!(
        r#"
for p in "{d}/jwt-secret" "{d}/secrets-key" "{d}/yagura.db" "{o}/mine.txt"; do
  if cat "$p" >/dev/null 2>&1; then echo "READ $p"; else echo "DENIED cat"; fi
done
for p in "{d}" "{d}/work" "{o}"; do
  if ls "$p" >/dev/null 2>&1; then echo "LISTED $p"; else echo "DENIED ls"; fi
done
if echo x > "{d}/planted" 2>/dev/null; then echo "WROTE data"; else echo "DENIED write"; fi
if echo x > "{o}/planted" 2>/dev/null; then echo "WROTE other"; else echo "DENIED write"; fi
if kill -0 $PPID 2>/dev/null; then echo "SIGNALLED server"; else echo "DENIED signal"; fi
echo mine > own.txt && cat own.txt
echo t > "$TMPDIR/t" && echo "tmp ok"
ls /usr/bin >/dev/null && echo "system ok"
"#
    );
    let (_, lines) =
        common::run_to_completion(&t, &token, "probe", &["sh", "-c", &script], json!({})).await;
    let denied = lines.iter().filter(|l| l.starts_with("DENIED")).count();
    // Signals are scoped to the sandbox since ABI 6 (Linux 6.12).
    let expected = if abi >= 6 { 10 } else { 9 };
    assert!(
        denied >= expected
            && !lines.iter().any(|l| l.starts_with("READ")
                || l.starts_with("LISTED")
                || l.starts_with("WROTE")),
        "every access to Yagura's files is refused: {lines:#?}"
    );
    for ok in ["mine", "tmp ok", "system ok"] {
        assert!(lines.iter().any(|l| l == ok), "{ok:?} missing: {lines:#?}");
    }
    assert!(!data.join("planted").exists());
    assert!(!other_dir.join("planted").exists());
    assert_eq!(
        std::fs::read_to_string(other_dir.join("mine.txt")).unwrap(),
        "private\n"
    );
    t.shutdown().await;
}

/// The built-in demo preset still works inside the sandbox, and an
/// agent's extra paths are readable and writable.
#[tokio::test]
async fn presets_and_extra_paths_work_sandboxed() {
    landlock();
    let t = common::start().await;
    let token = t.setup_admin().await;
    let preset = app::model::PRESETS
        .iter()
        .find(|p| p.key == "demo")
        .unwrap();
    let mut command: Vec<&str> = preset.command.to_vec();
    // The preset's command, with short pauses so the test is quick.
    command.splice(2..2, ["--delay-ms", "5", "--confirm-secs", "1"]);
    let demo = create_agent(&t, &token, "demo", &command, json!({})).await;
    let run = start_execution(&t, &token, &demo, "-rf / --no-preserve-root").await;
    let done = wait_status(
        &t,
        &token,
        &run,
        &["completed", "failed"],
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(done["status"], "completed", "{done}");
    let lines = log_lines(&stored_events(&t, &token, &run).await);
    assert!(
        lines.iter().any(|l| l.contains("-rf / --no-preserve-root")),
        "the prompt reached the demo agent as its text, not as options: {lines:#?}"
    );

    let extra = tempfile::tempdir().unwrap();
    std::fs::write(extra.path().join("config"), "signed in\n").unwrap();
    let e = extra.path().display();
    let script = format!("cat {e}/config && echo more >> {e}/config");
    let (_, lines) = common::run_to_completion(
        &t,
        &token,
        "cli",
        &["sh", "-c", &script],
        json!({"sandboxPaths": [e.to_string()]}),
    )
    .await;
    assert!(lines.contains(&"signed in".to_string()), "{lines:?}");
    assert_eq!(
        std::fs::read_to_string(extra.path().join("config")).unwrap(),
        "signed in\nmore\n"
    );
    t.shutdown().await;
}

/// `--sandbox off` runs agents as before (the choice is the operator's).
#[tokio::test]
async fn sandbox_off_is_unsandboxed() {
    let t = common::start_with(|c| c.exec.sandbox = yagura::config::SandboxMode::Off).await;
    let token = t.setup_admin().await;
    let d = t.data_dir();
    let script = format!("ls {}", d.display());
    let (_, lines) =
        common::run_to_completion(&t, &token, "reader", &["sh", "-c", &script], json!({})).await;
    assert!(lines.iter().any(|l| l == "jwt-secret"), "{lines:#?}");
    t.shutdown().await;
}

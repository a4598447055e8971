//! `yagura doctor`: what protects this installation, checked on the
//! machine itself. It says whether agents run sandboxed (and proves it by
//! running a sandboxed `ls` of the data dir) and whether the data dir's
//! secrets are private to the user running Yagura, and has SQLite check
//! the database file.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use crate::config::SandboxMode;
use crate::executions::sandbox;

/// Prints the report; fails when something is unsafe, so scripts can check.
pub fn run(
    data_dir: &Path,
    mode: SandboxMode,
    database: Option<anyhow::Result<Vec<String>>>,
) -> anyhow::Result<()> {
    let mut problems = 0;
    match database {
        None => {}
        Some(Ok(found)) if found == ["ok"] => println!("database integrity: ok"),
        Some(Ok(found)) => {
            problems += 1;
            println!("database integrity: PROBLEM");
            for line in found.iter().take(20) {
                println!("  {line}");
            }
        }
        Some(Err(e)) => {
            problems += 1;
            println!("database integrity: PROBLEM: cannot check: {e:#}");
        }
    }
    let (active, words) = sandbox::describe(mode);
    println!("agent sandbox: {words}");
    if active {
        match prove(data_dir, mode) {
            Ok(()) => println!(
                "  checked: a sandboxed agent cannot list {} and can write its own work dir",
                data_dir.display()
            ),
            Err(e) => {
                problems += 1;
                println!("  PROBLEM: {e}");
            }
        }
    } else if mode != SandboxMode::Off {
        problems += 1;
    }
    if !data_dir.exists() {
        println!(
            "data dir: {} does not exist yet (made on first start)",
            data_dir.display()
        );
    } else {
        for name in ["", "jwt-secret", "secrets-key", "yagura.db", "setup-code"] {
            let path = data_dir.join(name);
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let bits = meta.permissions().mode() & 0o777;
            let open = bits & 0o077 != 0;
            problems += usize::from(open);
            println!(
                "{}: {:o}{}",
                path.display(),
                bits,
                if open {
                    "  PROBLEM: readable by other users (chmod go-rwx)"
                } else {
                    ""
                }
            );
        }
    }
    if problems > 0 {
        anyhow::bail!("{problems} problem(s) found");
    }
    Ok(())
}

/// Runs `ls <data dir>` and a write into a scratch work dir, both in the
/// sandbox an agent would get.
fn prove(data_dir: &Path, mode: SandboxMode) -> anyhow::Result<()> {
    let data_dir = &std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    let scratch = std::env::temp_dir().join(format!("yagura-doctor-{}", std::process::id()));
    let result = prove_in(&scratch, data_dir, mode);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn prove_in(scratch: &Path, data_dir: &Path, mode: SandboxMode) -> anyhow::Result<()> {
    let work = scratch.join("work");
    let tmp = scratch.join("tmp");
    std::fs::create_dir_all(&work)?;
    std::fs::create_dir_all(&tmp)?;
    let me = std::env::current_exe()?;
    let private = if data_dir.exists() {
        data_dir.to_path_buf()
    } else {
        scratch.to_path_buf()
    };
    let paths = sandbox::Paths::for_run(&work, &tmp, &me, &private, &[], None);
    let Some(prepared) = sandbox::for_mode(mode, &paths)? else {
        anyhow::bail!("no sandbox was built");
    };
    let prepared = std::sync::Arc::new(prepared);
    let sandboxed = |program: &str, args: &[&str]| -> std::io::Result<std::process::Output> {
        let mut cmd = Command::new(program);
        cmd.args(args).current_dir(&work);
        let prepared = prepared.clone();
        // SAFETY: apply_in_child makes only async-signal-safe calls.
        unsafe {
            cmd.pre_exec(move || prepared.apply_in_child());
        }
        cmd.output()
    };
    let listed = sandboxed("ls", &[&private.display().to_string()])?;
    let refused = String::from_utf8_lossy(&listed.stderr).contains("Permission denied");
    if listed.status.success() || !refused {
        anyhow::bail!(
            "a sandboxed ls of {} was not refused: {}",
            private.display(),
            String::from_utf8_lossy(&listed.stderr).trim()
        );
    }
    let wrote = sandboxed("sh", &["-c", "echo ok > proof && cat proof"])?;
    if !wrote.status.success() || wrote.stdout != b"ok\n" {
        anyhow::bail!(
            "a sandboxed agent could not write its work dir: {}",
            String::from_utf8_lossy(&wrote.stderr).trim()
        );
    }
    Ok(())
}

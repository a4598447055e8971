//! Installs what building and testing need, skipping what is already
//! there: the wasm32 target, wasm-bindgen-cli of exactly the version in
//! Cargo.lock (from crates.io), Debian's Chromium, the npm packages of
//! `end2end/`, PostgreSQL's client (`psql`), and schemathesis (from PyPI, into a virtualenv at
//! `target/py`). Nothing is downloaded from anywhere but the package
//! registries; no browser is fetched by Playwright.

use std::path::Path;
use std::process::Command;

use crate::{root, run_cmd, which, Result};

/// Everything, for `cargo xtask test`.
pub fn all() -> Result {
    build_tools()?;
    chromium()?;
    npm_packages()?;
    postgres_client()?;
    schemathesis()
}

/// `psql`, with which the PostgreSQL suite drops its test databases.
pub fn postgres_client() -> Result {
    if which("psql") {
        return Ok(());
    }
    apt_install("postgresql-client")
}

/// What `build` and `run` need.
pub fn build_tools() -> Result {
    wasm_target()?;
    wasm_bindgen_cli()
}

fn output(cmd: &mut Command) -> Option<String> {
    cmd.output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
}

fn wasm_target() -> Result {
    let installed =
        output(Command::new("rustup").args(["target", "list", "--installed"])).unwrap_or_default();
    if installed
        .lines()
        .any(|l| l.trim() == "wasm32-unknown-unknown")
    {
        return Ok(());
    }
    run_cmd(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))
}

/// The wasm-bindgen version Cargo.lock resolved; the CLI must match it.
pub fn locked_wasm_bindgen() -> Result<String> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock"))
        .map_err(|e| format!("Cargo.lock: {e}"))?;
    locked_version(&lock, "wasm-bindgen").ok_or_else(|| "wasm-bindgen is not in Cargo.lock".into())
}

fn locked_version(lock: &str, name: &str) -> Option<String> {
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == format!("name = \"{name}\"") {
            let version = lines
                .next()?
                .trim()
                .strip_prefix("version = \"")?
                .strip_suffix('"')?;
            return Some(version.to_string());
        }
    }
    None
}

fn wasm_bindgen_cli() -> Result {
    let want = locked_wasm_bindgen()?;
    let have = output(Command::new("wasm-bindgen").arg("--version")).unwrap_or_default();
    if have.split_whitespace().nth(1) == Some(want.as_str()) {
        return Ok(());
    }
    // Without --locked: the registry here lacks a crate version its lock file pins.
    run_cmd(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["install", "wasm-bindgen-cli", "--version", &want])
            .env("CARGO_PROFILE_RELEASE_LTO", "false"),
    )
}

fn chromium() -> Result {
    if Path::new("/usr/bin/chromium").exists() {
        return Ok(());
    }
    apt_install("chromium")
}

fn apt_install(package: &str) -> Result {
    let sudo: &[&str] = if is_root() { &[] } else { &["sudo", "-n"] };
    let apt = |args: &[&str]| {
        let mut all: Vec<&str> = sudo.to_vec();
        all.push("apt-get");
        all.extend_from_slice(args);
        let mut cmd = Command::new(all[0]);
        cmd.args(&all[1..]).env("DEBIAN_FRONTEND", "noninteractive");
        run_cmd(&mut cmd)
    };
    apt(&["update"])?;
    apt(&["install", "-y", "--no-install-recommends", package])
}

/// The virtualenv's Python, which runs `end2end/api/check.py`.
pub fn python() -> std::path::PathBuf {
    root().join("target/py/bin/python")
}

/// schemathesis, at the version `end2end/api/requirements.txt` pins,
/// reinstalled only when that file changes.
pub fn schemathesis() -> Result {
    let venv = root().join("target/py");
    let requirements = root().join("end2end/api/requirements.txt");
    let want = std::fs::read_to_string(&requirements)
        .map_err(|e| format!("{}: {e}", requirements.display()))?;
    let marker = venv.join("installed-requirements.txt");
    if venv.join("bin/st").exists()
        && std::fs::read_to_string(&marker).is_ok_and(|have| have == want)
    {
        return Ok(());
    }
    if !python().exists() {
        let make = || run_cmd(Command::new("python3").arg("-m").arg("venv").arg(&venv));
        if make().is_err() {
            // Debian keeps venv's pip bootstrap in its own package.
            apt_install("python3-venv")?;
            make()?;
        }
    }
    run_cmd(
        Command::new(python())
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "-q",
                "-r",
            ])
            .arg(&requirements),
    )?;
    std::fs::write(&marker, want).map_err(|e| format!("{}: {e}", marker.display()))
}

fn is_root() -> bool {
    output(Command::new("id").arg("-u")).is_some_and(|s| s.trim() == "0")
}

fn npm_packages() -> Result {
    let dir = root().join("end2end");
    if !which("npm") {
        return Err("npm is not installed (Debian: apt-get install nodejs npm)".into());
    }
    let marker = dir.join("node_modules/.package-lock.json");
    let lock = dir.join("package-lock.json");
    let fresh = match (std::fs::metadata(&marker), std::fs::metadata(&lock)) {
        (Ok(m), Ok(l)) => m.modified().ok() >= l.modified().ok(),
        _ => false,
    };
    if fresh && dir.join("node_modules/@playwright/test").exists() {
        return Ok(());
    }
    run_cmd(
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
            .current_dir(&dir),
    )
}

#[cfg(test)]
mod tests {
    use super::locked_version;

    #[test]
    fn reads_a_version_from_a_lock_file() {
        let lock = "[[package]]\nname = \"wasm-bindgen-macro\"\nversion = \"9\"\n\n[[package]]\nname = \"wasm-bindgen\"\nversion = \"0.2.130\"\n";
        assert_eq!(
            locked_version(lock, "wasm-bindgen").as_deref(),
            Some("0.2.130")
        );
        assert_eq!(locked_version(lock, "leptos"), None);
    }
}

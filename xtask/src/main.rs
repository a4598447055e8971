//! Yagura's build tool: `cargo xtask <command>`.
//!
//!   setup       install what the build and the tests need (idempotent)
//!   css         compile the stylesheet (Tailwind classes, by encre-css)
//!   build-site  build the browser bundle into target/site
//!   build       build-site, then the release binary (which embeds the site)
//!   run [ARGS]  build, then `yagura serve ARGS`
//!   test        setup, then fmt and clippy, then every test: Rust unit +
//!               integration, Playwright (SSR and hydrated)
//!   api-check   the release binary against its own OpenAPI document, by
//!               schemathesis (also part of `test`)
//!   layers      the server's module graph, checked against its layering
//!   soak [ARGS] build, then the soak and the kill -9 loop against the
//!               release binary (default 10 minutes and 20 kills), tables
//!               written into docs/reliability.md; ARGS go to `soak`
//!               (`--minutes N`, `--secs N`, `--crash-loops N`, …)
//!
//! Why not cargo-leptos: it takes ~16 minutes to install on this class of
//! machine, it would fetch tools from GitHub without `no_downloads`, and the
//! single binary must be compiled *after* the site exists (it embeds it),
//! which is an ordering cargo-leptos does not give. These steps are few
//! and plain, so they live here.

mod css;
mod layers;
mod setup;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("setup") => setup::all(),
        Some("css") => css::build(),
        Some("build-site") => setup::build_tools().and_then(|_| build_site()),
        Some("build") => setup::build_tools().and_then(|_| build()),
        Some("run") => setup::build_tools()
            .and_then(|_| build())
            .and_then(|_| run(&args[1..])),
        Some("test") => setup::all().and_then(|_| test()),
        Some("api-check") => setup::schemathesis()
            .and_then(|_| setup::build_tools())
            .and_then(|_| build())
            .and_then(|_| api_check()),
        Some("test-postgres") => setup::postgres_client().and_then(|_| test_postgres()),
        Some("layers") => layers::report(),
        Some("soak") => setup::build_tools()
            .and_then(|_| build())
            .and_then(|_| soak(&args[1..])),
        _ => {
            eprintln!(
                "usage: cargo xtask <setup|css|build-site|build|run [ARGS]|test|test-postgres|api-check|layers|soak [ARGS]>"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (this crate lives in `<root>/xtask`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

pub fn site_dir() -> PathBuf {
    root().join("target/site")
}

/// Runs a command in the workspace root, failing on a non-zero exit.
pub fn run_cmd(cmd: &mut Command) -> Result {
    eprintln!("xtask: $ {}", describe(cmd));
    if cmd.get_current_dir().is_none() {
        cmd.current_dir(root());
    }
    let started = std::time::Instant::now();
    let status = cmd
        .status()
        .map_err(|e| format!("{}: {e}", describe(cmd)))?;
    // Each step's time, so a slow CI run says where its minutes went.
    eprintln!(
        "xtask: {:.0} s for `{}`",
        started.elapsed().as_secs_f64(),
        describe(cmd)
    );
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed with {status}", describe(cmd)))
    }
}

fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program().to_string_lossy().into_owned())
        .chain(cmd.get_args().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// The browser bundle: stylesheet, static files, wasm and its JS glue.
fn build_site() -> Result {
    let site = site_dir();
    if site.exists() {
        std::fs::remove_dir_all(&site).map_err(|e| format!("clean {}: {e}", site.display()))?;
    }
    let pkg = site.join("pkg");
    std::fs::create_dir_all(&pkg).map_err(|e| e.to_string())?;
    for entry in std::fs::read_dir(root().join("public")).map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        std::fs::copy(entry.path(), site.join(entry.file_name())).map_err(|e| e.to_string())?;
    }
    css::build()?;
    run_cmd(cargo().args([
        "build",
        "--package",
        "frontend",
        "--lib",
        "--target",
        "wasm32-unknown-unknown",
        "--profile",
        "wasm-release",
    ]))?;
    let wasm = root().join("target/wasm32-unknown-unknown/wasm-release/frontend.wasm");
    run_cmd(
        Command::new("wasm-bindgen")
            .args([
                "--target",
                "web",
                "--no-typescript",
                "--remove-name-section",
                "--remove-producers-section",
            ])
            .args(["--out-name", "yagura", "--out-dir"])
            .arg(&pkg)
            .arg(&wasm),
    )?;
    if which("wasm-opt") {
        let out = pkg.join("yagura_bg.wasm");
        run_cmd(
            Command::new("wasm-opt")
                .args(["-Oz", "--all-features", "-o"])
                .arg(&out)
                .arg(&out),
        )?;
    } else {
        eprintln!(
            "xtask: wasm-opt not on PATH; the bundle is not size-optimised further (optional)"
        );
    }
    Ok(())
}

fn build() -> Result {
    build_site()?;
    run_cmd(cargo().args([
        "build",
        "--release",
        "--package",
        "server",
        "--bin",
        "yagura",
    ]))
}

fn run(args: &[String]) -> Result {
    let bin = root().join("target/release/yagura");
    let mut cmd = Command::new(bin);
    cmd.arg("serve").args(args);
    run_cmd(&mut cmd)
}

/// The soak harness (its own small crate, built in release: it must keep
/// up with the server) against the release binary.
fn soak(args: &[String]) -> Result {
    run_cmd(cargo().args(["build", "--release", "--package", "soak"]))?;
    let mut cmd = Command::new(root().join("target/release/soak"));
    cmd.arg("--yagura")
        .arg(root().join("target/release/yagura"));
    let mut rest: Vec<String> = args.to_vec();
    if !rest.iter().any(|a| a == "--minutes" || a == "--secs") {
        rest.extend(["--minutes".into(), "10".into()]);
    }
    if !rest.iter().any(|a| a == "--crash-loops") {
        rest.extend(["--crash-loops".into(), "20".into()]);
    }
    for (flag, full) in [
        ("--storm-rounds", "10"),
        ("--storm-subscribers", "1000"),
        ("--storm-lines", "100000"),
    ] {
        if !rest.iter().any(|a| a == flag) {
            rest.extend([flag.into(), full.into()]);
        }
    }
    if !rest.iter().any(|a| a == "--write") {
        rest.extend([
            "--write".into(),
            root().join("docs/reliability.md").display().to_string(),
        ]);
    }
    cmd.args(rest).current_dir(root());
    run_cmd(&mut cmd)
}

fn test() -> Result {
    run_cmd(cargo().args(["fmt", "--all", "--", "--check"]))?;
    build_site()?;
    lint()?;
    run_cmd(cargo().args(["test", "--package", "app", "--features", "ssr"]))?;
    run_cmd(cargo().args(["test", "--package", "server"]))?;
    test_postgres()?;
    run_cmd(cargo().args(["test", "--package", "xtask"]))?;
    run_cmd(cargo().args(["test", "--package", "soak"]))?;
    run_cmd(cargo().args([
        "build",
        "--release",
        "--package",
        "server",
        "--bin",
        "yagura",
    ]))?;
    api_check()?;
    // A one-minute soak and five kill -9s (the full ones: `cargo xtask soak`).
    run_cmd(cargo().args(["build", "--release", "--package", "soak"]))?;
    run_cmd(
        Command::new(root().join("target/release/soak"))
            .arg("--yagura")
            .arg(root().join("target/release/yagura"))
            .args(["--secs", "60", "--crash-loops", "5"])
            .current_dir(root()),
    )?;
    run_cmd(
        Command::new("npm")
            .args(["test"])
            .current_dir(root().join("end2end")),
    )
}

/// The PostgreSQL server the integration suite runs against a second time
/// (`YAGURA_TEST_POSTGRES`; default: this machine's, trust auth).
fn postgres_admin_url() -> String {
    std::env::var("YAGURA_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// The whole integration suite again, on PostgreSQL: each test's server
/// gets a fresh database (`yagura_it_*`, made by the harness), dropped
/// here before and after the run.
fn test_postgres() -> Result {
    let url = postgres_admin_url();
    drop_test_databases(&url)?;
    let result = run_cmd(
        cargo()
            .args(["test", "--package", "server", "--test", "it"])
            .env("YAGURA_TEST_POSTGRES", &url),
    );
    drop_test_databases(&url)?;
    result
}

fn drop_test_databases(url: &str) -> Result {
    let out = Command::new("psql")
        .args(["-X", "-At", "-d", url, "-c"])
        .arg(r"SELECT datname FROM pg_database WHERE datname LIKE 'yagura\_it\_%'")
        .output()
        .map_err(|e| format!("psql: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cannot reach PostgreSQL at {url}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    for name in String::from_utf8_lossy(&out.stdout).lines() {
        let status = Command::new("psql")
            .args(["-X", "-q", "-d", url, "-c"])
            .arg(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .status()
            .map_err(|e| format!("psql: {e}"))?;
        if !status.success() {
            return Err(format!("cannot drop the test database {name}"));
        }
    }
    Ok(())
}

/// schemathesis against a real server on an empty data directory: every
/// operation of `/api/v1/openapi.json`, valid and invalid input, each
/// answer checked against the document. Bounded (about a minute); the
/// seed is fixed so a failure can be replayed (`API_CHECK_SEED` changes it).
fn api_check() -> Result {
    run_cmd(
        Command::new(setup::python())
            .arg(root().join("end2end/api/check.py"))
            .arg(root().join("target/release/yagura")),
    )
}

/// Clippy with warnings as errors, per package and target (never both
/// `ssr` and `hydrate` in one invocation).
fn lint() -> Result {
    run_cmd(cargo().args([
        "clippy",
        "--package",
        "server",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    run_cmd(cargo().args([
        "clippy",
        "--package",
        "bench",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    run_cmd(cargo().args([
        "clippy",
        "--package",
        "soak",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    run_cmd(cargo().args([
        "clippy",
        "--package",
        "xtask",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    run_cmd(cargo().args([
        "clippy",
        "--package",
        "frontend",
        "--target",
        "wasm32-unknown-unknown",
        "--",
        "-D",
        "warnings",
    ]))
}

pub fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|p| p.join(program).is_file()))
        .unwrap_or(false)
}

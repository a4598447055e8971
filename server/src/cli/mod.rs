//! The command line: `yagura serve`, `yagura runner`, `yagura user create`,
//! `yagura api-key create`, `yagura runner-token create`.

mod client;
mod sso;

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};

use crate::config::{Config, StoreLocation};

#[derive(Debug, Parser)]
#[command(
    name = "yagura",
    version,
    about = "A self-hosted control room for AI coding agents"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web server.
    Serve(Box<ServeArgs>),
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Run tasks for a Yagura server on this machine (a remote runner).
    Runner(RunnerArgs),
    /// Manage runner tokens.
    #[command(subcommand)]
    RunnerToken(RunnerTokenCommand),
    /// Manage API keys (for scripts and clients such as CC-Anywhere).
    #[command(subcommand)]
    ApiKey(ApiKeyCommand),
    /// Check this machine: is the agent sandbox active, are the data dir's
    /// secrets private.
    Doctor(DoctorArgs),
    /// Write a consistent copy of the database (works while the server runs).
    Backup(BackupArgs),
    /// The built-in demo agent (what the "Demo agent" preset runs).
    #[command(hide = true)]
    DemoAgent(DemoArgs),
    /// Sign this machine in to a Yagura server: saves an API key for
    /// `ls`, `run` and `logs`.
    Login(client::LoginArgs),
    /// A server's recent runs.
    Ls(client::LsArgs),
    /// Start a run of an agent; with --follow, print its output until it
    /// ends and exit with its outcome.
    Run(client::RunArgs),
    /// A run's output; with --follow, live until it ends (its outcome is
    /// the exit code).
    Logs(client::LogsArgs),
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The file to write (must not exist).
    #[arg(long)]
    pub to: PathBuf,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub sandbox: SandboxArg,
}

/// `--sandbox`, shared by `serve`, `runner` and `doctor`.
#[derive(Debug, Clone, Args)]
pub struct SandboxArg {
    /// Run agents in a Landlock sandbox: `auto` (when the kernel has
    /// Landlock), `on` (fail executions when it has not) or `off`.
    #[arg(long = "sandbox", env = "YAGURA_SANDBOX", default_value = "auto")]
    pub mode: crate::config::SandboxMode,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The task, as an agent would get it.
    #[arg(default_value = "")]
    pub prompt: String,
    /// Pause between output lines, in milliseconds.
    #[arg(long, default_value_t = 350)]
    pub delay_ms: u64,
    /// How long to wait for an answer on stdin, in seconds.
    #[arg(long, default_value_t = 10)]
    pub confirm_secs: u64,
}

/// Where the data lives; shared by every subcommand that opens the store.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Directory for the database and the signing secret (created on first start).
    #[arg(long, env = "YAGURA_DATA_DIR", default_value = "./yagura-data")]
    pub data_dir: PathBuf,
    /// Database URL; defaults to an SQLite file in the data directory.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "YAGURA_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Mark the session cookie `Secure` (set this when Yagura is served over HTTPS).
    #[arg(long, env = "YAGURA_SECURE_COOKIES")]
    pub secure_cookies: bool,
    /// Executions run at once; more wait in the queue.
    #[arg(long, env = "YAGURA_CONCURRENCY", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// Seconds a remote runner may go without a heartbeat before its
    /// executions fail with RUNNER_LOST.
    #[arg(long, env = "YAGURA_LEASE_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub lease_secs: u64,
    /// Send every execution to a remote runner; never run agents on this server.
    #[arg(long, env = "YAGURA_RUNNERS_ONLY")]
    pub runners_only: bool,
    /// Seconds between polls of connected GitHub repositories (0: rely on webhooks).
    #[arg(long, env = "YAGURA_GITHUB_POLL_SECS", default_value_t = 60)]
    pub github_poll_secs: u64,
    /// The address people reach Yagura at, for links in GitHub comments and
    /// the OAuth callback (default: the settings page's, else the listening address).
    #[arg(long, env = "YAGURA_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// The agent (name or id) that runs nospace's `nospace_run` when the
    /// request names none (`options.agentId`).
    #[arg(long, env = "YAGURA_NOSPACE_AGENT")]
    pub nospace_agent: Option<String>,
    /// A host name browsers may use to reach this server, besides IP
    /// addresses, localhost and --public-url's host (repeat, or separate
    /// with commas). Requests naming another host are refused.
    #[arg(
        long = "allowed-host",
        env = "YAGURA_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,
    /// WebSockets one user may hold open at once; more are refused (429).
    #[arg(long, env = "YAGURA_MAX_SOCKETS_PER_USER", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_sockets_per_user: u32,
    /// Serves Prometheus metrics at /metrics to scrapers that send this
    /// token (`Authorization: Bearer …`); without it /metrics is off.
    #[arg(long, env = "YAGURA_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Days the audit log keeps an entry (0: for ever).
    #[arg(long, env = "YAGURA_AUDIT_RETENTION_DAYS", default_value_t = 365)]
    pub audit_retention_days: u32,
    #[command(flatten)]
    pub sandbox: SandboxArg,
    #[command(flatten)]
    pub sso: sso::SsoArgs,
}

#[derive(Debug, Args)]
pub struct RunnerArgs {
    /// The server, e.g. wss://yagura.example (https:// works too; ws:// only
    /// to this machine, or with --insecure). Several replicas of one Yagura
    /// separated by commas (or --server repeated): the runner connects to
    /// one and fails over to the next when the link drops.
    #[arg(long, env = "YAGURA_SERVER", value_delimiter = ',', required = true)]
    pub server: Vec<String>,
    /// A runner token (`yagura runner-token create`, or the Runners page).
    #[arg(long, env = "YAGURA_RUNNER_TOKEN", hide_env_values = true)]
    pub token: String,
    /// This runner's name (default: the host name).
    #[arg(long)]
    pub name: Option<String>,
    /// What this runner offers, comma-separated (agents may require some).
    #[arg(long, value_delimiter = ',', default_value = "local")]
    pub capabilities: Vec<String>,
    /// Tasks run at once.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub concurrency: u32,
    /// Where tasks get their working directories.
    #[arg(long, default_value = "./yagura-runner")]
    pub work_dir: PathBuf,
    /// Seconds between heartbeats.
    #[arg(long, default_value_t = 5.0)]
    pub heartbeat_secs: f64,
    /// Seconds between SIGTERM and SIGKILL when a task is cancelled.
    #[arg(long, default_value_t = 5.0)]
    pub kill_grace_secs: f64,
    #[command(flatten)]
    pub sandbox: SandboxArg,
    /// Trust this CA (a PEM file) for a wss:// server, besides the system's roots.
    #[arg(long, env = "YAGURA_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// Allow a ws:// (unencrypted) server on another machine.
    #[arg(long)]
    pub insecure: bool,
}

#[derive(Debug, Subcommand)]
pub enum RunnerTokenCommand {
    /// Create a runner token and print it (shown only this once).
    Create(RunnerTokenCreateArgs),
}

#[derive(Debug, Args)]
pub struct RunnerTokenCreateArgs {
    #[arg(long)]
    pub name: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create an API key for a user and print it (shown only this once).
    Create(ApiKeyCreateArgs),
}

#[derive(Debug, Args)]
pub struct ApiKeyCreateArgs {
    /// What the key is for (shown in lists).
    #[arg(long)]
    pub name: String,
    /// The user the key acts as (with their role).
    #[arg(long)]
    pub user: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. The password is read from standard input.
    Create(UserCreateArgs),
    /// Make an invitation link: whoever opens it chooses a username and
    /// password and joins with the role. Printed once.
    Invite(UserInviteArgs),
    /// Make a one-time link that sets a user's password (for a day; their
    /// sessions end when it is used). Printed once.
    ResetLink(UserResetArgs),
}

#[derive(Debug, Args)]
pub struct UserResetArgs {
    /// Whose password the link sets.
    #[arg(long)]
    pub username: String,
    /// Where people reach this server (as for `user invite`).
    #[arg(long, env = "YAGURA_PUBLIC_URL")]
    pub public_url: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct UserInviteArgs {
    /// The role to join with: admin, member or viewer.
    #[arg(long, default_value = "member", value_parser = parse_role)]
    pub role: app::model::Role,
    /// Whom it is for (a note shown to admins).
    #[arg(long)]
    pub email: Option<String>,
    /// How long the link works, in hours (1–720).
    #[arg(long, default_value_t = crate::auth::invitations::DEFAULT_HOURS)]
    pub hours: u32,
    /// The admin it is made on behalf of (default: the longest-standing
    /// active admin).
    #[arg(long)]
    pub by: Option<String>,
    /// Where people reach this server (default: the public URL set on the
    /// settings page, else http://127.0.0.1:3000, `serve`'s default).
    #[arg(long, env = "YAGURA_PUBLIC_URL")]
    pub public_url: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct UserCreateArgs {
    #[arg(long)]
    pub username: String,
    /// The user's role: admin, member or viewer.
    #[arg(long, default_value = "member", value_parser = parse_role)]
    pub role: app::model::Role,
    /// Same as `--role admin`.
    #[arg(long)]
    pub admin: bool,
    /// Read the password from standard input (the only way to give it, so
    /// that it never shows up in the process list or shell history).
    #[arg(long, required = true)]
    pub password_stdin: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

impl StoreArgs {
    fn location(&self) -> StoreLocation {
        StoreLocation {
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
        }
    }
}

/// Runs the command; answers the process's exit code (a followed run's
/// outcome, else success).
pub async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    let done: anyhow::Result<()> = match cli.command {
        Command::Run(args) => return client::run(args).await,
        Command::Logs(args) => return client::logs(args).await,
        Command::Login(args) => client::login(args).await,
        Command::Ls(args) => client::ls(args).await,
        Command::Serve(args) => {
            let args = *args;
            let config = Config {
                addr: args.addr,
                store: args.store.location(),
                secure_cookies: args.secure_cookies,
                exec: crate::config::ExecConfig {
                    concurrency: usize::from(args.concurrency),
                    sandbox: args.sandbox.mode,
                    ..Default::default()
                },
                runners: crate::config::RunnerConfig {
                    lease: std::time::Duration::from_secs(args.lease_secs),
                    runners_only: args.runners_only,
                },
                github: crate::config::GithubConfig {
                    // From the environment only (a flag would show in `ps`);
                    // it replaces the settings page's.
                    webhook_secret: std::env::var("YAGURA_GITHUB_WEBHOOK_SECRET")
                        .ok()
                        .filter(|s| !s.trim().is_empty()),
                    poll_interval: std::time::Duration::from_secs(args.github_poll_secs),
                    public_url: args.public_url.map(|u| u.trim_end_matches('/').to_string()),
                    ..Default::default()
                },
                cc_anywhere: crate::config::CcAnywhereConfig::from_env(|k| std::env::var(k).ok())
                    .map_err(|e| anyhow::anyhow!(e))?,
                nospace_agent: args.nospace_agent.filter(|a| !a.trim().is_empty()),
                ws: crate::config::WsConfig {
                    max_sockets_per_user: args.max_sockets_per_user as usize,
                    ..Default::default()
                },
                allowed_hosts: args
                    .allowed_hosts
                    .iter()
                    .map(|h| h.trim().trim_end_matches('.').to_ascii_lowercase())
                    .filter(|h| !h.is_empty())
                    .collect(),
                metrics_token: match args.metrics_token.filter(|t| !t.trim().is_empty()) {
                    Some(t) if t.len() < 16 => anyhow::bail!(
                        "--metrics-token must be at least 16 characters (try: openssl rand -hex 24)"
                    ),
                    token => token,
                },
                audit_retention_days: Some(args.audit_retention_days),
                sso: args.sso.config()?,
                password_sign_in: !args.sso.no_password_sign_in,
                ..Config::default()
            };
            crate::server::run_until_signal(config).await
        }
        Command::Runner(args) => {
            let seconds = |s: f64, what: &str| {
                if s.is_finite() && (0.05..=3600.0).contains(&s) {
                    Ok(std::time::Duration::from_secs_f64(s))
                } else {
                    Err(anyhow::anyhow!(
                        "{what} must be between 0.05 and 3600 seconds"
                    ))
                }
            };
            let name = match args.name {
                Some(n) => n,
                None => hostname(),
            };
            crate::runners::client::run(crate::runners::client::RunnerOptions {
                servers: args.server,
                token: args.token,
                name,
                capabilities: args
                    .capabilities
                    .into_iter()
                    .map(|c| c.trim().to_string())
                    .filter(|c| !c.is_empty())
                    .collect(),
                concurrency: args.concurrency,
                work_dir: args.work_dir,
                heartbeat: seconds(args.heartbeat_secs, "--heartbeat-secs")?,
                kill_grace: seconds(args.kill_grace_secs, "--kill-grace-secs")?,
                sandbox: args.sandbox.mode,
                ca_cert: args.ca_cert,
                insecure: args.insecure,
            })
            .await
        }
        Command::RunnerToken(RunnerTokenCommand::Create(args)) => {
            let store = crate::db::Store::open(&args.store.location()).await?;
            let created = crate::runners::create_token(&store.db, &args.name, None)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            eprintln!(
                "created runner token {:?} ({}); it is shown only now:",
                created.info.name, created.info.id
            );
            println!("{}", created.token);
            Ok(())
        }
        Command::User(UserCommand::Create(args)) => create_user(args).await,
        Command::User(UserCommand::ResetLink(args)) => {
            let store = crate::db::Store::open(&args.store.location()).await?;
            let public = public_url(&store.db, args.public_url).await?;
            let made =
                crate::auth::invitations::reset_from_shell(&store.db, &args.username, &public)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            eprintln!(
                "a link to set {}'s password, for {} hours; it is shown only now:",
                args.username,
                crate::auth::invitations::RESET_HOURS
            );
            println!("{}", made.url);
            Ok(())
        }
        Command::User(UserCommand::Invite(args)) => {
            let store = crate::db::Store::open(&args.store.location()).await?;
            let public = public_url(&store.db, args.public_url).await?;
            let input = app::model::InvitationInput {
                role: args.role,
                email: args.email,
                expires_in_hours: Some(args.hours),
            };
            let made = crate::auth::invitations::create_from_shell(
                &store.db,
                args.by.as_deref(),
                &input,
                &public,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            eprintln!(
                "invitation {} to join as {} (on behalf of {}), until {}; the link is shown only now:",
                made.invitation.id,
                made.invitation.role,
                made.invitation.invited_by,
                chrono::DateTime::<chrono::Utc>::from_timestamp_millis(made.invitation.expires_at)
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default()
            );
            println!("{}", made.url);
            Ok(())
        }
        Command::ApiKey(ApiKeyCommand::Create(args)) => {
            let store = crate::db::Store::open(&args.store.location()).await?;
            let created = crate::auth::api_keys::create_for(&store.db, &args.user, &args.name)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            eprintln!(
                "created API key {:?} ({}) for {}; it is shown only now:",
                created.info.name, created.info.id, created.info.username
            );
            println!("{}", created.key);
            Ok(())
        }
        Command::Backup(args) => {
            let store = crate::db::Store::open(&args.store.location()).await?;
            crate::db::backup_into(&store.db, &args.to).await?;
            eprintln!(
                "wrote {}; to restore, put it as yagura.db in an empty data dir together with \
                 this data dir's secrets-key and jwt-secret (sealed secrets and sessions need them)",
                args.to.display()
            );
            Ok(())
        }
        Command::Doctor(args) => {
            // The database, checked by SQLite itself (also while the server runs).
            let database = if args.store.data_dir.join("yagura.db").exists() {
                let store = crate::db::Store::open(&args.store.location()).await?;
                Some(crate::db::integrity_check(&store.db).await)
            } else {
                None
            };
            crate::doctor::run(&args.store.data_dir, args.sandbox.mode, database)
        }
        Command::DemoAgent(args) => {
            let code = crate::executions::demo::run(
                &args.prompt,
                std::time::Duration::from_millis(args.delay_ms),
                std::time::Duration::from_secs(args.confirm_secs),
            );
            std::process::exit(code)
        }
    };
    done.map(|()| std::process::ExitCode::SUCCESS)
}

fn parse_role(s: &str) -> Result<app::model::Role, String> {
    s.parse()
        .map_err(|_| format!("{s:?} is not a role (admin, member or viewer)"))
}

pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "runner".into())
}

async fn create_user(args: UserCreateArgs) -> anyhow::Result<()> {
    if !args.password_stdin {
        bail!("pass the password on standard input with --password-stdin");
    }
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .context("cannot read the password from standard input")?;
    // One trailing newline is what `echo` and most pipes add; keep the rest.
    let password = password.strip_suffix('\n').unwrap_or(&password);
    let password = password.strip_suffix('\r').unwrap_or(password);
    let store = crate::db::Store::open(&args.store.location()).await?;
    let role = if args.admin {
        app::model::Role::Admin
    } else {
        args.role
    };
    let user = crate::auth::accounts::create_user(&store.db, &args.username, password, role)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("created {} user {} ({})", user.role, user.username, user.id);
    Ok(())
}

/// Where people reach the server: `--public-url`, else the settings
/// page's, else `serve`'s default address.
async fn public_url(db: &crate::db::Db, given: Option<String>) -> anyhow::Result<String> {
    Ok(match given.filter(|u| !u.trim().is_empty()) {
        Some(url) => url,
        None => crate::db::settings::get(db, "public_url")
            .await?
            .unwrap_or_else(|| "http://127.0.0.1:3000".into()),
    })
}

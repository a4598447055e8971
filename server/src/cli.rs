//! The command line: `yagura serve`, `yagura user create`.

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
    Serve(ServeArgs),
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// The built-in demo agent (what the "Demo agent" preset runs).
    #[command(hide = true)]
    DemoAgent(DemoArgs),
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
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. The password is read from standard input.
    Create(UserCreateArgs),
}

#[derive(Debug, Args)]
pub struct UserCreateArgs {
    #[arg(long)]
    pub username: String,
    /// Make the user an administrator (default: member).
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

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let config = Config {
                addr: args.addr,
                store: args.store.location(),
                secure_cookies: args.secure_cookies,
                exec: crate::executions::ExecConfig {
                    concurrency: usize::from(args.concurrency),
                    ..Default::default()
                },
                ..Config::default()
            };
            crate::server::run_until_signal(config).await
        }
        Command::User(UserCommand::Create(args)) => create_user(args).await,
        Command::DemoAgent(args) => {
            let code = crate::executions::demo::run(
                &args.prompt,
                std::time::Duration::from_millis(args.delay_ms),
                std::time::Duration::from_secs(args.confirm_secs),
            );
            std::process::exit(code)
        }
    }
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
        app::model::Role::Member
    };
    let user = crate::auth::accounts::create_user(&store.db, &args.username, password, role)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("created {} user {} ({})", user.role, user.username, user.id);
    Ok(())
}

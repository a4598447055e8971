//! Runtime configuration, filled in from the command line or by tests.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Where the store lives.
#[derive(Clone, Debug)]
pub struct StoreLocation {
    pub data_dir: PathBuf,
    /// `sqlite://…`; `None` means `yagura.db` inside `data_dir`.
    pub database_url: Option<String>,
}

/// WebSocket limits and timers (seed 002's numbers by default).
#[derive(Clone, Debug)]
pub struct WsConfig {
    /// Close a socket that sent nothing (not even a pong) for this long.
    pub idle_timeout: Duration,
    /// Interval of the server's WebSocket pings.
    pub ping_interval: Duration,
    /// Messages a client may send per minute.
    pub messages_per_minute: u32,
    /// Invalid messages tolerated (each answered with an `error` frame)
    /// before the socket is closed with 4003.
    pub invalid_message_limit: u32,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            idle_timeout: Duration::from_secs(90),
            ping_interval: Duration::from_secs(30),
            messages_per_minute: 100,
            invalid_message_limit: 3,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub addr: SocketAddr,
    pub store: StoreLocation,
    pub secure_cookies: bool,
    /// How long a session token (cookie or bearer) stays valid.
    pub token_ttl: Duration,
    pub ws: WsConfig,
    /// How long shutdown waits for open sockets to say goodbye.
    pub shutdown_grace: Duration,
    pub exec: crate::executions::ExecConfig,
    /// Remote runners: lease length, runners-only dispatch.
    pub runners: crate::runners::RunnerConfig,
    /// GitHub: webhook secret from the environment, polling, public URL.
    pub github: crate::github::GithubConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            store: StoreLocation {
                data_dir: PathBuf::from("./yagura-data"),
                database_url: None,
            },
            secure_cookies: false,
            token_ttl: Duration::from_secs(12 * 3600),
            ws: WsConfig::default(),
            shutdown_grace: Duration::from_secs(5),
            exec: crate::executions::ExecConfig::default(),
            runners: crate::runners::RunnerConfig::default(),
            github: crate::github::GithubConfig::default(),
        }
    }
}

//! Runtime configuration, filled in from the command line or by tests.
//! Plain data only: this is the bottom of the crate, imported by the
//! services and importing none of them.

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
    /// Sockets one user may hold open at once (`/ws`); more are refused
    /// with 429.
    pub max_sockets_per_user: usize,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            idle_timeout: Duration::from_secs(90),
            ping_interval: Duration::from_secs(30),
            messages_per_minute: 100,
            invalid_message_limit: 3,
            max_sockets_per_user: 500,
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
    pub exec: ExecConfig,
    /// Remote runners: lease length, runners-only dispatch.
    pub runners: RunnerConfig,
    /// GitHub: webhook secret from the environment, polling, public URL.
    pub github: GithubConfig,
    /// The CC-Anywhere dialect (seed 001's settings).
    pub cc_anywhere: CcAnywhereConfig,
    /// The agent (name or id) nospace runs use unless they name one.
    pub nospace_agent: Option<String>,
    /// Host names requests may name besides IP addresses, `localhost` and
    /// the public URL's host (a DNS-rebinding page names its own).
    pub allowed_hosts: Vec<String>,
    /// The bearer token `/metrics` asks for; `None`: metrics are off.
    pub metrics_token: Option<String>,
    /// Days the audit log keeps an entry (`None` or 0: for ever).
    pub audit_retention_days: Option<u32>,
    /// Single sign-on (OpenID Connect); off without an issuer.
    pub sso: SsoConfig,
    /// Whether people may sign in with a password (off: single sign-on
    /// only; first-run setup and the shell's commands still work).
    pub password_sign_in: bool,
}

/// Single sign-on with an OpenID Connect provider.
#[derive(Clone, Debug, Default)]
pub struct SsoConfig {
    /// The provider's issuer URL (discovery is at
    /// `<issuer>/.well-known/openid-configuration`); `None`: off.
    pub issuer: Option<String>,
    pub client_id: String,
    /// `None`: a public client (PKCE alone).
    pub client_secret: Option<String>,
    /// The button's words: "Sign in with <name>".
    pub name: String,
    /// Scopes asked for besides `openid`.
    pub scopes: Vec<String>,
    /// The role of someone who signs in for the first time without an
    /// invitation; `None`: they are refused unless a group maps to a role.
    pub new_user_role: Option<app::model::Role>,
    /// The ID token claim that lists the person's groups.
    pub groups_claim: String,
    /// Groups that give a role when an account is made (highest role wins).
    pub role_groups: Vec<(app::model::Role, String)>,
    /// When set, accounts are made by the rules above only for people
    /// with a verified email address at one of these domains.
    pub email_domains: Vec<String>,
}

impl Config {
    /// Whether a request's `Host` (without its port) is one of ours.
    pub fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if bare.parse::<std::net::IpAddr>().is_ok()
            || host == "localhost"
            || host.ends_with(".localhost")
        {
            return true;
        }
        let public = self
            .github
            .public_url
            .as_deref()
            .and_then(|u| u.split_once("://").map(|(_, rest)| rest))
            .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or(""))
            .map(|authority| strip_port(authority).to_ascii_lowercase());
        public.as_deref() == Some(host.as_str())
            || self
                .allowed_hosts
                .iter()
                .any(|h| h.eq_ignore_ascii_case(&host))
    }
}

/// `host:port` → `host` (IPv6 literals keep their brackets).
pub fn strip_port(authority: &str) -> &str {
    match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => &authority[..i],
        _ => authority,
    }
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
            exec: ExecConfig::default(),
            runners: RunnerConfig::default(),
            github: GithubConfig::default(),
            cc_anywhere: CcAnywhereConfig::default(),
            nospace_agent: None,
            allowed_hosts: Vec::new(),
            metrics_token: None,
            audit_retention_days: Some(365),
            sso: SsoConfig::default(),
            password_sign_in: true,
        }
    }
}

/// Whether agents are sandboxed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SandboxMode {
    /// Sandboxed when the kernel offers Landlock; otherwise unsandboxed,
    /// with a warning at start-up and in `yagura doctor`.
    #[default]
    Auto,
    /// Always sandboxed: an execution fails if the kernel cannot.
    On,
    /// Never sandboxed.
    Off,
}

impl std::str::FromStr for SandboxMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "on" | "true" | "1" => Ok(Self::On),
            "off" | "false" | "0" => Ok(Self::Off),
            _ => Err(format!("--sandbox is auto, on or off, not {s:?}")),
        }
    }
}

/// Settings of the local executor.
#[derive(Clone, Debug)]
pub struct ExecConfig {
    /// Executions running at once; more wait in the queue.
    pub concurrency: usize,
    /// Time between SIGTERM and SIGKILL on cancel and timeout.
    pub kill_grace: Duration,
    /// What `{yagura}` in a command stands for: this binary.
    pub yagura_bin: PathBuf,
    /// Whether agents run sandboxed.
    pub sandbox: SandboxMode,
}

impl Default for ExecConfig {
    fn default() -> Self {
        ExecConfig {
            concurrency: 4,
            kill_grace: Duration::from_secs(5),
            yagura_bin: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("yagura")),
            sandbox: Default::default(),
        }
    }
}

/// Settings of remote execution.
#[derive(Clone, Debug)]
pub struct RunnerConfig {
    /// How long an assignment lives without a heartbeat.
    pub lease: Duration,
    /// Send every execution to a runner, never run locally.
    pub runners_only: bool,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            lease: Duration::from_secs(30),
            runners_only: false,
        }
    }
}

/// GitHub settings given at start-up (flags or environment).
#[derive(Clone, Debug)]
pub struct GithubConfig {
    /// `YAGURA_GITHUB_WEBHOOK_SECRET`: replaces the one set on the settings page.
    pub webhook_secret: Option<String>,
    /// Between polls of each connected repository (zero: no polling).
    pub poll_interval: Duration,
    /// `YAGURA_PUBLIC_URL`: where links in comments point (default: the
    /// listening address).
    pub public_url: Option<String>,
    /// How often runs that still owe GitHub a report are looked at.
    pub report_interval: Duration,
}

impl Default for GithubConfig {
    fn default() -> Self {
        GithubConfig {
            webhook_secret: None,
            poll_interval: Duration::from_secs(60),
            public_url: None,
            report_interval: Duration::from_secs(15),
        }
    }
}

/// The CC-Anywhere dialect, with seed 001's settings (its environment
/// variables `WEBSOCKET_ENABLED`, `WEBSOCKET_AUTH_TIMEOUT`,
/// `WEBSOCKET_HEARTBEAT_INTERVAL`, `WEBSOCKET_HEARTBEAT_TIMEOUT`, in ms).
#[derive(Clone, Debug)]
pub struct CcAnywhereConfig {
    pub enabled: bool,
    /// The first message (`auth`) must come within this.
    pub auth_timeout: Duration,
    /// Between the server's WebSocket pings.
    pub heartbeat_interval: Duration,
    /// A socket the server heard nothing from for this long is closed.
    pub heartbeat_timeout: Duration,
}

impl Default for CcAnywhereConfig {
    fn default() -> Self {
        CcAnywhereConfig {
            enabled: true,
            auth_timeout: Duration::from_millis(10_000),
            heartbeat_interval: Duration::from_millis(30_000),
            heartbeat_timeout: Duration::from_millis(60_000),
        }
    }
}

impl CcAnywhereConfig {
    /// The defaults, changed by seed 001's environment variables where set.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut c = CcAnywhereConfig::default();
        let ms = |name: &str, into: &mut Duration| -> Result<(), String> {
            if let Some(v) = var(name) {
                let n: u64 = v
                    .trim()
                    .parse()
                    .map_err(|_| format!("{name} must be milliseconds, not {v:?}"))?;
                if n == 0 {
                    return Err(format!("{name} must be more than 0"));
                }
                *into = Duration::from_millis(n);
            }
            Ok(())
        };
        ms("WEBSOCKET_AUTH_TIMEOUT", &mut c.auth_timeout)?;
        ms("WEBSOCKET_HEARTBEAT_INTERVAL", &mut c.heartbeat_interval)?;
        ms("WEBSOCKET_HEARTBEAT_TIMEOUT", &mut c.heartbeat_timeout)?;
        if let Some(v) = var("WEBSOCKET_ENABLED") {
            c.enabled = match v.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                _ => {
                    return Err(format!(
                        "WEBSOCKET_ENABLED must be true or false, not {v:?}"
                    ))
                }
            };
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// H3: a DNS-rebinding page names its own host; ours are IPs,
    /// localhost, the public URL's host and the allowed ones.
    #[test]
    fn hosts_are_checked() {
        let mut c = Config::default();
        c.github.public_url = Some("https://yagura.example.com:8443/base".into());
        c.allowed_hosts = vec!["ci.internal".into()];
        for ok in [
            "127.0.0.1",
            "[::1]",
            "10.0.0.7",
            "localhost",
            "app.localhost",
            "YAGURA.example.com",
            "ci.internal",
            "ci.internal.",
        ] {
            assert!(c.host_allowed(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "example.com",
            "localhost.evil.example",
            "127.0.0.1.evil.example",
        ] {
            assert!(!c.host_allowed(bad), "{bad}");
        }
        assert_eq!(strip_port("a.b:3000"), "a.b");
        assert_eq!(strip_port("[::1]:3000"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
    }
}

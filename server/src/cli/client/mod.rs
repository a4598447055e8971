//! The command-line client: `yagura login`, `yagura ls`, `yagura run`,
//! `yagura logs`. It talks to a Yagura server over its REST API and
//! follows runs over its WebSocket (`follow`), as any client may.
//!
//! Where the server is and who you are: `--url` and `--api-key` (or
//! `--token`), else `YAGURA_URL` and `YAGURA_API_KEY` (`YAGURA_TOKEN`),
//! else the file `yagura login` wrote (`$YAGURA_CLIENT_CONFIG`, or
//! `$XDG_CONFIG_HOME/yagura/client.json`, or `~/.config/yagura/client.json`,
//! mode 0600).

mod follow;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use app::model::{Agent, Execution, ExecutionPage};
use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Where the server is and the credential to use.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The server, e.g. https://yagura.example.com.
    #[arg(long, env = "YAGURA_URL")]
    pub url: Option<String>,
    /// An API key (`yagura login` saves one). Prefer YAGURA_API_KEY or the
    /// saved login: a flag shows in the process list.
    #[arg(long, env = "YAGURA_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// A session token, instead of an API key (a key wins when both are
    /// given).
    #[arg(long, env = "YAGURA_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Your username (or pass --api-key with a key made on the API keys
    /// page, to save it).
    #[arg(long)]
    pub username: Option<String>,
    /// Read the password from standard input (else it is asked for).
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Only runs with this status (queued, running, completed, failed…).
    #[arg(long)]
    pub status: Option<String>,
    /// How many, newest first.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=200))]
    pub limit: u32,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The agent: its name or id.
    pub agent: String,
    /// The task given to the agent.
    #[arg(long, short, default_value = "")]
    pub prompt: String,
    /// Run it on this issue: its id, or its number when one repository has it.
    #[arg(long)]
    pub issue: Option<String>,
    /// Follow the output until the run ends; the exit code is its outcome.
    #[arg(long, short)]
    pub follow: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The run: its id, or the start of it (as `yagura ls` shows).
    pub execution: String,
    /// Keep following until the run ends; the exit code is its outcome.
    #[arg(long, short)]
    pub follow: bool,
}

/// What `yagura login` saves.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Saved {
    url: String,
    api_key: String,
    /// The key's id, to revoke it at the next login (absent: a key given
    /// with `--api-key`, which is not ours to revoke).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    api_key_id: Option<String>,
}

fn config_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("YAGURA_CLIENT_CONFIG") {
        return Some(p.into());
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("yagura").join("client.json"))
}

fn saved() -> Option<Saved> {
    let text = std::fs::read_to_string(config_path()?).ok()?;
    serde_json::from_str(&text).ok()
}

/// A client of one server, with one credential.
pub struct Client {
    pub url: String,
    credential: Credential,
    http: reqwest::Client,
}

#[derive(Clone)]
enum Credential {
    ApiKey(String),
    Token(String),
}

impl Client {
    pub fn new(args: &ClientArgs) -> anyhow::Result<Client> {
        let saved = saved();
        let url = args
            .url
            .clone()
            .or_else(|| saved.as_ref().map(|s| s.url.clone()))
            .context("which server? Pass --url (or YAGURA_URL), or run `yagura login` first")?;
        let credential = match (&args.api_key, &args.token) {
            (Some(k), _) => Credential::ApiKey(k.clone()),
            (None, Some(t)) => Credential::Token(t.clone()),
            (None, None) => Credential::ApiKey(
                saved
                    .filter(|s| s.url.trim_end_matches('/') == url.trim_end_matches('/'))
                    .map(|s| s.api_key)
                    .context("no credential: pass --api-key (or YAGURA_API_KEY), or run `yagura login` first")?,
            ),
        };
        Ok(Client {
            url: base_url(&url)?,
            credential,
            http: http_client()?,
        })
    }

    fn authorized(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.credential {
            Credential::ApiKey(k) => req.header("X-API-Key", k),
            Credential::Token(t) => req.bearer_auth(t),
        }
    }

    /// The credential as the WebSocket's upgrade request carries it.
    fn auth_header(&self) -> (&'static str, String) {
        match &self.credential {
            Credential::ApiKey(k) => ("X-API-Key", k.clone()),
            Credential::Token(t) => ("Authorization", format!("Bearer {t}")),
        }
    }

    pub async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let res = self
            .authorized(self.http.get(format!("{}{path}", self.url)))
            .timeout(CALL_TIMEOUT)
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.url))?;
        answer(res).await
    }

    pub async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<T> {
        let res = self
            .authorized(self.http.post(format!("{}{path}", self.url)))
            .timeout(CALL_TIMEOUT)
            .json(body)
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.url))?;
        answer(res).await
    }
}

/// How long a JSON call may take (the log download streams for as long as
/// it needs).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        // A redirect (an auth proxy, another host) must never carry the
        // API key or the password away.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("yagura-cli/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// `http(s)://host[:port][/prefix]`, without a trailing slash.
fn base_url(url: &str) -> anyhow::Result<String> {
    let url = url.trim().trim_end_matches('/');
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        bail!("--url must start with http:// or https://, not {url:?}");
    }
    Ok(url.to_string())
}

/// The body of a successful answer, or the server's error as a sentence.
async fn answer<T: serde::de::DeserializeOwned>(res: reqwest::Response) -> anyhow::Result<T> {
    let status = res.status();
    if status.is_redirection() {
        let to = res
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .unwrap_or("")
            .to_string();
        bail!("the server sent us elsewhere ({status} to {to}): check --url (a proxy in front of Yagura must pass /api and /ws through)");
    }
    let text = res.text().await.unwrap_or_default();
    if status.is_success() {
        return serde_json::from_str(&text)
            .with_context(|| format!("the server answered something unexpected: {text:.200}"));
    }
    let message = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| text.chars().take(200).collect());
    match status.as_u16() {
        401 => bail!("not signed in ({message}): check the API key, or run `yagura login`"),
        403 => bail!("not allowed: {message}"),
        _ => bail!("{message} ({status})"),
    }
}

/// Reads a password from standard input: one line, not echoed when it is
/// a terminal.
fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let terminal = stdin.is_terminal() && !from_stdin;
    if terminal {
        eprint!("Password: ");
        std::io::stderr().flush().ok();
    }
    let _quiet = terminal.then(follow::NoEcho::new);
    let mut line = String::new();
    stdin.read_line(&mut line).context("reading the password")?;
    if terminal {
        eprintln!();
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

pub async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let url = base_url(
        &args
            .client
            .url
            .clone()
            .context("which server? Pass --url (or YAGURA_URL)")?,
    )?;
    let http = http_client()?;
    let path = config_path()
        .context("no place for the client's file: set HOME or YAGURA_CLIENT_CONFIG")?;
    let previous = saved().filter(|s| s.url == url);
    // A key made elsewhere (the API keys page): checked, then saved as is.
    if let Some(key) = &args.client.api_key {
        let res = http
            .get(format!("{url}/api/v1/me"))
            .header("X-API-Key", key)
            .timeout(CALL_TIMEOUT)
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let me: Value = answer(res).await?;
        save(
            &path,
            &Saved {
                url: url.clone(),
                api_key: key.clone(),
                api_key_id: None,
            },
        )?;
        println!(
            "Signed in to {url} as {}; the key is saved in {}.",
            me["username"].as_str().unwrap_or("?"),
            path.display()
        );
        return Ok(());
    }
    let username = args
        .username
        .clone()
        .context("--username is needed (or --api-key with a key from the API keys page)")?;
    let password = read_password(args.password_stdin)?;
    let res = http
        .post(format!("{url}/api/v1/auth/login"))
        .timeout(CALL_TIMEOUT)
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let signed: Value = answer(res).await?;
    let token = signed["token"]
        .as_str()
        .context("no token in the answer")?
        .to_string();
    let host = crate::cli::hostname();
    let made = async {
        let res = http
            .post(format!("{url}/api/v1/api-keys"))
            .bearer_auth(&token)
            .timeout(CALL_TIMEOUT)
            .json(&json!({"name": format!("yagura CLI on {host}")}))
            .send()
            .await?;
        answer::<Value>(res).await
    }
    .await;
    // The session was only for this: it ends whatever happened.
    let _ = http
        .post(format!("{url}/api/v1/auth/logout"))
        .bearer_auth(&token)
        .timeout(CALL_TIMEOUT)
        .send()
        .await;
    let made = made.context(
        "cannot make an API key (viewers may not: pass --api-key, or use --token with a session)",
    )?;
    let key = made["key"].as_str().context("no key in the answer")?;
    save(
        &path,
        &Saved {
            url: url.clone(),
            api_key: key.to_string(),
            api_key_id: made["id"].as_str().map(str::to_owned),
        },
    )?;
    // The key an earlier login saved for this server is not needed now.
    if let Some(old) = previous.and_then(|p| p.api_key_id.map(|id| (id, p.api_key))) {
        let _ = http
            .delete(format!("{url}/api/v1/api-keys/{}", old.0))
            .header("X-API-Key", key)
            .timeout(CALL_TIMEOUT)
            .send()
            .await;
    }
    println!(
        "Signed in to {url} as {username}. An API key named \"yagura CLI on {host}\" is saved in {} (revoke it on the API keys page).",
        path.display()
    );
    Ok(())
}

fn save(path: &std::path::Path, saved: &Saved) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    write_private(path, &serde_json::to_string_pretty(saved)?)
}

/// Writes `text` to `path`, readable by its owner only: a new file
/// (never following a link) renamed over the old one, so the old one
/// stays whole until the new one is.
fn write_private(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {}", path.display()));
    }
    Ok(())
}

pub async fn ls(args: LsArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.client)?;
    let mut path = format!("/api/v1/executions?limit={}", args.limit);
    if let Some(s) = &args.status {
        path.push_str(&format!("&status={}", app::api::encode_query(s)));
    }
    let page: Value = client.get(&path).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&page["items"])?);
        return Ok(());
    }
    let page: ExecutionPage = serde_json::from_value(page)?;
    println!(
        "{:<10} {:<20} {:<16} {:<8} STARTED BY",
        "RUN", "AGENT", "STATUS", "TOOK"
    );
    for e in &page.items {
        println!(
            "{:<10} {:<20} {:<16} {:<8} {}",
            &e.id.to_string()[..8],
            cut(&e.agent_name, 20),
            e.status.as_str(),
            took(e),
            e.created_by.as_deref().unwrap_or("-"),
        );
    }
    if page.total as usize > page.items.len() {
        println!("({} of {} runs)", page.items.len(), page.total);
    }
    Ok(())
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

fn took(e: &Execution) -> String {
    match (e.started_at, e.finished_at) {
        (Some(a), Some(b)) => format!("{:.1} s", (b - a) as f64 / 1000.0),
        (Some(_), None) => "…".into(),
        _ => "-".into(),
    }
}

/// An agent named or identified by `which`.
async fn agent(client: &Client, which: &str) -> anyhow::Result<Agent> {
    let agents: Vec<Agent> = client.get("/api/v1/agents").await?;
    let as_id = uuid::Uuid::parse_str(which).map(|u| u.to_string()).ok();
    if let Some(a) = agents.iter().find(|a| Some(a.id.to_string()) == as_id) {
        return Ok(a.clone());
    }
    let named: Vec<&Agent> = agents
        .iter()
        .filter(|a| a.name.eq_ignore_ascii_case(which))
        .collect();
    match named.as_slice() {
        [one] => Ok((*one).clone()),
        [] => bail!(
            "no agent named {which:?}; there are: {}",
            agents
                .iter()
                .map(|a| a.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => bail!("several agents are named {which:?}: use the id"),
    }
}

/// An issue by id, or by number when exactly one repository has it.
async fn issue(client: &Client, which: &str) -> anyhow::Result<String> {
    if let Ok(id) = uuid::Uuid::parse_str(which) {
        return Ok(id.to_string());
    }
    let number: i64 = which
        .trim_start_matches('#')
        .parse()
        .with_context(|| format!("--issue is an issue's id or number, not {which:?}"))?;
    // Every page: the same number may be in several repositories.
    let mut found: Vec<Value> = Vec::new();
    let mut offset = 0usize;
    loop {
        let page: Value = client
            .get(&format!("/api/v1/issues?limit=200&offset={offset}"))
            .await?;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        let total = page["total"].as_u64().unwrap_or(0) as usize;
        offset += items.len();
        found.extend(items.into_iter().filter(|i| i["number"] == number));
        if offset >= total || offset == 0 {
            break;
        }
    }
    match found.as_slice() {
        [one] => Ok(one["id"].as_str().unwrap_or_default().to_string()),
        [] => bail!("no issue #{number}"),
        _ => bail!("several repositories have an issue #{number}: use its id"),
    }
}

pub async fn run(args: RunArgs) -> anyhow::Result<std::process::ExitCode> {
    let client = Client::new(&args.client)?;
    let agent = agent(&client, &args.agent).await?;
    let mut body = json!({"agentId": agent.id, "prompt": args.prompt});
    if let Some(which) = &args.issue {
        body["issueId"] = json!(issue(&client, which).await?);
    }
    let execution: Execution = client.post("/api/v1/executions", &body).await?;
    let id = execution.id.to_string();
    if !args.follow {
        println!("{id}");
        eprintln!("Follow it with: yagura logs {} --follow", &id[..8]);
        return Ok(std::process::ExitCode::SUCCESS);
    }
    eprintln!("{} · {}/executions/{id}", agent.name, client.url);
    follow::follow(&client, &id).await
}

/// The run `which` names: its id, or the start of one of the newest 200.
async fn execution_id(client: &Client, which: &str) -> anyhow::Result<String> {
    // The form the server writes ids in (events carry it).
    if let Ok(id) = uuid::Uuid::parse_str(which) {
        return Ok(id.to_string());
    }
    if which.len() < 4 || !which.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        bail!("{which:?} is not a run's id (or its first characters, 4 or more)");
    }
    let page: ExecutionPage = client.get("/api/v1/executions?limit=200").await?;
    let found: Vec<String> = page
        .items
        .iter()
        .map(|e| e.id.to_string())
        .filter(|id| id.starts_with(&which.to_ascii_lowercase()))
        .collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!("no recent run starts with {which:?}"),
        _ => bail!("several runs start with {which:?}: give more of the id"),
    }
}

pub async fn logs(args: LogsArgs) -> anyhow::Result<std::process::ExitCode> {
    let client = Client::new(&args.client)?;
    let id = execution_id(&client, &args.execution).await?;
    if args.follow {
        return follow::follow(&client, &id).await;
    }
    // The whole output as the server stored it, streamed.
    let mut res = client
        .authorized(
            client
                .http
                .get(format!("{}/api/v1/executions/{id}/log", client.url)),
        )
        .send()
        .await
        .with_context(|| format!("cannot reach {}", client.url))?;
    if !res.status().is_success() {
        answer::<Value>(res).await?;
        return Ok(std::process::ExitCode::FAILURE);
    }
    let mut out = std::io::stdout().lock();
    while let Some(chunk) = res.chunk().await? {
        out.write_all(&chunk)?;
    }
    out.flush()?;
    Ok(std::process::ExitCode::SUCCESS)
}

//! `yagura runner`: runs tasks for a Yagura server on this machine.
//!
//! It dials `/ws/ktcp`, authenticates with a runner token, sends
//! heartbeats, and runs each `task_execute` with the server's own executor
//! code ([`crate::executions::drive`]). Every report about a task
//! is numbered and kept in an outbox until the server acknowledges it;
//! after a reconnect the outbox is sent again, so a dropped link loses and
//! repeats nothing. Tasks keep running while the link is down.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};
use app::model::{AgentType, EventBody, ExecutionStatus};
use app::protocol::ktcp::{ClientFrame, ExecuteData, ServerFrame};
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::executions::{
    drive::{drive, Job, Sink},
    process::{self, Control},
    sandbox, REMOTE_YAGURA,
};

mod outbox;
use outbox::{Outbox, OutboxSink};

/// How the runner is set up (from `yagura runner`'s flags).
#[derive(Clone, Debug)]
pub struct RunnerOptions {
    /// `ws://host:port` (or the full `/ws/ktcp` URL); several replicas of
    /// one Yagura: tried in turn, the next one whenever the link drops.
    pub servers: Vec<String>,
    pub token: String,
    pub name: String,
    pub capabilities: Vec<String>,
    pub concurrency: u32,
    pub work_dir: PathBuf,
    pub heartbeat: Duration,
    /// SIGTERM → SIGKILL grace when a task is cancelled.
    pub kill_grace: Duration,
    /// Whether tasks run sandboxed.
    pub sandbox: sandbox::Mode,
    /// Extra trusted roots for wss:// (PEM), besides the system's.
    pub ca_cert: Option<PathBuf>,
    /// Allow ws:// (clear text) to a host that is not this machine.
    pub insecure: bool,
}

type Running = Arc<Mutex<HashMap<String, mpsc::Sender<Control>>>>;

/// Why a connection ended.
enum Ended {
    /// The server refused the token: no point in retrying.
    Refused(String),
    /// The link dropped (or never came up): reconnect.
    Dropped(String),
}

/// Runs until SIGINT/SIGTERM, or until the server refuses the token.
pub async fn run(options: RunnerOptions) -> anyhow::Result<()> {
    std::fs::create_dir_all(&options.work_dir).with_context(|| {
        format!(
            "cannot create the work directory {}",
            options.work_dir.display()
        )
    })?;
    let mut servers = Vec::new();
    for server in &options.servers {
        let url = ktcp_url(server)?;
        let tls = tls_for(&url, &options)?;
        servers.push((url, tls));
    }
    if servers.is_empty() {
        bail!("no server given (--server URL, several separated by commas)");
    }
    let _lock = lock_work_dir(&options.work_dir)?;
    let (outbox, interrupted) = Outbox::open(&options.work_dir)?;
    for task in &interrupted {
        tracing::warn!(
            task,
            "this task was running when the runner stopped; reporting it failed"
        );
        let _ = std::fs::remove_dir_all(options.work_dir.join(task));
        let _ = std::fs::remove_dir_all(options.work_dir.join(format!("{task}.tmp")));
    }
    let outbox = Arc::new(outbox);
    let running: Running = Arc::new(Mutex::new(HashMap::new()));
    let stop = shutdown_signal();
    tokio::pin!(stop);
    let mut attempt = 0u32;
    let mut next = 0usize;
    loop {
        let (url, tls) = &servers[next % servers.len()];
        let session = connect(url, tls.clone(), &options, &outbox, &running, &mut attempt);
        let ended = tokio::select! {
            _ = &mut stop => break,
            ended = session => ended,
        };
        match ended {
            Ended::Refused(why) => bail!("the server refused this runner: {why}"),
            Ended::Dropped(why) => {
                // Fail over: the next server (replica) gets the next try.
                next += 1;
                if servers.len() > 1 && !next.is_multiple_of(servers.len()) {
                    tracing::warn!(reason = %why, next = %servers[next % servers.len()].0, "link to the server lost; trying the next one");
                    continue;
                }
                attempt = attempt.saturating_add(1);
                let delay = Duration::from_millis((250u64 << attempt.min(6)).min(10_000));
                tracing::warn!(reason = %why, retry_in = ?delay, "link to the server lost; tasks keep running");
                tokio::select! {
                    _ = &mut stop => break,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
    // Stopping: stop the tasks too (their reports cannot be delivered).
    let controls: Vec<_> = running
        .lock()
        .map(|r| r.values().cloned().collect())
        .unwrap_or_default();
    for control in controls {
        let _ = control.send(Control::Cancel).await;
    }
    tracing::info!("runner stopped");
    Ok(())
}

/// One runner per work directory: its outbox journal and task directories
/// are its own. The lock is held as long as the returned file is open.
fn lock_work_dir(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    let path = dir.join("runner.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    // SAFETY: flock on a descriptor this function owns.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if locked != 0 {
        bail!(
            "another yagura runner uses the work directory {}; give each runner its own --work-dir",
            dir.display()
        );
    }
    Ok(file)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn ktcp_url(server: &str) -> anyhow::Result<String> {
    let base = server.trim_end_matches('/');
    let base = if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else {
        base.to_string()
    };
    if !(base.starts_with("ws://") || base.starts_with("wss://")) {
        bail!("--server must be a ws://, wss://, http:// or https:// URL, not {server:?}");
    }
    Ok(if base.ends_with("/ws/ktcp") {
        base
    } else {
        format!("{base}/ws/ktcp")
    })
}

/// The TLS setup for a wss:// server (the system's roots, plus
/// `--ca-cert`); refuses ws:// to another machine unless `--insecure`,
/// since the token, prompts and environments would cross in clear.
fn tls_for(
    url: &str,
    options: &RunnerOptions,
) -> anyhow::Result<Option<tokio_tungstenite::Connector>> {
    if let Some(rest) = url.strip_prefix("ws://") {
        let host = crate::config::strip_port(rest.split('/').next().unwrap_or(""));
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let local = host.eq_ignore_ascii_case("localhost")
            || bare
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if !local && !options.insecure {
            bail!(
                "{url} is not encrypted: the runner token, prompts and environments would cross \
                 the network in clear. Use wss:// (a TLS endpoint, e.g. a reverse proxy), or \
                 --insecure on a network you trust"
            );
        }
        if options.ca_cert.is_some() {
            bail!("--ca-cert is for wss:// servers");
        }
        return Ok(None);
    }
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = &options.ca_cert {
        use rustls_pki_types::pem::PemObject;
        let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
            .with_context(|| format!("cannot read --ca-cert {}", path.display()))?
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("--ca-cert {} is not PEM certificates", path.display()))?;
        if certs.is_empty() {
            bail!("--ca-cert {} holds no certificate", path.display());
        }
        for cert in certs {
            roots
                .add(cert)
                .with_context(|| format!("--ca-cert {}: unusable certificate", path.display()))?;
        }
    }
    if roots.is_empty() {
        bail!("no trusted root certificates: install the system's CA bundle or pass --ca-cert");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS setup")?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Some(tokio_tungstenite::Connector::Rustls(Arc::new(config))))
}

async fn connect(
    url: &str,
    tls: Option<tokio_tungstenite::Connector>,
    options: &RunnerOptions,
    outbox: &Arc<Outbox>,
    running: &Running,
    attempt: &mut u32,
) -> Ended {
    let ws = match tokio_tungstenite::connect_async_tls_with_config(url, None, false, tls).await {
        Ok((ws, _)) => ws,
        Err(e) => return Ended::Dropped(format!("cannot connect to {url}: {e}")),
    };
    let (mut sink, mut stream) = ws.split();
    // Tasks running here, and those whose reports are not all acknowledged
    // yet (their last report may be among them): the server keeps both.
    let mut running_tasks: Vec<String> = running
        .lock()
        .map(|r| r.keys().cloned().collect())
        .unwrap_or_default();
    for task in outbox.pending_tasks() {
        if !running_tasks.contains(&task) {
            running_tasks.push(task);
        }
    }
    let hello = ClientFrame::Authenticate {
        token: options.token.clone(),
        client_type: "provider".into(),
        client_version: env!("CARGO_PKG_VERSION").into(),
        capabilities: options.capabilities.clone(),
        name: Some(options.name.clone()),
        concurrency: Some(options.concurrency),
        running_tasks,
    };
    let Ok(hello) = serde_json::to_string(&hello) else {
        return Ended::Refused("cannot encode authenticate".into());
    };
    if let Err(e) = sink.send(Message::text(hello)).await {
        return Ended::Dropped(e.to_string());
    }
    let answer = tokio::time::timeout(Duration::from_secs(15), stream.next()).await;
    match answer {
        Ok(Some(Ok(Message::Text(t)))) => match serde_json::from_str::<ServerFrame>(&t) {
            Ok(ServerFrame::AuthSuccess { provider_id, .. }) => {
                tracing::info!(provider_id, "connected to {url}");
                *attempt = 0;
            }
            Ok(ServerFrame::GenericError { data, .. }) => {
                return Ended::Refused(format!("{}: {}", data.error_code, data.error_message))
            }
            _ => return Ended::Dropped("unexpected answer to authenticate".into()),
        },
        Ok(Some(Ok(Message::Close(frame)))) => {
            let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
            return Ended::Refused(format!("closed: {reason}"));
        }
        _ => return Ended::Dropped("no answer to authenticate".into()),
    }

    let mut heartbeat = tokio::time::interval(options.heartbeat);
    // Everything unacknowledged goes out again, oldest first.
    let mut next_key = 0u64;
    loop {
        let added = outbox.added.notified();
        let unsent = outbox.from(next_key);
        for (key, json) in unsent {
            if let Err(e) = sink.send(Message::text(json)).await {
                return Ended::Dropped(e.to_string());
            }
            next_key = key + 1;
        }
        tokio::select! {
            _ = added => {}
            _ = heartbeat.tick() => {
                let beat = ClientFrame::Heartbeat { timestamp: chrono::Utc::now(), status: "healthy".into() };
                let json = serde_json::to_string(&beat).unwrap_or_default();
                if let Err(e) = sink.send(Message::text(json)).await {
                    return Ended::Dropped(e.to_string());
                }
            }
            incoming = stream.next() => {
                let text = match incoming {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(frame))) => {
                        let code = frame.as_ref().map(|f| u16::from(f.code)).unwrap_or(1005);
                        let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                        if code == app::protocol::close::UNAUTHORIZED {
                            return Ended::Refused(reason);
                        }
                        return Ended::Dropped(format!("closed by the server ({code} {reason})"));
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Ended::Dropped(e.to_string()),
                    None => return Ended::Dropped("connection closed".into()),
                };
                match serde_json::from_str::<ServerFrame>(&text) {
                    Ok(ServerFrame::Ack { task_id, seq }) => outbox.ack(&task_id, seq),
                    Ok(ServerFrame::TaskExecute { task_id, data, .. }) => {
                        start_task(options, outbox, running, task_id, data);
                    }
                    Ok(ServerFrame::TaskCancel { task_id, data, .. }) => {
                        let control = running.lock().ok().and_then(|r| r.get(&task_id).cloned());
                        match control {
                            Some(control) => {
                                tracing::info!(task = task_id, reason = data.reason, "cancelling");
                                let _ = control.send(Control::Cancel).await;
                            }
                            // Reports still kept for it stay: the server either
                            // applies them or acknowledges them as not ours.
                            None => tracing::debug!(task = task_id, "cancel for a task not running here"),
                        }
                    }
                    Ok(ServerFrame::GenericError { data, .. }) => {
                        tracing::warn!(code = data.error_code, message = data.error_message, "server error");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "unreadable frame from the server"),
                }
            }
        }
    }
}

/// A task id names a directory here: only a plain name may (no `/`,
/// no `..`).
fn plain_task_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn start_task(
    options: &RunnerOptions,
    outbox: &Arc<Outbox>,
    running: &Running,
    task_id: String,
    data: ExecuteData,
) {
    if !plain_task_id(&task_id) {
        tracing::warn!(
            task = task_id,
            "refused a task whose id is not a plain name"
        );
        return;
    }
    let (tx, rx) = mpsc::channel(64);
    {
        let Ok(mut r) = running.lock() else { return };
        if r.contains_key(&task_id) {
            return; // sent again after a reconnect: it is running already
        }
        r.insert(task_id.clone(), tx);
    }
    // A task given (again) to this runner starts afresh: what the outbox
    // still held about an earlier attempt of it is void.
    outbox.discard(&task_id);
    let workdir = options.work_dir.join(&task_id);
    let tmp = options.work_dir.join(format!("{task_id}.tmp"));
    let work_root = options.work_dir.clone();
    let sandbox_mode = options.sandbox;
    let grace = options.kill_grace;
    let outbox = outbox.clone();
    let running = running.clone();
    tokio::spawn(async move {
        let sink = OutboxSink {
            outbox: outbox.clone(),
            task: task_id.clone(),
        };
        let agent_type: AgentType = data.agent_type.parse().unwrap_or(AgentType::Custom);
        let body = if data.argv.is_empty() {
            // A task made without an agent: nothing here says what to run.
            EventBody::Finished {
                agent_type,
                status: ExecutionStatus::Failed,
                result: None,
                error_code: Some("NO_COMMAND".into()),
                error_message: Some(format!(
                    "task {:?} names no command; yagura runner runs agents' commands",
                    data.name
                )),
                exit_code: None,
                signal: None,
                usage: None,
            }
        } else {
            let prepared = std::fs::create_dir_all(&workdir)
                .and_then(|()| std::fs::create_dir_all(&tmp))
                .map_err(|e| {
                    (
                        "WORKDIR",
                        format!("cannot create {}: {e}", workdir.display()),
                    )
                })
                .and_then(|()| {
                    let me = std::env::current_exe().unwrap_or_default();
                    let extra = sandbox::expand_home(&data.sandbox_paths);
                    let paths = sandbox::Paths::for_run(
                        &workdir,
                        &tmp,
                        &me,
                        &work_root,
                        &extra,
                        data.env.get("PATH").map(std::ffi::OsStr::new),
                    );
                    sandbox::for_mode(sandbox_mode, &paths)
                        .map(|p| p.map(Arc::new))
                        .map_err(|e| ("SANDBOX", e.to_string()))
                });
            match prepared {
                Err((code, message)) => EventBody::Finished {
                    agent_type,
                    status: ExecutionStatus::Failed,
                    result: None,
                    error_code: Some(code.into()),
                    error_message: Some(message),
                    exit_code: None,
                    signal: None,
                    usage: None,
                },
                Ok(sandbox) => {
                    let me = std::env::current_exe()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|_| "yagura".into());
                    let argv = data
                        .argv
                        .iter()
                        .map(|a| {
                            if a == REMOTE_YAGURA {
                                me.clone()
                            } else {
                                a.clone()
                            }
                        })
                        .collect();
                    let mut env: BTreeMap<String, String> = data.env.clone();
                    env.insert("TMPDIR".into(), tmp.display().to_string());
                    let job = Job {
                        spec: process::Spec {
                            argv,
                            env,
                            workdir: workdir.clone(),
                            timeout: Duration::from_secs(data.timeout.max(1)),
                            grace,
                            memory_limit_mb: None,
                            stdin: None,
                            close_stdin: false,
                            sandbox,
                        },
                        cap: data.output_cap_bytes,
                        agent_type,
                        issue_number: None,
                        timeout_secs: data.timeout.max(1),
                    };
                    match drive(job, rx, &sink, &|| false).await {
                        Ok(body) => body,
                        Err(e) => EventBody::Finished {
                            agent_type,
                            status: ExecutionStatus::Failed,
                            result: None,
                            error_code: Some("RUNNER_ERROR".into()),
                            error_message: Some(e.to_string()),
                            exit_code: None,
                            signal: None,
                            usage: None,
                        },
                    }
                }
            }
        };
        let _ = sink.append(body).await;
        let _ = std::fs::remove_dir_all(&workdir);
        let _ = std::fs::remove_dir_all(&tmp);
        if let Ok(mut r) = running.lock() {
            r.remove(&task_id);
        }
        tracing::info!(task = task_id, "task ended");
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// L8: a server cannot make the runner write outside its work dir.
    #[test]
    fn task_ids_are_plain_names() {
        assert!(plain_task_id("0b9d3c2e-5f7a-4c1e-9a3b-2d4e6f8a0b1c"));
        for bad in ["", "..", "../etc", "a/b", "/abs", "a b", &"x".repeat(129)] {
            assert!(!plain_task_id(bad), "{bad}");
        }
    }

    #[test]
    fn server_urls_become_ktcp_urls() {
        assert_eq!(ktcp_url("ws://h:1").unwrap(), "ws://h:1/ws/ktcp");
        assert_eq!(ktcp_url("http://h:1/").unwrap(), "ws://h:1/ws/ktcp");
        assert_eq!(ktcp_url("https://h").unwrap(), "wss://h/ws/ktcp");
        assert_eq!(ktcp_url("ws://h/ws/ktcp").unwrap(), "ws://h/ws/ktcp");
        assert!(ktcp_url("h:1").is_err());
    }
}

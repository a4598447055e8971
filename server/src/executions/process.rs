//! Runs one agent process, the same way on the server and (later) on a
//! remote runner:
//!
//! - argv, never a shell string; environment cleared except [`ENV_ALLOWLIST`]
//!   and the agent's own variables, so the server's secrets never reach it;
//! - its own process group, so cancel, timeout, pause and resume reach
//!   children and grandchildren too (SIGTERM, a grace period, SIGKILL;
//!   SIGSTOP/SIGCONT);
//! - stdout and stderr read as lines (see `lines`), a partial line flushed
//!   after [`PARTIAL_FLUSH`] of silence; the pipes are always drained;
//! - reaped with `wait4`, which reports CPU time; peak memory is sampled
//!   from /proc while the process runs.
//!
//! What the lines mean (progress markers, output caps) is the caller's
//! business; this module only moves bytes and signals.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use app::model::{LineEnd, LogStream, ResourceUsage};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::lines::LineSplitter;

/// Variables of the server's environment an agent may see.
pub const ENV_ALLOWLIST: &[&str] = &[
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TERM",
    "TZ", "TMPDIR",
];

/// A partial line is shown after this much silence (prompts without `\n`).
pub const PARTIAL_FLUSH: Duration = Duration::from_millis(50);
/// How often the process's peak memory (VmHWM) is read.
const MEMORY_SAMPLE: Duration = Duration::from_millis(200);
/// After the process exits, how long its pipes may take to drain.
const DRAIN: Duration = Duration::from_secs(2);

pub struct Spec {
    pub argv: Vec<String>,
    /// The agent's own variables, added to the allowlisted ones.
    pub env: BTreeMap<String, String>,
    pub workdir: PathBuf,
    pub timeout: Duration,
    /// Time between SIGTERM and SIGKILL when stopping.
    pub grace: Duration,
    /// A cap on the process's address space (`RLIMIT_AS`), in MiB.
    pub memory_limit_mb: Option<u64>,
    /// Written to standard input at the start.
    pub stdin: Option<Vec<u8>>,
    /// Close standard input once `stdin` is written (batch input).
    pub close_stdin: bool,
    /// The sandbox applied between fork and exec (see `sandbox`).
    pub sandbox: Option<std::sync::Arc<super::sandbox::Prepared>>,
}

/// Requests to a running process.
#[derive(Debug)]
pub enum Control {
    /// SIGTERM, then SIGKILL after the grace period.
    Cancel,
    /// SIGKILL at once.
    Kill,
    Pause,
    Resume,
    /// Input for the process; `echo`: shown in the log too (`> text`),
    /// as a terminal shows what is typed (not for a secret).
    Stdin {
        data: Vec<u8>,
        echo: bool,
    },
    /// End of input: the process reads EOF once it has read what was written.
    CloseStdin,
}

/// One line of output.
#[derive(Debug)]
pub struct Line {
    pub stream: LogStream,
    pub text: String,
    /// How it ended: with the text, the bytes exactly as written.
    pub end: LineEnd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Exited,
    Cancelled,
    TimedOut,
}

#[derive(Debug)]
pub struct Outcome {
    pub reason: Reason,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub usage: ResourceUsage,
    pub pid: u32,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot start {program:?}: {source}")]
pub struct SpawnError {
    pub program: String,
    #[source]
    pub source: std::io::Error,
}

/// Events the caller hears about while the process runs.
#[derive(Debug)]
pub enum Notice {
    Started { pid: u32 },
    Paused,
    Resumed,
}

/// Runs the process to its end. Lines go to `lines` (awaiting there slows
/// the reader, never drops); controls come from `control`.
pub async fn run(
    spec: Spec,
    lines: mpsc::Sender<Line>,
    notices: mpsc::UnboundedSender<Notice>,
    mut control: mpsc::Receiver<Control>,
) -> Result<Outcome, SpawnError> {
    let program = spec.argv.first().cloned().unwrap_or_default();
    let mut cmd = std::process::Command::new(&program);
    cmd.args(spec.argv.iter().skip(1))
        .env_clear()
        .envs(
            ENV_ALLOWLIST
                .iter()
                .filter_map(|k| std::env::var_os(k).map(|v| (*k, v))),
        )
        .envs(&spec.env)
        .current_dir(&spec.workdir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // If the process that started it dies (a server or runner killed with
    // SIGKILL), the agent is killed too instead of running on unowned.
    let memory_limit = spec.memory_limit_mb.map(|mb| mb.saturating_mul(1 << 20));
    let sandbox = spec.sandbox.clone();
    // SAFETY: prctl, setrlimit and the Landlock calls are async-signal-safe
    // and nothing here allocates; nothing else runs between fork and exec.
    #[cfg(target_os = "linux")]
    unsafe {
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            if let Some(sandbox) = &sandbox {
                sandbox.apply_in_child()?;
            }
            if let Some(bytes) = memory_limit {
                let limit = libc::rlimit {
                    rlim_cur: bytes as libc::rlim_t,
                    rlim_max: bytes as libc::rlim_t,
                };
                if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|source| SpawnError {
        program: program.clone(),
        source,
    })?;
    let started = Instant::now();
    let pid = child.id();
    let _ = notices.send(Notice::Started { pid });

    let stdout = child
        .stdout
        .take()
        .and_then(|s| tokio::process::ChildStdout::from_std(s).ok());
    let stderr = child
        .stderr
        .take()
        .and_then(|s| tokio::process::ChildStderr::from_std(s).ok());
    let mut stdin = child
        .stdin
        .take()
        .and_then(|s| tokio::process::ChildStdin::from_std(s).ok());
    if let Some(data) = spec.stdin.clone().filter(|d| !d.is_empty()) {
        if spec.close_stdin {
            // Batch input: written as fast as the process reads, then EOF.
            if let Some(mut pipe) = stdin.take() {
                tokio::spawn(async move {
                    let _ = pipe.write_all(&data).await;
                    let _ = pipe.shutdown().await;
                });
            }
        } else if let Some(pipe) = stdin.as_mut() {
            let write = tokio::time::timeout(Duration::from_secs(5), pipe.write_all(&data));
            if !matches!(write.await, Ok(Ok(()))) {
                stdin = None;
            }
        }
    } else if spec.close_stdin {
        stdin = None;
    }
    let mut readers = Vec::new();
    if let Some(out) = stdout {
        readers.push(tokio::spawn(read_pipe(
            out,
            LogStream::Stdout,
            lines.clone(),
        )));
    }
    if let Some(err) = stderr {
        readers.push(tokio::spawn(read_pipe(
            err,
            LogStream::Stderr,
            lines.clone(),
        )));
    }
    // Input a person types is echoed into the log (`> text`, a system
    // line), in order with the output around it.
    let echo = lines;

    // wait4 blocks; it runs on the blocking pool and reports rusage.
    let mut waiter = tokio::task::spawn_blocking(move || wait4(pid));
    let deadline = tokio::time::sleep(spec.timeout);
    tokio::pin!(deadline);
    let mut reason = Reason::Exited;
    let mut kill_at: Option<tokio::time::Instant> = None;
    let mut paused = false;
    // Peak memory is sampled from /proc: the rusage of a child of a large
    // process counts the parent's memory at spawn time (Linux carries the
    // high-water mark across exec), which would show even `true` at the
    // server's size.
    let mut sample = tokio::time::interval(MEMORY_SAMPLE);
    let mut peak_kb = 0u64;

    let status = loop {
        let kill_timer = async {
            match kill_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            status = &mut waiter => break status.unwrap_or(WaitStatus { code: None, signal: None, usage: Default::default() }),
            _ = sample.tick() => {
                if let Some(kb) = peak_memory_kb(pid) {
                    peak_kb = peak_kb.max(kb);
                }
            }
            _ = &mut deadline, if kill_at.is_none() => {
                reason = Reason::TimedOut;
                kill_at = Some(terminate(pid, paused, spec.grace));
            }
            _ = kill_timer => {
                signal_group(pid, libc::SIGKILL);
                kill_at = Some(tokio::time::Instant::now() + Duration::from_secs(3600));
            }
            msg = control.recv() => match msg {
                Some(Control::Cancel) if kill_at.is_none() => {
                    reason = Reason::Cancelled;
                    kill_at = Some(terminate(pid, paused, spec.grace));
                }
                Some(Control::Kill) => {
                    reason = Reason::Cancelled;
                    if paused {
                        signal_group(pid, libc::SIGCONT);
                    }
                    signal_group(pid, libc::SIGKILL);
                    kill_at = Some(tokio::time::Instant::now() + Duration::from_secs(3600));
                }
                Some(Control::Pause) if !paused && kill_at.is_none() => {
                    signal_group(pid, libc::SIGSTOP);
                    paused = true;
                    let _ = notices.send(Notice::Paused);
                }
                Some(Control::Resume) if paused => {
                    signal_group(pid, libc::SIGCONT);
                    paused = false;
                    let _ = notices.send(Notice::Resumed);
                }
                Some(Control::Stdin { data, echo: shown }) => {
                    if let Some(pipe) = stdin.as_mut() {
                        // A process that does not read must not stall this loop.
                        let write = tokio::time::timeout(Duration::from_secs(5), async {
                            pipe.write_all(&data).await?;
                            pipe.flush().await
                        });
                        // Echoed before it is written, so that it comes
                        // before whatever it makes the process print.
                        for text in echo_lines(&data).into_iter().filter(|_| shown) {
                            let _ = echo
                                .send(Line { stream: LogStream::Stdin, text, end: LineEnd::Lf })
                                .await;
                        }
                        if !matches!(write.await, Ok(Ok(()))) {
                            stdin = None;
                            let text = "the process no longer reads its input".to_string();
                            let _ = echo
                                .send(Line { stream: LogStream::System, text, end: LineEnd::Lf })
                                .await;
                        }
                    }
                }
                Some(Control::CloseStdin) => stdin = None,
                Some(_) => {}
                None => {
                    // Nobody can control it any more (server stopping): stop it.
                    if kill_at.is_none() {
                        reason = Reason::Cancelled;
                        kill_at = Some(terminate(pid, paused, spec.grace));
                    }
                }
            },
        }
    };
    drop(stdin);
    drop(echo);
    // Whatever the main process left behind in its group goes too.
    signal_group(pid, libc::SIGKILL);
    for reader in readers {
        if tokio::time::timeout(DRAIN, reader).await.is_err() {
            tracing::warn!(
                pid,
                "output pipe still open after the process ended; stopped reading"
            );
        }
    }
    let mut usage = status.usage;
    usage.wall_ms = started.elapsed().as_millis() as u64;
    if peak_kb > 0 {
        usage.peak_memory_kb = peak_kb;
    }
    Ok(Outcome {
        reason,
        exit_code: status.code,
        signal: status.signal,
        usage,
        pid,
    })
}

/// What the log shows of input written to the process: `> ` and each line
/// (at most 20; the rest is counted).
fn echo_lines(data: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(data);
    let all: Vec<&str> = text
        .strip_suffix('\n')
        .unwrap_or(&text)
        .split('\n')
        .collect();
    let mut out: Vec<String> = all
        .iter()
        .take(20)
        .map(|l| format!("> {}", l.trim_end_matches('\r')))
        .collect();
    if all.len() > 20 {
        out.push(format!("> … and {} more lines of input", all.len() - 20));
    }
    out
}

/// SIGTERM to the group (and SIGCONT, or a stopped group would never see
/// it); returns when SIGKILL is due.
fn terminate(pid: u32, paused: bool, grace: Duration) -> tokio::time::Instant {
    signal_group(pid, libc::SIGTERM);
    if paused {
        signal_group(pid, libc::SIGCONT);
    }
    tokio::time::Instant::now() + grace
}

fn signal_group(pid: u32, signal: i32) {
    // SAFETY: killpg has no memory-safety preconditions; an unknown group
    // gives ESRCH, which is fine here.
    unsafe {
        libc::killpg(pid as libc::pid_t, signal);
    }
}

struct WaitStatus {
    code: Option<i32>,
    signal: Option<i32>,
    usage: ResourceUsage,
}

/// The main process's peak resident memory (VmHWM) in KiB, while it lives.
fn peak_memory_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn wait4(pid: u32) -> WaitStatus {
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; wait4 fills it in.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid pointers to locals; pid is our own child.
        let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut ru) };
        if r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        if r == -1 {
            return WaitStatus {
                code: None,
                signal: None,
                usage: ResourceUsage::default(),
            };
        }
        break;
    }
    let ms = |tv: libc::timeval| (tv.tv_sec as u64) * 1000 + (tv.tv_usec as u64) / 1000;
    let usage = ResourceUsage {
        cpu_ms: ms(ru.ru_utime) + ms(ru.ru_stime),
        // Linux reports ru_maxrss in KiB.
        peak_memory_kb: ru.ru_maxrss.max(0) as u64,
        wall_ms: 0,
    };
    if libc::WIFEXITED(status) {
        WaitStatus {
            code: Some(libc::WEXITSTATUS(status)),
            signal: None,
            usage,
        }
    } else if libc::WIFSIGNALED(status) {
        WaitStatus {
            code: None,
            signal: Some(libc::WTERMSIG(status)),
            usage,
        }
    } else {
        WaitStatus {
            code: None,
            signal: None,
            usage,
        }
    }
}

async fn read_pipe<R: AsyncRead + Unpin>(mut pipe: R, stream: LogStream, out: mpsc::Sender<Line>) {
    let mut splitter = LineSplitter::default();
    let mut buf = vec![0u8; 32 * 1024];
    let mut lines = Vec::new();
    let mut receiver_gone = false;
    loop {
        let read = if splitter.has_partial() {
            match tokio::time::timeout(PARTIAL_FLUSH, pipe.read(&mut buf)).await {
                Ok(read) => read,
                Err(_) => {
                    if let Some(text) = splitter.take_partial() {
                        lines.push(text);
                    }
                    receiver_gone |= send_all(&out, stream, &mut lines, receiver_gone).await;
                    continue;
                }
            }
        } else {
            pipe.read(&mut buf).await
        };
        match read {
            Ok(0) | Err(_) => {
                if let Some(text) = splitter.finish() {
                    lines.push(text);
                }
                send_all(&out, stream, &mut lines, receiver_gone).await;
                return;
            }
            Ok(n) => {
                splitter.push(&buf[..n], &mut lines);
                receiver_gone |= send_all(&out, stream, &mut lines, receiver_gone).await;
            }
        }
    }
}

/// Sends the lines; returns true when the receiver is gone (then the pipe
/// is still drained, so the process never blocks on a full pipe).
async fn send_all(
    out: &mpsc::Sender<Line>,
    stream: LogStream,
    lines: &mut Vec<(String, LineEnd)>,
    gone: bool,
) -> bool {
    for (text, end) in lines.drain(..) {
        if !gone && out.send(Line { stream, text, end }).await.is_err() {
            return true;
        }
    }
    gone
}

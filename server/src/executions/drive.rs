//! Drives one process to its end, turning its notices and lines into
//! events (progress markers, the output cap, log levels) and returning the
//! terminal event. The same code runs executions on the server (events go
//! to the event writer) and tasks on a remote runner (events go to its
//! outbox): the [`Sink`] says where.

use app::model::{AgentType, EventBody, ExecutionStatus, LineEnd, LogLevel, LogStream};
use tokio::sync::mpsc;

use super::markers::{self, Marker};
use super::process::{self, Control, Notice, Reason};

/// Stderr lines that look like errors get level `error`, the rest `warn`.
fn stderr_level(line: &str) -> LogLevel {
    let lower = line.trim_start().to_ascii_lowercase();
    if ["error", "fatal", "panic", "traceback"]
        .iter()
        .any(|w| lower.starts_with(w))
    {
        LogLevel::Error
    } else {
        LogLevel::Warn
    }
}

/// Where a running process's events go: the event writer (local) or a
/// runner's outbox (remote). `append` waits until the event is safe;
/// `enqueue` only until it is queued.
#[async_trait::async_trait]
pub trait Sink: Send + Sync {
    async fn append(&self, body: EventBody) -> anyhow::Result<()>;
    async fn enqueue(&self, body: EventBody) -> anyhow::Result<()>;
}

/// One process to run, with what its events need to say.
pub struct Job {
    pub spec: process::Spec,
    /// Bytes of output kept before the rest is discarded.
    pub cap: u64,
    pub agent_type: AgentType,
    pub issue_number: Option<u64>,
    pub timeout_secs: u64,
}

/// Runs a job's process to its end, turning its notices and lines into
/// events (progress markers, output cap, log levels), and returns the
/// terminal event for the caller to write. The same code runs executions
/// on the server and tasks on a remote runner.
pub async fn drive<S: Sink>(
    job: Job,
    control: mpsc::Receiver<Control>,
    sink: &S,
    stopping: &(dyn Fn() -> bool + Sync),
) -> anyhow::Result<EventBody> {
    let Job {
        spec,
        cap,
        agent_type,
        issue_number,
        timeout_secs,
    } = job;
    let (line_tx, mut line_rx) = mpsc::channel(1024);
    let (notice_tx, mut notice_rx) = mpsc::unbounded_channel();
    let proc = tokio::spawn(process::run(spec, line_tx, notice_tx, control));

    let mut stored: u64 = 0;
    let mut truncated = false;
    let mut result: Option<serde_json::Value> = None;
    let mut last_progress: Option<(u8, String)> = None;
    let mut pid: Option<u32> = None;
    let streamed: anyhow::Result<()> = async {
        loop {
            tokio::select! {
                biased;
                notice = notice_rx.recv() => match notice {
                    Some(notice) => {
                        if let Notice::Started { pid: p } = &notice {
                            pid = Some(*p);
                        }
                        sink.append(notice_event(notice, agent_type, issue_number)).await?;
                    }
                    None => {
                        // The process has ended; take the lines still queued.
                        while let Some(line) = line_rx.recv().await {
                            handle_line(sink, line, cap, &mut stored, &mut truncated, &mut result, &mut last_progress).await?;
                        }
                        break;
                    }
                },
                line = line_rx.recv() => match line {
                    Some(line) => handle_line(sink, line, cap, &mut stored, &mut truncated, &mut result, &mut last_progress).await?,
                    None => {
                        // Pipes closed; wait for the end of the process.
                        while let Some(notice) = notice_rx.recv().await {
                            sink.append(notice_event(notice, agent_type, issue_number)).await?;
                        }
                        break;
                    }
                },
            }
        }
        Ok(())
    }
    .await;
    if let Err(e) = streamed {
        // Nothing more can be recorded (the store is failing): stop the
        // process and its children rather than leave them running unheard.
        if let Some(pid) = pid {
            // SAFETY: a signal to the process group this run started.
            unsafe {
                libc::killpg(pid as libc::pid_t, libc::SIGKILL);
            }
        }
        while line_rx.recv().await.is_some() {}
        while notice_rx.recv().await.is_some() {}
        let _ = proc.await;
        return Err(e);
    }

    let outcome = proc.await?;
    let body = match outcome {
        Err(spawn_error) => {
            let mut message = spawn_error.to_string();
            if spawn_error.program.contains(char::is_whitespace) {
                message.push_str(
                    " (each line of an agent's command is one argument and no shell splits them: \
                     put the program alone on the first line, or make the agent a shell script)",
                );
            }
            sink.enqueue(EventBody::Log {
                stream: LogStream::System,
                level: LogLevel::Error,
                message: message.clone(),
                end: LineEnd::Lf,
            })
            .await?;
            EventBody::Finished {
                agent_type,
                status: ExecutionStatus::Failed,
                result: None,
                error_code: Some("SPAWN_FAILED".into()),
                error_message: Some(message),
                exit_code: None,
                signal: None,
                usage: None,
            }
        }
        Ok(outcome) => {
            let usage = Some(outcome.usage);
            let stopping = stopping();
            let (status, error_code, error_message) =
                match (outcome.reason, outcome.exit_code, outcome.signal) {
                    (Reason::Cancelled, ..) if stopping => (
                        ExecutionStatus::Failed,
                        Some("SERVER_SHUTDOWN".to_string()),
                        Some("stopped because the server shut down".to_string()),
                    ),
                    (Reason::Cancelled, ..) => (
                        ExecutionStatus::Cancelled,
                        None,
                        Some("cancelled".to_string()),
                    ),
                    (Reason::TimedOut, ..) => (
                        ExecutionStatus::TimedOut,
                        Some("TIMEOUT".to_string()),
                        Some(format!("timed out after {timeout_secs} s")),
                    ),
                    (Reason::Exited, Some(0), _) => (ExecutionStatus::Completed, None, None),
                    (Reason::Exited, Some(code), _) => (
                        ExecutionStatus::Failed,
                        Some("EXIT_CODE".to_string()),
                        Some(format!("exited with code {code}")),
                    ),
                    (Reason::Exited, None, Some(sig)) => (
                        ExecutionStatus::Failed,
                        Some("SIGNAL".to_string()),
                        Some(format!("killed by signal {sig}")),
                    ),
                    (Reason::Exited, None, None) => (
                        ExecutionStatus::Failed,
                        Some("UNKNOWN_EXIT".to_string()),
                        Some("ended without a status".to_string()),
                    ),
                };
            EventBody::Finished {
                agent_type,
                status,
                result: result.take(),
                error_code,
                error_message,
                exit_code: outcome.exit_code,
                signal: outcome.signal,
                usage,
            }
        }
    };
    Ok(body)
}

/// The event a process notice stands for.
fn notice_event(
    notice: Notice,
    agent_type: app::model::AgentType,
    issue_number: Option<u64>,
) -> EventBody {
    match notice {
        Notice::Started { pid } => EventBody::Started {
            agent_type,
            issue_number,
            pid: Some(pid),
        },
        Notice::Paused => EventBody::Paused,
        Notice::Resumed => EventBody::Resumed,
    }
}

async fn handle_line<S: Sink>(
    sink: &S,
    line: process::Line,
    cap: u64,
    stored: &mut u64,
    truncated: &mut bool,
    result: &mut Option<serde_json::Value>,
    last_progress: &mut Option<(u8, String)>,
) -> anyhow::Result<()> {
    match markers::parse(&line.text) {
        // Progress counts against the output cap like the line it came in
        // (it is stored twice: as progress and as the line), and a marker
        // that repeats the last one adds nothing.
        Some(Marker::Progress { progress, step }) => {
            let fresh = last_progress.as_ref() != Some(&(progress, step.clone()));
            *stored += step.len() as u64 + 16;
            if fresh && *stored <= cap {
                *last_progress = Some((progress, step.clone()));
                sink.enqueue(EventBody::Progress {
                    progress,
                    current_step: step,
                })
                .await?;
            }
        }
        Some(Marker::Result(value)) => *result = Some(value),
        None => {}
    }
    *stored += line.text.len() as u64 + line.end.as_str().len() as u64;
    if *stored <= cap {
        let level = match line.stream {
            LogStream::Stderr => stderr_level(&line.text),
            _ => LogLevel::Info,
        };
        sink.enqueue(EventBody::Log {
            stream: line.stream,
            level,
            message: line.text,
            end: line.end,
        })
        .await?;
    } else if !*truncated {
        *truncated = true;
        sink.enqueue(EventBody::Log {
            stream: LogStream::System,
            level: LogLevel::Warn,
            message: format!(
                "[yagura] output exceeded the cap of {}; further output is discarded (the process keeps running)",
                human_bytes(cap)
            ),
            end: LineEnd::Lf,
        })
        .await?;
    }
    Ok(())
}

fn human_bytes(n: u64) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_levels() {
        assert_eq!(stderr_level("error: boom"), LogLevel::Error);
        assert_eq!(
            stderr_level("  Traceback (most recent call last):"),
            LogLevel::Error
        );
        assert_eq!(stderr_level("warning: meh"), LogLevel::Warn);
    }

    #[test]
    fn caps_are_described_plainly() {
        assert_eq!(human_bytes(16 << 20), "16 MiB");
        assert_eq!(human_bytes(4096), "4 KiB");
        assert_eq!(human_bytes(1000), "1000 bytes");
    }
}

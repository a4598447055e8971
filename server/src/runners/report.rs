//! The runner dialect's view of execution events, both ways: a runner
//! turns the events of the shared executor ([`crate::executions::drive`]) into
//! seed 000 reports, and the server turns reports back into events. The
//! round trip keeps everything the event core stores.

use std::collections::BTreeMap;

use app::model::{
    AgentType, EventBody, ExecutionStatus, LineEnd, LogLevel, LogStream, ResourceUsage,
};
use app::protocol::ktcp::{
    ClientFrame, CompletedData, ErrorData, LogData, ResourceUsageData, StatusData,
};
use chrono::Utc;

fn usage_data(u: &ResourceUsage) -> ResourceUsageData {
    ResourceUsageData {
        cpu_time: u.cpu_ms as f64 / 1000.0,
        memory_peak: format!("{}KB", u.peak_memory_kb),
        execution_time: u.wall_ms as f64 / 1000.0,
        cpu_ms: u.cpu_ms,
        peak_memory_kb: u.peak_memory_kb,
        wall_ms: u.wall_ms,
    }
}

fn usage(d: &ResourceUsageData) -> ResourceUsage {
    // Exact fields when the runner sent them (ours do), else the seed's.
    let exact = d.cpu_ms != 0 || d.peak_memory_kb != 0 || d.wall_ms != 0;
    if exact {
        return ResourceUsage {
            cpu_ms: d.cpu_ms,
            peak_memory_kb: d.peak_memory_kb,
            wall_ms: d.wall_ms,
        };
    }
    let kb = parse_memory_kb(&d.memory_peak).unwrap_or(0);
    ResourceUsage {
        cpu_ms: (d.cpu_time.max(0.0) * 1000.0) as u64,
        peak_memory_kb: kb,
        wall_ms: (d.execution_time.max(0.0) * 1000.0) as u64,
    }
}

/// "256MB", "1.5GB", "900KB" → KiB.
fn parse_memory_kb(text: &str) -> Option<u64> {
    let t = text.trim().to_ascii_uppercase();
    let (num, factor) = if let Some(n) = t.strip_suffix("GB") {
        (n, 1024.0 * 1024.0)
    } else if let Some(n) = t.strip_suffix("MB") {
        (n, 1024.0)
    } else if let Some(n) = t.strip_suffix("KB") {
        (n, 1.0)
    } else {
        (t.as_str(), 1.0 / 1024.0)
    };
    num.trim().parse::<f64>().ok().map(|v| (v * factor) as u64)
}

/// A runner's report for one event of a task, numbered `seq`.
pub fn report(task_id: &str, seq: u64, body: &EventBody) -> Option<ClientFrame> {
    let now = Utc::now();
    let task_id = task_id.to_string();
    let seq = Some(seq);
    let status = |data: StatusData| ClientFrame::TaskStatusUpdate {
        task_id: task_id.clone(),
        seq,
        data,
        timestamp: now,
    };
    Some(match body {
        EventBody::Queued { .. } | EventBody::Requeued { .. } => return None,
        EventBody::Started { .. } => status(StatusData {
            status: "PROCESSING".into(),
            started_at: Some(now),
            message: Some("started".into()),
            progress: None,
        }),
        EventBody::Progress {
            progress,
            current_step,
        } => status(StatusData {
            status: "PROCESSING".into(),
            progress: Some(f64::from(*progress)),
            message: Some(current_step.clone()),
            started_at: None,
        }),
        EventBody::Paused => status(StatusData {
            status: "PAUSED".into(),
            ..Default::default()
        }),
        EventBody::Resumed => status(StatusData {
            status: "RESUMED".into(),
            ..Default::default()
        }),
        EventBody::Log {
            stream,
            level,
            message,
            end,
        } => ClientFrame::TaskLog {
            task_id,
            seq,
            data: LogData {
                level: match level {
                    LogLevel::Debug => "DEBUG",
                    LogLevel::Info => "INFO",
                    LogLevel::Warn => "WARN",
                    LogLevel::Error => "ERROR",
                }
                .into(),
                message: message.clone(),
                timestamp: now,
                metadata: {
                    let mut m = BTreeMap::from([(
                        "stream".to_string(),
                        match stream {
                            LogStream::Stdout => "stdout",
                            LogStream::Stderr => "stderr",
                            LogStream::System => "system",
                            LogStream::Stdin => "stdin",
                        }
                        .into(),
                    )]);
                    // How the line ended, when not with `\n` (byte-exact output).
                    match end {
                        LineEnd::Lf => {}
                        LineEnd::Crlf => {
                            m.insert("eol".into(), "crlf".into());
                        }
                        LineEnd::None => {
                            m.insert("eol".into(), "none".into());
                        }
                    }
                    m
                },
            },
            timestamp: now,
        },
        EventBody::Finished {
            status: ExecutionStatus::Completed,
            result,
            exit_code,
            usage,
            ..
        } => ClientFrame::TaskCompleted {
            task_id,
            seq,
            data: CompletedData {
                status: "COMPLETED".into(),
                exit_code: exit_code.unwrap_or(0),
                completed_at: now,
                resource_usage: usage.as_ref().map(usage_data).unwrap_or_default(),
                result: result.clone(),
            },
            timestamp: now,
        },
        EventBody::Finished {
            status,
            error_code,
            error_message,
            exit_code,
            signal,
            usage,
            ..
        } => ClientFrame::TaskError {
            task_id,
            seq,
            data: ErrorData {
                status: match status {
                    ExecutionStatus::TimedOut => "TIMED_OUT",
                    ExecutionStatus::Cancelled => "CANCELLED",
                    _ => "FAILED",
                }
                .into(),
                error_code: error_code.clone().unwrap_or_else(|| "FAILED".into()),
                error_message: error_message.clone().unwrap_or_else(|| "failed".into()),
                failed_at: now,
                exit_code: *exit_code,
                signal: *signal,
                resource_usage: usage.as_ref().map(usage_data),
            },
            timestamp: now,
        },
    })
}

/// The events a provider's report stands for, given whether the task has
/// started already: a seed provider's `task_status_update` (status
/// `PROCESSING`, with `startedAt`, `progress` and `message`) starts the
/// task the first time and reports progress every time; `PAUSED` and
/// `RESUMED` follow SIGSTOP / SIGCONT. Only `task_completed` and
/// `task_error` end a task.
pub fn events(
    frame: &ClientFrame,
    agent_type: AgentType,
    issue_number: Option<u64>,
    started: bool,
) -> Vec<EventBody> {
    match frame {
        ClientFrame::TaskStatusUpdate { data, .. } => {
            match data.status.to_ascii_uppercase().as_str() {
                "PAUSED" => return vec![EventBody::Paused],
                "RESUMED" => return vec![EventBody::Resumed],
                _ => {}
            }
            let mut out = Vec::new();
            if !started {
                out.push(EventBody::Started {
                    agent_type,
                    issue_number,
                    pid: None,
                });
            }
            if let Some(p) = data.progress {
                out.push(EventBody::Progress {
                    progress: if p.is_finite() {
                        p.round().clamp(0.0, 100.0) as u8
                    } else {
                        0
                    },
                    current_step: data.message.clone().unwrap_or_default(),
                });
            }
            out
        }
        other => event(other, agent_type).into_iter().collect(),
    }
}

/// The event a log or an ending report stands for.
fn event(frame: &ClientFrame, agent_type: AgentType) -> Option<EventBody> {
    match frame {
        ClientFrame::TaskLog { data, .. } => {
            let stream = match data.metadata.get("stream").and_then(|v| v.as_str()) {
                Some("stderr") => LogStream::Stderr,
                Some("system") => LogStream::System,
                Some("stdin") => LogStream::Stdin,
                _ => LogStream::Stdout,
            };
            let level = match data.level.to_ascii_uppercase().as_str() {
                "DEBUG" => LogLevel::Debug,
                "WARN" | "WARNING" => LogLevel::Warn,
                "ERROR" => LogLevel::Error,
                _ => LogLevel::Info,
            };
            let end = match data.metadata.get("eol").and_then(|v| v.as_str()) {
                Some("crlf") => LineEnd::Crlf,
                Some("none") => LineEnd::None,
                _ => LineEnd::Lf,
            };
            Some(EventBody::Log {
                stream,
                level,
                message: data.message.clone(),
                end,
            })
        }
        ClientFrame::TaskCompleted { data, .. } => Some(EventBody::Finished {
            agent_type,
            status: ExecutionStatus::Completed,
            result: data.result.clone(),
            error_code: None,
            error_message: None,
            exit_code: Some(data.exit_code),
            signal: None,
            usage: Some(usage(&data.resource_usage)),
        }),
        ClientFrame::TaskError { data, .. } => Some(EventBody::Finished {
            agent_type,
            // A seed provider answers `task_cancel` with `task_error`; its
            // status or code says it was a cancel.
            status: match (data.status.as_str(), data.error_code.as_str()) {
                ("TIMED_OUT", _) | (_, "TIMED_OUT" | "TIMEOUT") => ExecutionStatus::TimedOut,
                ("CANCELLED" | "CANCELED", _) | (_, "CANCELLED" | "CANCELED") => {
                    ExecutionStatus::Cancelled
                }
                _ => ExecutionStatus::Failed,
            },
            result: None,
            error_code: Some(data.error_code.clone()),
            error_message: Some(data.error_message.clone()),
            exit_code: data.exit_code,
            signal: data.signal,
            usage: data.resource_usage.as_ref().map(usage),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_survive_the_round_trip() {
        let usage = Some(ResourceUsage {
            cpu_ms: 1500,
            peak_memory_kb: 2048,
            wall_ms: 3000,
        });
        let bodies = [
            EventBody::Started {
                agent_type: AgentType::Test,
                issue_number: Some(4),
                pid: None,
            },
            EventBody::Progress {
                progress: 40,
                current_step: "Compiling".into(),
            },
            EventBody::Log {
                stream: LogStream::Stderr,
                level: LogLevel::Error,
                message: "error: \u{1b}[31mboom\u{1b}[0m".into(),
                end: LineEnd::Lf,
            },
            EventBody::Log {
                stream: LogStream::Stdout,
                level: LogLevel::Info,
                message: "Name? ".into(),
                end: LineEnd::None,
            },
            EventBody::Log {
                stream: LogStream::Stdout,
                level: LogLevel::Info,
                message: "dos".into(),
                end: LineEnd::Crlf,
            },
            EventBody::Paused,
            EventBody::Resumed,
            EventBody::Finished {
                agent_type: AgentType::Test,
                status: ExecutionStatus::Completed,
                result: Some(serde_json::json!({"prNumber": 12})),
                error_code: None,
                error_message: None,
                exit_code: Some(0),
                signal: None,
                usage,
            },
            EventBody::Finished {
                agent_type: AgentType::Test,
                status: ExecutionStatus::TimedOut,
                result: None,
                error_code: Some("TIMEOUT".into()),
                error_message: Some("timed out after 1 s".into()),
                exit_code: None,
                signal: Some(9),
                usage,
            },
        ];
        for (i, body) in bodies.iter().enumerate() {
            let frame = report("t", i as u64 + 1, body).unwrap();
            // Through JSON, as on the wire.
            let frame: ClientFrame =
                serde_json::from_str(&serde_json::to_string(&frame).unwrap()).unwrap();
            assert_eq!(frame.report(), Some(("t", Some(i as u64 + 1))));
            let started = !matches!(body, EventBody::Started { .. });
            assert_eq!(
                events(&frame, AgentType::Test, Some(4), started),
                vec![body.clone()],
                "{frame:?}"
            );
        }
    }

    #[test]
    fn seed_memory_figures_parse() {
        assert_eq!(parse_memory_kb("256MB"), Some(256 * 1024));
        assert_eq!(parse_memory_kb("1.5GB"), Some(1572864));
        assert_eq!(parse_memory_kb("900KB"), Some(900));
    }
}

#[cfg(test)]
mod seed_tests {
    use super::*;

    /// A provider written from seed 000: no report numbers, and status
    /// updates that carry `startedAt`, `progress` and `message` together.
    #[test]
    fn seed_status_updates_start_once_and_report_progress() {
        let update: ClientFrame = serde_json::from_value(serde_json::json!({
            "type": "task_status_update",
            "taskId": "t",
            "data": {"status": "PROCESSING", "progress": 50, "message": "ビルド進行中",
                     "startedAt": "2024-01-01T10:05:00Z"},
            "timestamp": "2024-01-01T10:05:00Z"
        }))
        .unwrap();
        assert_eq!(update.report(), Some(("t", None)));
        let first = events(&update, AgentType::Custom, None, false);
        assert!(matches!(first[0], EventBody::Started { .. }));
        assert_eq!(
            first[1],
            EventBody::Progress {
                progress: 50,
                current_step: "ビルド進行中".into()
            }
        );
        let later = events(&update, AgentType::Custom, None, true);
        assert_eq!(later.len(), 1);
        let log: ClientFrame = serde_json::from_value(serde_json::json!({
            "type": "task_log", "taskId": "t",
            "data": {"level": "INFO", "message": "ビルドを開始します", "timestamp": "2024-01-01T10:05:30Z",
                     "metadata": {"phase": "build", "step": "npm install"}},
            "timestamp": "2024-01-01T10:05:30Z"
        }))
        .unwrap();
        assert_eq!(
            events(&log, AgentType::Custom, None, true),
            vec![EventBody::Log {
                stream: LogStream::Stdout,
                level: LogLevel::Info,
                message: "ビルドを開始します".into(),
                end: LineEnd::Lf,
            }]
        );
    }
}

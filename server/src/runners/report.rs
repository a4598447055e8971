//! The runner dialect's view of execution events, both ways: a runner
//! turns the events of the shared executor ([`crate::executions::drive`]) into
//! seed 000 reports, and the server turns reports back into events. The
//! round trip keeps everything the event core stores.

use std::collections::BTreeMap;

use app::model::{AgentType, EventBody, ExecutionStatus, LogLevel, LogStream, ResourceUsage};
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
            progress: Some(*progress),
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
                metadata: BTreeMap::from([(
                    "stream".to_string(),
                    match stream {
                        LogStream::Stdout => "stdout",
                        LogStream::Stderr => "stderr",
                        LogStream::System => "system",
                    }
                    .to_string(),
                )]),
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

/// The event a runner's report stands for (`None` for a report that
/// changes nothing, such as a bare status message).
pub fn event(
    frame: &ClientFrame,
    agent_type: AgentType,
    issue_number: Option<u64>,
) -> Option<EventBody> {
    match frame {
        ClientFrame::TaskStatusUpdate { data, .. } => match data.status.as_str() {
            "PAUSED" => Some(EventBody::Paused),
            "RESUMED" => Some(EventBody::Resumed),
            _ if data.started_at.is_some() => Some(EventBody::Started {
                agent_type,
                issue_number,
                pid: None,
            }),
            _ => data.progress.map(|p| EventBody::Progress {
                progress: p.min(100),
                current_step: data.message.clone().unwrap_or_default(),
            }),
        },
        ClientFrame::TaskLog { data, .. } => {
            let stream = match data.metadata.get("stream").map(String::as_str) {
                Some("stderr") => LogStream::Stderr,
                Some("system") => LogStream::System,
                _ => LogStream::Stdout,
            };
            let level = match data.level.to_ascii_uppercase().as_str() {
                "DEBUG" => LogLevel::Debug,
                "WARN" | "WARNING" => LogLevel::Warn,
                "ERROR" => LogLevel::Error,
                _ => LogLevel::Info,
            };
            Some(EventBody::Log {
                stream,
                level,
                message: data.message.clone(),
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
            status: match data.status.as_str() {
                "TIMED_OUT" => ExecutionStatus::TimedOut,
                "CANCELLED" => ExecutionStatus::Cancelled,
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
            assert_eq!(frame.report(), Some(("t", i as u64 + 1)));
            assert_eq!(
                event(&frame, AgentType::Test, Some(4)).as_ref(),
                Some(body),
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

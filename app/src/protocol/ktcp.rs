//! The runner dialect at `/ws/ktcp`, after seed 000 (keruta KTCP).
//!
//! A runner ("provider") dials in, authenticates with a runner token and
//! its capabilities, sends heartbeats, and executes the tasks it is given,
//! reporting status, log lines and the outcome. Every report about a task
//! carries the runner's own `seq` for that task (1, 2, 3…): the runner keeps
//! each report in an outbox until the server's `ack` (sent after the
//! report is committed) and sends the outbox again after a reconnect; the
//! server ignores a `seq` it already applied. A client authenticated with
//! a user's token may instead use the task operations (`task_create`…).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a runner or client sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum ClientFrame {
    Authenticate {
        token: String,
        /// `provider` (a runner, with a runner token) or `client` (task
        /// operations, with a user's token).
        client_type: String,
        #[serde(default)]
        client_version: String,
        #[serde(default)]
        capabilities: Vec<String>,
        /// Extension: the runner's name (unique per token).
        #[serde(default)]
        name: Option<String>,
        /// Extension: tasks the runner can run at once.
        #[serde(default)]
        concurrency: Option<u32>,
        /// Extension: tasks the runner is still running (after a reconnect).
        #[serde(default)]
        running_tasks: Vec<String>,
    },
    Heartbeat {
        timestamp: DateTime<Utc>,
        #[serde(default)]
        status: String,
    },
    TaskStatusUpdate {
        task_id: String,
        /// Extension: the runner's report number for this task (1, 2, 3…).
        /// Reports without one (as seed 000 has them) are applied in the
        /// order they arrive, and not acknowledged.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
        data: StatusData,
        #[serde(default = "Utc::now")]
        timestamp: DateTime<Utc>,
    },
    TaskLog {
        task_id: String,
        /// Extension: the runner's report number for this task (1, 2, 3…).
        /// Reports without one (as seed 000 has them) are applied in the
        /// order they arrive, and not acknowledged.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
        data: LogData,
        #[serde(default = "Utc::now")]
        timestamp: DateTime<Utc>,
    },
    TaskCompleted {
        task_id: String,
        /// Extension: the runner's report number for this task (1, 2, 3…).
        /// Reports without one (as seed 000 has them) are applied in the
        /// order they arrive, and not acknowledged.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
        data: CompletedData,
        #[serde(default = "Utc::now")]
        timestamp: DateTime<Utc>,
    },
    TaskError {
        task_id: String,
        /// Extension: the runner's report number for this task (1, 2, 3…).
        /// Reports without one (as seed 000 has them) are applied in the
        /// order they arrive, and not acknowledged.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
        data: ErrorData,
        #[serde(default = "Utc::now")]
        timestamp: DateTime<Utc>,
    },
    TaskCreate {
        request_id: String,
        data: TaskInput,
        #[serde(default)]
        timestamp: Option<DateTime<Utc>>,
    },
    TaskRead {
        request_id: String,
        task_id: String,
        #[serde(default)]
        data: ReadOptions,
        #[serde(default)]
        timestamp: Option<DateTime<Utc>>,
    },
    TaskUpdate {
        request_id: String,
        task_id: String,
        data: TaskChanges,
        #[serde(default)]
        timestamp: Option<DateTime<Utc>>,
    },
    TaskDelete {
        request_id: String,
        task_id: String,
        #[serde(default)]
        data: DeleteOptions,
        #[serde(default)]
        timestamp: Option<DateTime<Utc>>,
    },
    TaskList {
        request_id: String,
        #[serde(default)]
        data: ListFilter,
        #[serde(default)]
        timestamp: Option<DateTime<Utc>>,
    },
    /// A client asks for a task to stop (seed 000's `task_cancel`, which
    /// the server also sends to providers). No answer when it worked; a
    /// `generic_error` when it did not.
    TaskCancel {
        task_id: String,
        #[serde(default)]
        request_id: Option<String>,
        #[serde(default)]
        data: DeleteOptions,
        #[serde(default)]
        timestamp: Option<DateTime<Utc>>,
    },
}

impl ClientFrame {
    /// The task a report is about, and its number if it has one.
    pub fn report(&self) -> Option<(&str, Option<u64>)> {
        match self {
            ClientFrame::TaskStatusUpdate { task_id, seq, .. }
            | ClientFrame::TaskLog { task_id, seq, .. }
            | ClientFrame::TaskCompleted { task_id, seq, .. }
            | ClientFrame::TaskError { task_id, seq, .. } => Some((task_id, *seq)),
            _ => None,
        }
    }
}

/// Seed 000's `task_status_update` data. `startedAt` marks the start;
/// `progress` with `message` is a progress report; `PAUSED` / `RESUMED`
/// (extension) follow SIGSTOP / SIGCONT.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusData {
    #[serde(default)]
    pub status: String,
    /// Percent; any number is taken (rounded, clamped to 0–100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogData {
    /// `DEBUG`, `INFO`, `WARN` or `ERROR` (`INFO` when missing).
    #[serde(default = "info")]
    pub level: String,
    pub message: String,
    #[serde(default = "Utc::now")]
    pub timestamp: DateTime<Utc>,
    /// Anything the provider likes; Yagura reads `stream` (`stdout`,
    /// `stderr` or `system`) and `eol` (`crlf`, `none`).
    #[serde(default)]
    pub metadata: BTreeMap<String, serde_json::Value>,
}

fn info() -> String {
    "INFO".into()
}

fn completed() -> String {
    "COMPLETED".into()
}

fn failed() -> String {
    "FAILED".into()
}

/// Seed 000's resource usage, with exact extension fields.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResourceUsageData {
    /// CPU seconds.
    pub cpu_time: f64,
    /// Peak memory, e.g. `"256MB"`.
    pub memory_peak: String,
    /// Wall-clock seconds.
    pub execution_time: f64,
    #[serde(default)]
    pub cpu_ms: u64,
    #[serde(default)]
    pub peak_memory_kb: u64,
    #[serde(default)]
    pub wall_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompletedData {
    #[serde(default = "completed")]
    pub status: String,
    #[serde(default)]
    pub exit_code: i32,
    #[serde(default = "Utc::now")]
    pub completed_at: DateTime<Utc>,
    #[serde(default)]
    pub resource_usage: ResourceUsageData,
    /// Extension: the `::result` the agent reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorData {
    /// `FAILED`, `TIMED_OUT` or `CANCELLED`.
    #[serde(default = "failed")]
    pub status: String,
    #[serde(default = "failed")]
    pub error_code: String,
    #[serde(default)]
    pub error_message: String,
    #[serde(default = "Utc::now")]
    pub failed_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_usage: Option<ResourceUsageData>,
}

/// `task_create` data: the task's fields as seed 000 has them, and (an
/// extension) the agent that runs it. Without an agent, the task goes to a
/// connected provider as it is (`task_execute {name, timeout, …}`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskInput {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Seconds; defaults to the agent's.
    #[serde(default)]
    pub timeout: Option<u64>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Extension: the agent that runs the task (id or name).
    #[serde(default)]
    pub agent_id: Option<String>,
    #[serde(default)]
    pub prompt: String,
    #[serde(default)]
    pub metadata: BTreeMap<String, serde_json::Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadOptions {
    #[serde(default)]
    pub include_logs: bool,
    #[serde(default)]
    pub include_metadata: bool,
}

/// `task_update` data: what changes (only while the task is queued, for
/// the timeout).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskChanges {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub timeout: Option<u64>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteOptions {
    #[serde(default)]
    pub reason: Option<String>,
    /// Cancel a queued or running task before deleting it.
    #[serde(default)]
    pub force: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListFilter {
    #[serde(default)]
    pub status: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub created_by: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub offset: Option<u32>,
    /// `createdAt` (default) or `name`.
    #[serde(default)]
    pub sort_by: Option<String>,
    /// `ASC` or `DESC` (default).
    #[serde(default)]
    pub sort_order: Option<String>,
}

/// What the server sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum ServerFrame {
    AuthSuccess {
        provider_id: String,
        timestamp: DateTime<Utc>,
    },
    GenericError {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request_id: Option<String>,
        /// The task a refused report was about, when the frame named one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        task_id: Option<String>,
        data: GenericErrorData,
        timestamp: DateTime<Utc>,
    },
    TaskExecute {
        task_id: String,
        data: ExecuteData,
        timestamp: DateTime<Utc>,
    },
    TaskCancel {
        task_id: String,
        data: CancelData,
        timestamp: DateTime<Utc>,
    },
    /// Extension: every report of `taskId` up to `seq` is committed.
    Ack { task_id: String, seq: u64 },
    TaskCreateResponse {
        request_id: String,
        task_id: String,
        data: serde_json::Value,
        timestamp: DateTime<Utc>,
    },
    TaskReadResponse {
        request_id: String,
        task_id: String,
        data: serde_json::Value,
        timestamp: DateTime<Utc>,
    },
    TaskUpdateResponse {
        request_id: String,
        task_id: String,
        data: serde_json::Value,
        timestamp: DateTime<Utc>,
    },
    TaskDeleteResponse {
        request_id: String,
        task_id: String,
        data: serde_json::Value,
        timestamp: DateTime<Utc>,
    },
    TaskListResponse {
        request_id: String,
        data: serde_json::Value,
        timestamp: DateTime<Utc>,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenericErrorData {
    pub error_code: String,
    pub error_message: String,
    #[serde(default)]
    pub retryable: bool,
    pub failed_at: DateTime<Utc>,
}

/// What a provider gets to run a task: seed 000's `name` and `timeout`
/// (with the task's description and tags), and, as extensions, the argv
/// already filled in (empty for a task made without an agent: the
/// provider decides from its name what to do), the environment, the
/// output cap and the agent's type.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecuteData {
    pub name: String,
    /// Seconds.
    pub timeout: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default)]
    pub argv: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub output_cap_bytes: u64,
    #[serde(default)]
    pub agent_type: String,
    /// Extra paths the agent's sandbox may read and write.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sandbox_paths: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelData {
    pub reason: String,
    /// Kill at once (SIGKILL) instead of SIGTERM and a grace period.
    #[serde(default)]
    pub force: bool,
}

impl ServerFrame {
    pub fn error(request_id: Option<String>, code: &str, message: impl Into<String>) -> Self {
        ServerFrame::GenericError {
            request_id,
            task_id: None,
            data: GenericErrorData {
                error_code: code.to_string(),
                error_message: message.into(),
                retryable: false,
                failed_at: Utc::now(),
            },
            timestamp: Utc::now(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn seed_frames_decode() {
        let auth: ClientFrame = serde_json::from_value(json!({
            "type": "authenticate", "token": "t", "clientType": "provider",
            "clientVersion": "1.0.0", "capabilities": ["kubernetes", "docker", "local"]
        }))
        .unwrap();
        assert!(
            matches!(auth, ClientFrame::Authenticate { ref capabilities, .. } if capabilities.len() == 3)
        );
        let hb: ClientFrame = serde_json::from_value(json!({
            "type": "heartbeat", "timestamp": "2024-01-01T10:00:00Z", "status": "healthy"
        }))
        .unwrap();
        assert!(matches!(hb, ClientFrame::Heartbeat { .. }));
        let list: ClientFrame = serde_json::from_value(json!({
            "type": "task_list", "requestId": "req-1",
            "data": {"status": ["PENDING", "PROCESSING"], "tags": ["build"], "limit": 50, "offset": 0,
                     "sortBy": "createdAt", "sortOrder": "DESC"},
            "timestamp": "2024-01-01T10:04:00Z"
        }))
        .unwrap();
        assert!(matches!(list, ClientFrame::TaskList { ref data, .. } if data.limit == Some(50)));
    }

    #[test]
    fn server_frames_use_seed_names() {
        let ts: DateTime<Utc> = "2024-01-01T10:00:00Z".parse().unwrap();
        let v = serde_json::to_value(ServerFrame::AuthSuccess {
            provider_id: "p".into(),
            timestamp: ts,
        })
        .unwrap();
        assert_eq!(
            v,
            json!({"type": "auth_success", "providerId": "p", "timestamp": "2024-01-01T10:00:00Z"})
        );
        let v = serde_json::to_value(ServerFrame::TaskCancel {
            task_id: "t".into(),
            data: CancelData {
                reason: "user".into(),
                force: false,
            },
            timestamp: ts,
        })
        .unwrap();
        assert_eq!(v["type"], "task_cancel");
        assert_eq!(v["taskId"], "t");
        assert_eq!(v["data"]["force"], false);
    }
}

#[cfg(test)]
#[path = "ktcp_props.rs"]
mod props;

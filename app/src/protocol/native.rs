//! The native browser dialect at `/ws`, after seed 002 (Miyabi Web UI).
//!
//! Every frame is a JSON object with a `type` field; field names are
//! camelCase; timestamps are RFC 3339 in UTC.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{
    AgentExecutionRef, AgentType, EventBody, ExecutionEvent, ExecutionId, ExecutionStatus, IssueId,
    IssueState, LineEnd, LogLevel, LogStream, Notification, NotificationId, RepositoryId,
    ResourceUsage, RunStatus, Severity, StepStatus, UserId, WorkflowEvent, WorkflowEventBody,
    WorkflowId, WorkflowRunId, WorkspaceEvent,
};

/// Largest text frame the server accepts (seed 002: "Maximum message size: 1 MB").
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// A frame sent by the browser.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
pub enum ClientMessage {
    /// Application-level heartbeat; answered by [`ServerMessage::Pong`].
    #[serde(rename = "ping")]
    Ping,
    /// Starts a stream: one execution's events after `since` (replayed from
    /// the store, then live), or the lifecycle of every execution.
    #[serde(rename = "subscribe")]
    Subscribe {
        channel: Channel,
        #[serde(default)]
        execution_id: Option<ExecutionId>,
        /// Last `seq` the client already has; 0 or absent for everything.
        #[serde(default)]
        since: Option<u64>,
    },
    #[serde(rename = "unsubscribe")]
    Unsubscribe {
        channel: Channel,
        #[serde(default)]
        execution_id: Option<ExecutionId>,
    },
}

/// What a subscription is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Channel {
    /// Every event of one execution (needs `executionId`), gap-free by `seq`.
    #[serde(rename = "agent-execution")]
    AgentExecution,
    /// Lifecycle events (no log lines) of every execution, live only.
    #[serde(rename = "executions")]
    Executions,
    /// Issues, workflow runs and the user's notifications. Every connection
    /// gets these without subscribing; the name appears in `resync`.
    #[serde(rename = "workspace")]
    Workspace,
}

/// The user as the `connected` frame shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectedUser {
    pub id: UserId,
    pub username: String,
    /// Seed 002's name for the user: their linked GitHub login, else
    /// their username.
    #[serde(default)]
    pub github_username: String,
}

/// Machine-readable error codes of the `error` frame (seed 002).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// Malformed JSON, a missing `type`, an unknown `type` or bad fields.
    InvalidMessage,
    /// A subscription could not be made (unknown or forbidden stream).
    SubscriptionError,
    /// The connection sends more than its rate allows.
    RateLimit,
    /// The server failed; the details are in its log, not here.
    InternalError,
}

/// A frame sent by the server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
pub enum ServerMessage {
    /// First frame after a successful upgrade.
    #[serde(rename = "connected")]
    Connected {
        /// `conn_<uuid>`, unique per socket; appears in the server's log.
        connection_id: String,
        user: ConnectedUser,
        timestamp: DateTime<Utc>,
    },
    /// Answer to [`ClientMessage::Ping`].
    #[serde(rename = "pong")]
    Pong { timestamp: DateTime<Utc> },
    /// Something the client sent could not be handled. The connection stays
    /// open unless the problem repeats (then close 4002/4003 follows).
    #[serde(rename = "error")]
    Error {
        code: ErrorCode,
        message: String,
        timestamp: DateTime<Utc>,
    },
    /// The subscription is made; its events follow.
    #[serde(rename = "subscribed")]
    Subscribed {
        channel: Channel,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        execution_id: Option<ExecutionId>,
    },
    #[serde(rename = "unsubscribed")]
    Unsubscribed {
        channel: Channel,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        execution_id: Option<ExecutionId>,
    },
    /// Live lifecycle events were dropped for this slow client: reload lists.
    #[serde(rename = "resync")]
    Resync { channel: Channel },
    /// Several events in one frame (log lines coalesced over up to 50 ms or
    /// 64 KiB), in order.
    #[serde(rename = "batch")]
    Batch { events: Vec<ServerMessage> },
    /// Extension: the execution was accepted and waits for a free slot.
    #[serde(rename = "agent.queued")]
    AgentQueued {
        execution_id: ExecutionId,
        agent_type: AgentType,
        seq: u64,
        timestamp: DateTime<Utc>,
    },
    #[serde(rename = "agent.started")]
    AgentStarted {
        execution_id: ExecutionId,
        agent_type: AgentType,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        issue_number: Option<u64>,
        seq: u64,
        timestamp: DateTime<Utc>,
    },
    #[serde(rename = "agent.progress")]
    AgentProgress {
        execution_id: ExecutionId,
        progress: u8,
        current_step: String,
        seq: u64,
        timestamp: DateTime<Utc>,
    },
    #[serde(rename = "agent.log")]
    AgentLog {
        execution_id: ExecutionId,
        level: LogLevel,
        /// Extension: which pipe the line came from.
        stream: LogStream,
        message: String,
        /// Extension: how the line ended, when not with `\n` (`crlf`, or
        /// `none`: the next line of the stream continues this one).
        #[serde(default, skip_serializing_if = "LineEnd::is_lf")]
        end: LineEnd,
        seq: u64,
        timestamp: DateTime<Utc>,
    },
    #[serde(rename = "agent.completed")]
    AgentCompleted {
        execution_id: ExecutionId,
        agent_type: AgentType,
        result: serde_json::Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        usage: Option<ResourceUsage>,
        seq: u64,
        timestamp: DateTime<Utc>,
    },
    /// Failed or timed out (`status` tells which; `errorCode` is `TIMEOUT`
    /// for the latter).
    #[serde(rename = "agent.failed")]
    AgentFailed {
        execution_id: ExecutionId,
        agent_type: AgentType,
        error_message: String,
        error_code: String,
        status: ExecutionStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signal: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        usage: Option<ResourceUsage>,
        seq: u64,
        timestamp: DateTime<Utc>,
    },
    /// Extension: stopped on request.
    #[serde(rename = "agent.cancelled")]
    AgentCancelled {
        execution_id: ExecutionId,
        agent_type: AgentType,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        usage: Option<ResourceUsage>,
        seq: u64,
        timestamp: DateTime<Utc>,
    },
    /// Extension: the process group was stopped (SIGSTOP).
    #[serde(rename = "agent.paused")]
    AgentPaused {
        execution_id: ExecutionId,
        seq: u64,
        timestamp: DateTime<Utc>,
    },
    /// Extension: the process group was continued (SIGCONT).
    #[serde(rename = "agent.resumed")]
    AgentResumed {
        execution_id: ExecutionId,
        seq: u64,
        timestamp: DateTime<Utc>,
    },
    /// Extension: the runner holding it was lost; it waits in the queue again.
    #[serde(rename = "agent.requeued")]
    AgentRequeued {
        execution_id: ExecutionId,
        reason: String,
        seq: u64,
        timestamp: DateTime<Utc>,
    },
    /// Sent to every connection when an issue is created.
    #[serde(rename = "issue.created")]
    IssueCreated {
        issue_number: u64,
        title: String,
        repository_id: RepositoryId,
        /// Extension: the issue's global id (its page is `/issues/<id>`).
        issue_id: IssueId,
        timestamp: DateTime<Utc>,
    },
    /// Extension: an issue's title, state, labels or assignee changed.
    #[serde(rename = "issue.updated")]
    IssueUpdated {
        issue_number: u64,
        title: String,
        repository_id: RepositoryId,
        issue_id: IssueId,
        state: IssueState,
        labels: Vec<String>,
        timestamp: DateTime<Utc>,
    },
    #[serde(rename = "workflow.started")]
    WorkflowStarted {
        workflow_execution_id: WorkflowRunId,
        workflow_id: Option<WorkflowId>,
        workflow_name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        issue_number: Option<u64>,
        seq: u64,
        timestamp: DateTime<Utc>,
    },
    /// Extension: a step of a run changed state.
    #[serde(rename = "workflow.step")]
    WorkflowStep {
        workflow_execution_id: WorkflowRunId,
        workflow_id: Option<WorkflowId>,
        stage: u32,
        step: u32,
        step_key: String,
        status: StepStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        execution_id: Option<ExecutionId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        actor: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        seq: u64,
        timestamp: DateTime<Utc>,
    },
    /// Extension: a step waits at its approval gate.
    #[serde(rename = "workflow.approval_required")]
    WorkflowApprovalRequired {
        workflow_execution_id: WorkflowRunId,
        workflow_id: Option<WorkflowId>,
        stage: u32,
        step: u32,
        step_key: String,
        seq: u64,
        timestamp: DateTime<Utc>,
    },
    #[serde(rename = "workflow.completed")]
    WorkflowCompleted {
        workflow_execution_id: WorkflowRunId,
        workflow_id: Option<WorkflowId>,
        agent_executions: Vec<AgentExecutionRef>,
        /// Extension, for clients without Yagura's extensions only: how a
        /// run that did not complete ended (they get no `workflow.failed`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<RunStatus>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_message: Option<String>,
        seq: u64,
        timestamp: DateTime<Utc>,
    },
    /// Extension: the run ended failed, cancelled or rejected.
    #[serde(rename = "workflow.failed")]
    WorkflowFailed {
        workflow_execution_id: WorkflowRunId,
        workflow_id: Option<WorkflowId>,
        status: RunStatus,
        error_message: String,
        agent_executions: Vec<AgentExecutionRef>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        actor: Option<String>,
        seq: u64,
        timestamp: DateTime<Utc>,
    },
    /// Extension: a remote runner came online, went offline or changed load.
    #[serde(rename = "runner.updated")]
    RunnerUpdated {
        runner_id: String,
        name: String,
        online: bool,
        timestamp: DateTime<Utc>,
    },
    /// Sent to the connections of the user it is for.
    #[serde(rename = "notification")]
    Notification {
        /// Extension: for marking it read.
        id: NotificationId,
        severity: Severity,
        title: String,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        action_url: Option<String>,
        timestamp: DateTime<Utc>,
    },
}

impl ServerMessage {
    /// The stream position of an execution event, if this is one.
    pub fn seq(&self) -> Option<(ExecutionId, u64)> {
        match self {
            ServerMessage::AgentQueued {
                execution_id, seq, ..
            }
            | ServerMessage::AgentStarted {
                execution_id, seq, ..
            }
            | ServerMessage::AgentProgress {
                execution_id, seq, ..
            }
            | ServerMessage::AgentLog {
                execution_id, seq, ..
            }
            | ServerMessage::AgentCompleted {
                execution_id, seq, ..
            }
            | ServerMessage::AgentFailed {
                execution_id, seq, ..
            }
            | ServerMessage::AgentCancelled {
                execution_id, seq, ..
            }
            | ServerMessage::AgentPaused {
                execution_id, seq, ..
            }
            | ServerMessage::AgentResumed {
                execution_id, seq, ..
            }
            | ServerMessage::AgentRequeued {
                execution_id, seq, ..
            } => Some((*execution_id, *seq)),
            _ => None,
        }
    }

    /// The message as seed 002 has it, for a client that did not ask for
    /// Yagura's extensions; `None` for a frame type seed 002 does not
    /// define (a seed client would drop it, or worse, stumble on it). A
    /// cancelled run is seed 002's `agent.failed` (code `CANCELLED`); a
    /// failed workflow run is its `workflow.completed` with a status.
    pub fn seed_view(self) -> Option<ServerMessage> {
        Some(match self {
            ServerMessage::AgentCancelled {
                execution_id,
                agent_type,
                usage,
                seq,
                timestamp,
            } => ServerMessage::AgentFailed {
                execution_id,
                agent_type,
                error_message: "cancelled".into(),
                error_code: "CANCELLED".into(),
                status: ExecutionStatus::Cancelled,
                exit_code: None,
                signal: None,
                usage,
                seq,
                timestamp,
            },
            ServerMessage::WorkflowFailed {
                workflow_execution_id,
                workflow_id,
                status,
                error_message,
                agent_executions,
                seq,
                timestamp,
                ..
            } => ServerMessage::WorkflowCompleted {
                workflow_execution_id,
                workflow_id,
                agent_executions,
                status: Some(status),
                error_message: Some(error_message),
                seq,
                timestamp,
            },
            // Yagura's own: no seed 002 client knows them.
            ServerMessage::Resync { .. }
            | ServerMessage::Batch { .. }
            | ServerMessage::AgentQueued { .. }
            | ServerMessage::AgentPaused { .. }
            | ServerMessage::AgentResumed { .. }
            | ServerMessage::AgentRequeued { .. }
            | ServerMessage::IssueUpdated { .. }
            | ServerMessage::WorkflowStep { .. }
            | ServerMessage::WorkflowApprovalRequired { .. }
            | ServerMessage::RunnerUpdated { .. } => return None,
            other => other,
        })
    }

    /// The stream position of a workflow run event, if this is one.
    pub fn workflow_seq(&self) -> Option<(WorkflowRunId, u64)> {
        match self {
            ServerMessage::WorkflowStarted {
                workflow_execution_id,
                seq,
                ..
            }
            | ServerMessage::WorkflowStep {
                workflow_execution_id,
                seq,
                ..
            }
            | ServerMessage::WorkflowApprovalRequired {
                workflow_execution_id,
                seq,
                ..
            }
            | ServerMessage::WorkflowCompleted {
                workflow_execution_id,
                seq,
                ..
            }
            | ServerMessage::WorkflowFailed {
                workflow_execution_id,
                seq,
                ..
            } => Some((*workflow_execution_id, *seq)),
            _ => None,
        }
    }
}

impl From<&WorkflowEvent> for ServerMessage {
    /// The native dialect's view of a workflow run event.
    fn from(event: &WorkflowEvent) -> Self {
        let workflow_execution_id = event.run_id;
        let seq = event.seq;
        let timestamp = DateTime::<Utc>::from_timestamp_millis(event.at_ms).unwrap_or_default();
        match &event.body {
            WorkflowEventBody::Started {
                workflow_id,
                workflow_name,
                issue_number,
                ..
            } => ServerMessage::WorkflowStarted {
                workflow_execution_id,
                workflow_id: *workflow_id,
                workflow_name: workflow_name.clone(),
                issue_number: *issue_number,
                seq,
                timestamp,
            },
            WorkflowEventBody::Step {
                workflow_id,
                stage,
                index,
                key,
                status: StepStatus::WaitingApproval,
                ..
            } => ServerMessage::WorkflowApprovalRequired {
                workflow_execution_id,
                workflow_id: *workflow_id,
                stage: *stage,
                step: *index,
                step_key: key.clone(),
                seq,
                timestamp,
            },
            WorkflowEventBody::Step {
                workflow_id,
                stage,
                index,
                key,
                status,
                execution_id,
                actor,
                message,
            } => ServerMessage::WorkflowStep {
                workflow_execution_id,
                workflow_id: *workflow_id,
                stage: *stage,
                step: *index,
                step_key: key.clone(),
                status: *status,
                execution_id: *execution_id,
                actor: actor.clone(),
                message: message.clone(),
                seq,
                timestamp,
            },
            WorkflowEventBody::Finished {
                workflow_id,
                status: RunStatus::Completed,
                agent_executions,
                ..
            } => ServerMessage::WorkflowCompleted {
                workflow_execution_id,
                workflow_id: *workflow_id,
                agent_executions: agent_executions.clone(),
                status: None,
                error_message: None,
                seq,
                timestamp,
            },
            WorkflowEventBody::Finished {
                workflow_id,
                status,
                agent_executions,
                error,
                actor,
            } => ServerMessage::WorkflowFailed {
                workflow_execution_id,
                workflow_id: *workflow_id,
                status: *status,
                error_message: error.clone().unwrap_or_else(|| status.as_str().to_string()),
                agent_executions: agent_executions.clone(),
                actor: actor.clone(),
                seq,
                timestamp,
            },
        }
    }
}

impl From<&Notification> for ServerMessage {
    fn from(n: &Notification) -> Self {
        ServerMessage::Notification {
            id: n.id,
            severity: n.severity,
            title: n.title.clone(),
            message: n.message.clone(),
            action_url: n.action_url.clone(),
            timestamp: DateTime::<Utc>::from_timestamp_millis(n.created_at).unwrap_or_default(),
        }
    }
}

impl From<&WorkspaceEvent> for ServerMessage {
    /// The native dialect's view of a workspace event.
    fn from(event: &WorkspaceEvent) -> Self {
        let at = |ms: i64| DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default();
        match event {
            WorkspaceEvent::IssueCreated {
                issue_id,
                repository_id,
                number,
                title,
                at_ms,
            } => ServerMessage::IssueCreated {
                issue_number: *number,
                title: title.clone(),
                repository_id: *repository_id,
                issue_id: *issue_id,
                timestamp: at(*at_ms),
            },
            WorkspaceEvent::IssueUpdated {
                issue_id,
                repository_id,
                number,
                title,
                state,
                labels,
                at_ms,
            } => ServerMessage::IssueUpdated {
                issue_number: *number,
                title: title.clone(),
                repository_id: *repository_id,
                issue_id: *issue_id,
                state: *state,
                labels: labels.clone(),
                timestamp: at(*at_ms),
            },
            WorkspaceEvent::Workflow(event) => ServerMessage::from(event),
            WorkspaceEvent::Notification { notification, .. } => ServerMessage::from(notification),
            WorkspaceEvent::RunnerChanged {
                runner_id,
                name,
                online,
                at_ms,
            } => ServerMessage::RunnerUpdated {
                runner_id: runner_id.clone(),
                name: name.clone(),
                online: *online,
                timestamp: at(*at_ms),
            },
        }
    }
}

impl From<&ExecutionEvent> for ServerMessage {
    /// The native dialect's view of a domain event.
    fn from(event: &ExecutionEvent) -> Self {
        let execution_id = event.execution_id;
        let seq = event.seq;
        let timestamp = DateTime::<Utc>::from_timestamp_millis(event.at_ms).unwrap_or_default();
        match &event.body {
            EventBody::Queued { agent_type } => ServerMessage::AgentQueued {
                execution_id,
                agent_type: *agent_type,
                seq,
                timestamp,
            },
            EventBody::Started {
                agent_type,
                issue_number,
                ..
            } => ServerMessage::AgentStarted {
                execution_id,
                agent_type: *agent_type,
                issue_number: *issue_number,
                seq,
                timestamp,
            },
            EventBody::Progress {
                progress,
                current_step,
            } => ServerMessage::AgentProgress {
                execution_id,
                progress: *progress,
                current_step: current_step.clone(),
                seq,
                timestamp,
            },
            EventBody::Log {
                stream,
                level,
                message,
                end,
            } => ServerMessage::AgentLog {
                execution_id,
                level: *level,
                stream: *stream,
                message: message.clone(),
                end: *end,
                seq,
                timestamp,
            },
            EventBody::Paused => ServerMessage::AgentPaused {
                execution_id,
                seq,
                timestamp,
            },
            EventBody::Resumed => ServerMessage::AgentResumed {
                execution_id,
                seq,
                timestamp,
            },
            EventBody::Requeued { reason } => ServerMessage::AgentRequeued {
                execution_id,
                reason: reason.clone(),
                seq,
                timestamp,
            },
            EventBody::Finished {
                agent_type,
                status,
                result,
                error_code,
                error_message,
                exit_code,
                signal,
                usage,
            } => match status {
                ExecutionStatus::Cancelled => ServerMessage::AgentCancelled {
                    execution_id,
                    agent_type: *agent_type,
                    usage: *usage,
                    seq,
                    timestamp,
                },
                ExecutionStatus::Completed => ServerMessage::AgentCompleted {
                    execution_id,
                    agent_type: *agent_type,
                    result: result
                        .clone()
                        .unwrap_or(serde_json::Value::Object(Default::default())),
                    exit_code: *exit_code,
                    usage: *usage,
                    seq,
                    timestamp,
                },
                other => ServerMessage::AgentFailed {
                    execution_id,
                    agent_type: *agent_type,
                    error_message: error_message.clone().unwrap_or_else(|| "failed".into()),
                    error_code: error_code.clone().unwrap_or_else(|| "FAILED".into()),
                    status: *other,
                    exit_code: *exit_code,
                    signal: *signal,
                    usage: *usage,
                    seq,
                    timestamp,
                },
            },
        }
    }
}

/// Why a text frame could not be read as a [`ClientMessage`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("malformed JSON: {0}")]
    Json(String),
    #[error("a message must be a JSON object with a string \"type\" field")]
    MissingType,
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    #[error("invalid {kind:?} message: {reason}")]
    InvalidFields { kind: String, reason: String },
}

impl ClientMessage {
    /// Decodes a text frame, telling apart the ways it can be wrong so that
    /// the `error` frame says something useful.
    pub fn decode(text: &str) -> Result<Self, DecodeError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| DecodeError::Json(e.to_string()))?;
        let kind = value
            .get("type")
            .and_then(|t| t.as_str())
            .ok_or(DecodeError::MissingType)?
            .to_owned();
        if !Self::KNOWN_TYPES.contains(&kind.as_str()) {
            return Err(DecodeError::UnknownType(kind));
        }
        serde_json::from_value(value).map_err(|e| DecodeError::InvalidFields {
            kind,
            reason: e.to_string(),
        })
    }

    /// Every `type` a client may send.
    pub const KNOWN_TYPES: &'static [&'static str] = &["ping", "subscribe", "unsubscribe"];
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ping_decodes() {
        assert_eq!(
            ClientMessage::decode(r#"{"type":"ping"}"#),
            Ok(ClientMessage::Ping)
        );
    }

    #[test]
    fn bad_frames_say_what_is_wrong() {
        assert!(matches!(
            ClientMessage::decode("{nope"),
            Err(DecodeError::Json(_))
        ));
        assert_eq!(
            ClientMessage::decode("[1,2]"),
            Err(DecodeError::MissingType)
        );
        assert_eq!(
            ClientMessage::decode(r#"{"type":7}"#),
            Err(DecodeError::MissingType)
        );
        assert_eq!(
            ClientMessage::decode(r#"{"type":"launch"}"#),
            Err(DecodeError::UnknownType("launch".into()))
        );
    }

    #[test]
    fn subscribe_decodes_with_and_without_since() {
        let id = ExecutionId(uuid::Uuid::nil());
        assert_eq!(
            ClientMessage::decode(
                r#"{"type":"subscribe","channel":"agent-execution","executionId":"00000000-0000-0000-0000-000000000000","since":7}"#
            ),
            Ok(ClientMessage::Subscribe {
                channel: Channel::AgentExecution,
                execution_id: Some(id),
                since: Some(7)
            })
        );
        assert_eq!(
            ClientMessage::decode(r#"{"type":"subscribe","channel":"executions"}"#),
            Ok(ClientMessage::Subscribe {
                channel: Channel::Executions,
                execution_id: None,
                since: None
            })
        );
        assert!(matches!(
            ClientMessage::decode(r#"{"type":"subscribe","channel":"nope"}"#),
            Err(DecodeError::InvalidFields { .. })
        ));
    }

    #[test]
    fn events_map_to_seed_messages() {
        let id = ExecutionId(uuid::Uuid::nil());
        let ev = |body| ExecutionEvent {
            execution_id: id,
            seq: 3,
            at_ms: 1_761_127_200_000,
            body,
        };
        let log = ServerMessage::from(&ev(EventBody::Log {
            stream: LogStream::Stderr,
            level: LogLevel::Warn,
            message: "careful".into(),
            end: LineEnd::Lf,
        }));
        assert_eq!(
            serde_json::to_value(&log).unwrap(),
            json!({"type":"agent.log","executionId":"00000000-0000-0000-0000-000000000000","level":"warn",
                   "stream":"stderr","message":"careful","seq":3,"timestamp":"2025-10-22T10:00:00Z"})
        );
        // A line without its end (a prompt) says so; `\n`, the usual, is implied.
        let prompt = ServerMessage::from(&ev(EventBody::Log {
            stream: LogStream::Stdout,
            level: LogLevel::Info,
            message: "Name? ".into(),
            end: LineEnd::None,
        }));
        assert_eq!(serde_json::to_value(&prompt).unwrap()["end"], "none");
        let failed = ServerMessage::from(&ev(EventBody::Finished {
            agent_type: AgentType::CodeGen,
            status: ExecutionStatus::TimedOut,
            result: None,
            error_code: Some("TIMEOUT".into()),
            error_message: Some("timed out after 1 s".into()),
            exit_code: None,
            signal: Some(9),
            usage: None,
        }));
        let v = serde_json::to_value(&failed).unwrap();
        assert_eq!(v["type"], "agent.failed");
        assert_eq!(v["errorCode"], "TIMEOUT");
        assert_eq!(v["status"], "timed_out");
        assert_eq!(v["agentType"], "CodeGen");
        assert_eq!(failed.seq(), Some((id, 3)));
    }

    #[test]
    fn server_frames_use_seed_field_names() {
        let ts: DateTime<Utc> = "2025-10-22T10:00:00Z".parse().unwrap();
        let id = UserId("550e8400-e29b-41d4-a716-446655440000".parse().unwrap());
        let connected = ServerMessage::Connected {
            connection_id: "conn_1".into(),
            user: ConnectedUser {
                id,
                username: "ada".into(),
                github_username: "ada-lovelace".into(),
            },
            timestamp: ts,
        };
        assert_eq!(
            serde_json::to_value(&connected).unwrap(),
            json!({
                "type": "connected",
                "connectionId": "conn_1",
                "user": {"id": "550e8400-e29b-41d4-a716-446655440000", "username": "ada",
                         "githubUsername": "ada-lovelace"},
                "timestamp": "2025-10-22T10:00:00Z"
            })
        );
        let err = ServerMessage::Error {
            code: ErrorCode::InvalidMessage,
            message: "x".into(),
            timestamp: ts,
        };
        assert_eq!(
            serde_json::to_value(&err).unwrap(),
            json!({"type": "error", "code": "INVALID_MESSAGE", "message": "x",
                   "timestamp": "2025-10-22T10:00:00Z"})
        );
        assert_eq!(
            serde_json::to_value(ServerMessage::Pong { timestamp: ts }).unwrap(),
            json!({"type": "pong", "timestamp": "2025-10-22T10:00:00Z"})
        );
    }
}

#[cfg(test)]
#[path = "native_props.rs"]
mod props;

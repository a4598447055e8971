use serde::{Deserialize, Serialize};

use super::{
    AgentType, ExecutionId, ExecutionStatus, IssueId, IssueState, LineEnd, LogLevel, LogStream,
    Notification, RepositoryId, ResourceUsage, UserId, WorkflowEvent,
};

/// What happened in an execution. This is the store's format and the event
/// core's; each wire dialect maps it to its own messages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
// Fields are renamed per variant, not with `rename_all_fields`: the
// OpenAPI schema (utoipa) reads only the variants' own `rename_all`.
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventBody {
    #[serde(rename_all = "camelCase")]
    Queued {
        agent_type: AgentType,
    },
    #[serde(rename_all = "camelCase")]
    Started {
        agent_type: AgentType,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        issue_number: Option<u64>,
        pid: Option<u32>,
    },
    #[serde(rename_all = "camelCase")]
    Progress {
        progress: u8,
        current_step: String,
    },
    #[serde(rename_all = "camelCase")]
    Log {
        stream: LogStream,
        level: LogLevel,
        message: String,
        /// What ended the line (stored only when not `\n`).
        #[serde(default, skip_serializing_if = "LineEnd::is_lf")]
        end: LineEnd,
    },
    Paused,
    Resumed,
    /// Its runner was lost and the agent asks to run it again: back to the
    /// queue, for another runner.
    #[serde(rename_all = "camelCase")]
    Requeued {
        reason: String,
    },
    /// A terminal state: completed, failed, cancelled or timed out.
    #[serde(rename_all = "camelCase")]
    Finished {
        agent_type: AgentType,
        status: ExecutionStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        result: Option<serde_json::Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_code: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_message: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signal: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        usage: Option<ResourceUsage>,
    },
}

impl EventBody {
    /// Log lines are the bulk of the traffic; everything else is lifecycle.
    pub fn is_log(&self) -> bool {
        matches!(self, EventBody::Log { .. })
    }
}

/// One numbered event of one execution's stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExecutionEvent {
    pub execution_id: ExecutionId,
    /// 1, 2, 3… per execution, with no gaps.
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
    pub body: EventBody,
}

/// The end of an execution's log, for the page of a finished run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LogTail {
    /// The last log events, in order.
    pub events: Vec<ExecutionEvent>,
    /// They are the whole log.
    pub complete: bool,
}

/// Something that happened in the workspace (issues, workflow runs,
/// notifications, runners), fanned out live to every connection that may
/// see it. The core publishes these; each dialect maps them to its frames.
#[derive(Clone, Debug, PartialEq)]
pub enum WorkspaceEvent {
    IssueCreated {
        issue_id: IssueId,
        repository_id: RepositoryId,
        number: u64,
        title: String,
        at_ms: i64,
    },
    /// Its title, state, labels or assignee changed.
    IssueUpdated {
        issue_id: IssueId,
        repository_id: RepositoryId,
        number: u64,
        title: String,
        state: IssueState,
        labels: Vec<String>,
        at_ms: i64,
    },
    /// A numbered event of one workflow run.
    Workflow(WorkflowEvent),
    /// A notification, for its user only.
    Notification {
        user: UserId,
        notification: Notification,
    },
    /// A remote runner came online or went offline.
    RunnerChanged {
        runner_id: String,
        name: String,
        online: bool,
        at_ms: i64,
    },
}

impl WorkspaceEvent {
    /// The one user this event is for; `None` for everyone.
    pub fn recipient(&self) -> Option<UserId> {
        match self {
            WorkspaceEvent::Notification { user, .. } => Some(*user),
            _ => None,
        }
    }
}

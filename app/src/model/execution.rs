use serde::{Deserialize, Serialize};

use super::{
    AgentId, AgentType, ExecutionId, IssueRef, TokenUsage, WorkflowRunId, WorkflowRunSummary,
};

/// Where an execution is in its life. Terminal states are written once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    Queued,
    Running,
    Paused,
    Completed,
    Failed,
    Cancelled,
    TimedOut,
}

impl ExecutionStatus {
    pub const ALL: [ExecutionStatus; 7] = [
        ExecutionStatus::Queued,
        ExecutionStatus::Running,
        ExecutionStatus::Paused,
        ExecutionStatus::Completed,
        ExecutionStatus::Failed,
        ExecutionStatus::Cancelled,
        ExecutionStatus::TimedOut,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Queued => "queued",
            ExecutionStatus::Running => "running",
            ExecutionStatus::Paused => "paused",
            ExecutionStatus::Completed => "completed",
            ExecutionStatus::Failed => "failed",
            ExecutionStatus::Cancelled => "cancelled",
            ExecutionStatus::TimedOut => "timed_out",
        }
    }

    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            ExecutionStatus::Completed
                | ExecutionStatus::Failed
                | ExecutionStatus::Cancelled
                | ExecutionStatus::TimedOut
        )
    }
}

impl std::str::FromStr for ExecutionStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ExecutionStatus::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown status {s:?}"))
    }
}

/// Which pipe a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    Stdout,
    Stderr,
    /// Lines Yagura itself adds (truncation markers, spawn errors).
    System,
    /// What a person typed into the process's input on the run page,
    /// shown in the log as a terminal shows it (`> text`). Not output:
    /// dialects that carry the agent's output leave it out.
    Stdin,
}

/// How a line of output ended, so that the bytes as written can be given
/// back exactly (byte-exact dialects, terminals) while the log stays a
/// list of lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum LineEnd {
    /// `\n`.
    #[default]
    Lf,
    /// `\r\n`.
    Crlf,
    /// Nothing: a prompt waiting for input, or a piece of a longer line;
    /// what follows on the same stream continues it.
    None,
}

impl LineEnd {
    pub const fn as_str(self) -> &'static str {
        match self {
            LineEnd::Lf => "\n",
            LineEnd::Crlf => "\r\n",
            LineEnd::None => "",
        }
    }

    pub fn is_lf(&self) -> bool {
        *self == LineEnd::Lf
    }
}

/// Seed 002's log levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// Resource use of a finished process (rusage of the reaped child).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ResourceUsage {
    /// User + system CPU time in milliseconds.
    pub cpu_ms: u64,
    /// Peak resident memory in KiB.
    pub peak_memory_kb: u64,
    /// Wall time from start to exit in milliseconds.
    pub wall_ms: u64,
}

/// An execution as lists and the detail page show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Execution {
    pub id: ExecutionId,
    pub agent_id: Option<AgentId>,
    pub agent_name: String,
    pub agent_type: AgentType,
    pub prompt: String,
    /// The argv actually run (placeholders filled in).
    pub argv: Vec<String>,
    pub status: ExecutionStatus,
    pub progress: u8,
    pub current_step: Option<String>,
    pub result: Option<serde_json::Value>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub usage: Option<ResourceUsage>,
    /// Tokens and cost the agent reported (`::usage`, Claude Code's or
    /// Codex's JSON output); none when it reported nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_usage: Option<TokenUsage>,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// Highest event sequence number so far.
    pub last_seq: u64,
    /// The issue it ran on, if any.
    #[serde(default)]
    pub issue: Option<IssueRef>,
    /// The workflow run it is a step of, if any.
    #[serde(default)]
    pub workflow_run_id: Option<WorkflowRunId>,
    /// The branch it worked on, when it worked in a repository's worktree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The pull request opened from its branch on its Changes page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pr_url: Option<String>,
}

/// A page of executions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExecutionPage {
    pub items: Vec<Execution>,
    pub total: u64,
}

/// Filters and paging of the executions list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExecutionQuery {
    pub status: Option<ExecutionStatus>,
    pub agent_id: Option<AgentId>,
    pub limit: u32,
    pub offset: u32,
}

/// What a person can do to a live execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ExecutionAction {
    Cancel,
    Pause,
    Resume,
}

/// The dashboard's numbers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Dashboard {
    /// Queued, running and paused executions, oldest first.
    pub active: Vec<Execution>,
    /// The latest executions, newest first.
    pub recent: Vec<Execution>,
    /// Executions created today (UTC), per status.
    pub today: Vec<(ExecutionStatus, u64)>,
    /// Workflow runs that have not ended, oldest first.
    #[serde(default)]
    pub runs: Vec<WorkflowRunSummary>,
}

//! Plain data shared by the server and the browser. Everything here compiles
//! to wasm, so nothing here may hold a secret: password hashes, signing keys
//! and tokens stay in `server`.

mod agent;
mod api_key;
mod audit;
mod board;
mod diff;
mod event;
mod execution;
mod github;
mod ids;
mod insights;
mod issue;
mod notification;
mod runner;
#[cfg(feature = "ssr")]
mod sql;
mod usage;
mod user;
mod workflow;

pub use agent::{
    command_warnings, display_command, option_warnings, shell_command, shell_line, shell_script,
    Agent, AgentInput, AgentStats, AgentType, Preset, ProgramCheck, RunnerLost, DEFAULT_OUTPUT_CAP,
    DEFAULT_TIMEOUT_SECS, MASKED, PLACEHOLDERS, PRESETS,
};
pub use api_key::{ApiKey, ApiKeysOverview, NewApiKey};
pub use audit::{AuditEntry, AuditPage, AuditQuery};
pub use board::{
    board_column, board_move, Board, BoardCard, BoardColumn, BoardMove, BoardQuery, LatestRun,
    BOARD_DONE_DAYS, BOARD_DONE_LIMIT, BOARD_OPEN_LIMIT,
};
pub use diff::{
    ChangedFile, Changes, ChangesOf, ChangesState, Commit, DiffLine, FileDiff, FileStatus, Hunk,
    LineKind, FILES_PER_PAGE, LINES_PER_FILE,
};
pub use event::{EventBody, ExecutionEvent, LogTail, WorkspaceEvent};
pub use execution::{
    Dashboard, Execution, ExecutionAction, ExecutionPage, ExecutionQuery, ExecutionStatus, LineEnd,
    LogLevel, LogStream, ResourceUsage,
};
pub use github::{
    ConnectionCheck, GithubConnect, GithubConnectForm, GithubOverview, GithubSettings,
    GithubSettingsForm, GithubSettingsInput, GithubSpec, StatusLabels, SyncReport,
};
pub use ids::{
    AgentId, ExecutionId, IssueId, NotificationId, RepositoryId, UserId, WorkflowId, WorkflowRunId,
};
pub use insights::{
    DayOutcomes, DayUsage, GroupStats, HostLoad, Insights, LiveLoad, Percentiles, UsageGroup,
    UsageInsights,
};
pub use issue::{
    normalise_labels, split_labels, Issue, IssueDetail, IssueInput, IssuePage, IssueQuery,
    IssueRef, IssueState, IssueUpdate, Repository, RepositoryInput,
};
pub use notification::{Notification, NotificationList, Severity};
pub use runner::{NewRunnerToken, Runner, RunnerToken, RunnersOverview};
pub use usage::{
    dollars, parse as parse_usage, thousands, Budget, TokenTally, TokenUsage, UsageReport,
    MAX_TOKENS,
};
pub use user::{
    Invitation, InvitationInput, InvitationPreview, InvitationStatus, NewInvitation, Person,
    PersonChange, Role, Session, SignInOptions, SignedInSession, SsoLink, Theme, User,
};
pub use workflow::{
    validate_definition, AgentExecutionRef, OnFailure, RunAction, RunStatus, RunStep, Stage, Step,
    StepRef, StepStatus, Workflow, WorkflowDefinition, WorkflowEvent, WorkflowEventBody,
    WorkflowInput, WorkflowRun, WorkflowRunSummary, PROMPT_PLACEHOLDERS,
};

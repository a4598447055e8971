use serde::{Deserialize, Serialize};

use super::{
    AgentId, AgentType, Budget, ExecutionId, ExecutionStatus, IssueRef, WorkflowId, WorkflowRunId,
};

/// What a workflow does: stages run one after another; the steps of a
/// stage run in parallel.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct WorkflowDefinition {
    pub stages: Vec<Stage>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Stage {
    pub name: String,
    pub steps: Vec<Step>,
}

/// One agent run within a stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// Unique within the workflow: letters, digits, `-` and `_`. Later
    /// prompts refer to this step's result as `{steps.<key>.result}`.
    pub key: String,
    pub agent_id: AgentId,
    /// The `{prompt}` given to the agent; see [`PROMPT_PLACEHOLDERS`].
    #[serde(default)]
    pub prompt: String,
    #[serde(default)]
    pub on_failure: OnFailure,
    /// A person must approve before this step starts.
    #[serde(default)]
    pub approval: bool,
}

impl WorkflowDefinition {
    /// Whether a step's prompt uses the issue (`{issue.title}` and the
    /// like): such a workflow runs on an issue, never on none.
    pub fn needs_issue(&self) -> bool {
        self.stages
            .iter()
            .flat_map(|s| &s.steps)
            .any(|s| s.prompt.contains("{issue."))
    }
}

/// What a failed step does to its run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// The run fails once the step's stage has ended.
    #[default]
    Stop,
    /// The run goes on as if the step had succeeded (without a result).
    Continue,
}

impl OnFailure {
    pub const fn as_str(self) -> &'static str {
        match self {
            OnFailure::Stop => "stop",
            OnFailure::Continue => "continue",
        }
    }
}

impl std::str::FromStr for OnFailure {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "stop" => Ok(OnFailure::Stop),
            "continue" => Ok(OnFailure::Continue),
            _ => Err(format!("unknown failure policy {s:?}")),
        }
    }
}

/// The placeholders a step's prompt template may use.
pub const PROMPT_PLACEHOLDERS: &[&str] = &[
    "{issue.number}",
    "{issue.title}",
    "{issue.body}",
    "{issue.labels}",
    "{steps.<key>.result}",
    "{steps.<key>.result.<field>}",
    "{steps.<key>.status}",
];

/// A stored workflow definition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Workflow {
    pub id: WorkflowId,
    pub name: String,
    pub description: String,
    /// When an issue gets this label, the workflow starts on it.
    pub trigger_label: Option<String>,
    /// When an issue is assigned to this user (a GitHub login or a Yagura
    /// username), the workflow starts on it.
    #[serde(default)]
    pub trigger_assignee: Option<String>,
    pub definition: WorkflowDefinition,
    /// What one run of it (all its steps) may spend before a step is paused.
    #[serde(default, skip_serializing_if = "Budget::is_empty")]
    pub budget: Budget,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a person sends to create or replace a workflow.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct WorkflowInput {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub trigger_label: Option<String>,
    #[serde(default)]
    pub trigger_assignee: Option<String>,
    pub definition: WorkflowDefinition,
    #[serde(default)]
    pub budget: Budget,
}

/// Where a workflow run is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    /// At least one step waits for a person's approval.
    WaitingApproval,
    Completed,
    Failed,
    Cancelled,
    /// A person rejected an approval gate.
    Rejected,
}

impl RunStatus {
    pub const ALL: [RunStatus; 6] = [
        RunStatus::Running,
        RunStatus::WaitingApproval,
        RunStatus::Completed,
        RunStatus::Failed,
        RunStatus::Cancelled,
        RunStatus::Rejected,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::WaitingApproval => "waiting_approval",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Rejected => "rejected",
        }
    }

    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled | RunStatus::Rejected
        )
    }
}

impl std::str::FromStr for RunStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RunStatus::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown run status {s:?}"))
    }
}

/// Where one step of a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Its stage has not begun.
    Pending,
    WaitingApproval,
    /// Its execution is queued or running.
    Running,
    Completed,
    Failed,
    Cancelled,
    /// Never ran: the run ended first.
    Skipped,
    Rejected,
}

impl StepStatus {
    pub const ALL: [StepStatus; 8] = [
        StepStatus::Pending,
        StepStatus::WaitingApproval,
        StepStatus::Running,
        StepStatus::Completed,
        StepStatus::Failed,
        StepStatus::Cancelled,
        StepStatus::Skipped,
        StepStatus::Rejected,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            StepStatus::Pending => "pending",
            StepStatus::WaitingApproval => "waiting_approval",
            StepStatus::Running => "running",
            StepStatus::Completed => "completed",
            StepStatus::Failed => "failed",
            StepStatus::Cancelled => "cancelled",
            StepStatus::Skipped => "skipped",
            StepStatus::Rejected => "rejected",
        }
    }

    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            StepStatus::Completed
                | StepStatus::Failed
                | StepStatus::Cancelled
                | StepStatus::Skipped
                | StepStatus::Rejected
        )
    }
}

impl std::str::FromStr for StepStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StepStatus::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown step status {s:?}"))
    }
}

/// One step of one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RunStep {
    pub stage: u32,
    pub index: u32,
    pub key: String,
    pub agent_id: Option<AgentId>,
    pub agent_name: String,
    pub agent_type: AgentType,
    pub approval: bool,
    pub on_failure: OnFailure,
    pub status: StepStatus,
    pub execution_id: Option<ExecutionId>,
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
    /// Who approved or rejected the gate, and when.
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    /// Taken over from the run this one re-runs, not run again.
    pub reused: bool,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

/// A workflow run with its steps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct WorkflowRun {
    pub id: WorkflowRunId,
    pub workflow_id: Option<WorkflowId>,
    pub workflow_name: String,
    /// The definition as it was when the run started.
    pub definition: WorkflowDefinition,
    pub issue: Option<IssueRef>,
    pub status: RunStatus,
    pub error: Option<String>,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
    /// The run this one re-runs from a step.
    pub rerun_of: Option<WorkflowRunId>,
    pub steps: Vec<RunStep>,
    /// Highest event sequence number of the run's stream.
    pub last_seq: u64,
    /// The branch the run's commits are collected on, when it works in a
    /// repository (`yagura/<issue>-<short id>`).
    #[serde(default)]
    pub branch: Option<String>,
    /// The pull request opened for (or reported by) the run.
    #[serde(default)]
    pub pr_url: Option<String>,
    /// Why reporting back to GitHub failed, if it did.
    #[serde(default)]
    pub github_error: Option<String>,
}

impl WorkflowRun {
    pub fn step(&self, stage: u32, index: u32) -> Option<&RunStep> {
        self.steps
            .iter()
            .find(|s| s.stage == stage && s.index == index)
    }
}

/// A run as lists show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct WorkflowRunSummary {
    pub id: WorkflowRunId,
    pub workflow_id: Option<WorkflowId>,
    pub workflow_name: String,
    pub issue: Option<IssueRef>,
    pub status: RunStatus,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
    /// Steps ended / all steps.
    pub steps_done: u32,
    pub steps_total: u32,
    /// The pull request opened for (or reported by) the run.
    #[serde(default)]
    pub pr_url: Option<String>,
}

/// One entry of a run's history: every state change with time and actor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct WorkflowEvent {
    pub run_id: WorkflowRunId,
    /// 1, 2, 3… per run, with no gaps.
    pub seq: u64,
    pub at_ms: i64,
    pub body: WorkflowEventBody,
}

/// What happened in a run (the store's format; dialects map it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
// Fields are renamed per variant, not with `rename_all_fields`: the
// OpenAPI schema (utoipa) reads only the variants' own `rename_all`.
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WorkflowEventBody {
    #[serde(rename_all = "camelCase")]
    Started {
        workflow_id: Option<WorkflowId>,
        workflow_name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        issue_number: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rerun_of: Option<WorkflowRunId>,
        actor: Option<String>,
    },
    #[serde(rename_all = "camelCase")]
    Step {
        workflow_id: Option<WorkflowId>,
        stage: u32,
        index: u32,
        key: String,
        status: StepStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        execution_id: Option<ExecutionId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        actor: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    #[serde(rename_all = "camelCase")]
    Finished {
        workflow_id: Option<WorkflowId>,
        status: RunStatus,
        agent_executions: Vec<AgentExecutionRef>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        actor: Option<String>,
    },
}

impl WorkflowEventBody {
    /// One line for the run's history.
    pub fn describe(&self) -> String {
        match self {
            WorkflowEventBody::Started {
                workflow_name,
                rerun_of,
                ..
            } => match rerun_of {
                Some(_) => format!("Re-run of {workflow_name} started"),
                None => format!("{workflow_name} started"),
            },
            WorkflowEventBody::Step {
                key,
                status,
                message,
                ..
            } => {
                let what = match status {
                    StepStatus::Pending => "is pending",
                    StepStatus::WaitingApproval => "waits for approval",
                    StepStatus::Running => "started",
                    StepStatus::Completed => "completed",
                    StepStatus::Failed => "failed",
                    StepStatus::Cancelled => "was cancelled",
                    StepStatus::Skipped => "was skipped",
                    StepStatus::Rejected => "was rejected",
                };
                match message {
                    Some(m) => format!("Step {key} {what}: {m}"),
                    None => format!("Step {key} {what}"),
                }
            }
            WorkflowEventBody::Finished { status, error, .. } => match error {
                Some(e) => format!("Run ended {}: {e}", status.as_str()),
                None => format!("Run ended {}", status.as_str()),
            },
        }
    }

    pub fn actor(&self) -> Option<&str> {
        match self {
            WorkflowEventBody::Started { actor, .. }
            | WorkflowEventBody::Step { actor, .. }
            | WorkflowEventBody::Finished { actor, .. } => actor.as_deref(),
        }
    }
}

/// Seed 002's `agentExecutions` entry of `workflow.completed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AgentExecutionRef {
    pub execution_id: ExecutionId,
    pub agent_type: AgentType,
    pub status: ExecutionStatus,
}

/// A step's position, as approve / reject / re-run name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct StepRef {
    pub stage: u32,
    pub index: u32,
}

/// What a person can do to a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", tag = "action")]
pub enum RunAction {
    Approve {
        #[serde(deserialize_with = "number")]
        stage: u32,
        #[serde(deserialize_with = "number")]
        index: u32,
    },
    Reject {
        #[serde(deserialize_with = "number")]
        stage: u32,
        #[serde(deserialize_with = "number")]
        index: u32,
    },
    Cancel,
    /// Starts a new run that reuses the results of the steps before this one.
    RerunFrom {
        #[serde(deserialize_with = "number")]
        stage: u32,
        #[serde(deserialize_with = "number")]
        index: u32,
    },
}

/// A number as JSON has it, or as a form post carries it (a string): an
/// internally tagged enum is buffered by serde, so the URL-encoded decoder
/// cannot turn "1" into a number for it.
fn number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    #[derive(Deserialize)]
    #[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
    #[serde(untagged)]
    enum Either {
        Number(u32),
        Text(String),
    }
    match Either::deserialize(d)? {
        Either::Number(n) => Ok(n),
        Either::Text(s) => s.trim().parse().map_err(serde::de::Error::custom),
    }
}

/// Checks a definition's shape (agents are checked by the server).
pub fn validate_definition(def: &WorkflowDefinition) -> Result<(), String> {
    if def.stages.is_empty() {
        return Err("a workflow needs at least one stage".into());
    }
    if def.stages.len() > 20 {
        return Err("at most 20 stages".into());
    }
    let mut keys: Vec<&str> = Vec::new();
    for (i, stage) in def.stages.iter().enumerate() {
        if stage.steps.is_empty() {
            return Err(format!("stage {} has no steps", i + 1));
        }
        if stage.steps.len() > 10 {
            return Err(format!("stage {} has more than 10 steps", i + 1));
        }
        if stage.name.chars().count() > 80 {
            return Err(format!(
                "stage {}'s name is longer than 80 characters",
                i + 1
            ));
        }
        for step in &stage.steps {
            let ok = !step.key.is_empty()
                && step.key.len() <= 40
                && step
                    .key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !ok {
                return Err(format!(
                    "step key {:?} must be 1–40 letters, digits, '-' or '_'",
                    step.key
                ));
            }
            if keys.contains(&step.key.as_str()) {
                return Err(format!("step key {:?} is used twice", step.key));
            }
            if step.prompt.len() > 64 * 1024 {
                return Err(format!("step {}'s prompt is longer than 64 KiB", step.key));
            }
            keys.push(&step.key);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(key: &str) -> Step {
        Step {
            key: key.into(),
            agent_id: AgentId(uuid::Uuid::nil()),
            prompt: String::new(),
            on_failure: OnFailure::Stop,
            approval: false,
        }
    }

    #[test]
    fn a_prompt_that_uses_the_issue_needs_one() {
        let mut def = WorkflowDefinition {
            stages: vec![Stage {
                name: "only".into(),
                steps: vec![step("a"), step("b")],
            }],
        };
        assert!(!def.needs_issue());
        def.stages[0].steps[1].prompt = "after {steps.a.result}".into();
        assert!(!def.needs_issue());
        def.stages[0].steps[1].prompt = "fix #{issue.number}".into();
        assert!(def.needs_issue());
    }

    #[test]
    fn definitions_are_checked() {
        let ok = WorkflowDefinition {
            stages: vec![Stage {
                name: "plan".into(),
                steps: vec![step("plan"), step("plan-2")],
            }],
        };
        assert_eq!(validate_definition(&ok), Ok(()));
        assert!(validate_definition(&WorkflowDefinition::default()).is_err());
        let dup = WorkflowDefinition {
            stages: vec![
                Stage {
                    name: "a".into(),
                    steps: vec![step("x")],
                },
                Stage {
                    name: "b".into(),
                    steps: vec![step("x")],
                },
            ],
        };
        assert!(validate_definition(&dup).unwrap_err().contains("twice"));
        let bad = WorkflowDefinition {
            stages: vec![Stage {
                name: "a".into(),
                steps: vec![step("no spaces")],
            }],
        };
        assert!(validate_definition(&bad).is_err());
    }

    #[test]
    fn actions_have_a_tag() {
        let a: RunAction =
            serde_json::from_str(r#"{"action":"approve","stage":1,"index":0}"#).unwrap();
        assert_eq!(a, RunAction::Approve { stage: 1, index: 0 });
        let c: RunAction = serde_json::from_str(r#"{"action":"cancel"}"#).unwrap();
        assert_eq!(c, RunAction::Cancel);
        // As a form post sends it.
        let f: RunAction =
            serde_json::from_str(r#"{"action":"rerunFrom","stage":"2","index":"0"}"#).unwrap();
        assert_eq!(f, RunAction::RerunFrom { stage: 2, index: 0 });
        assert!(
            serde_json::from_str::<RunAction>(r#"{"action":"approve","stage":"x","index":0}"#)
                .is_err()
        );
    }
}

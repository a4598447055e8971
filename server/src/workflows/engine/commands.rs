//! The engine's commands: start a run, act on one (approve, reject,
//! cancel), re-run from a step. Each writes its change with its event.

use crate::db::Json;
use app::api::ApiError;
use app::model::{
    AgentType, RunAction, RunStatus, StepStatus, Workflow, WorkflowEventBody, WorkflowRunId,
};

use super::{run_status, set, Engine, Loaded};
use crate::db::{self, issues as issue_store, workflows as store};
use crate::error::OrInternal;
use crate::workflows::step_status;

impl Engine {
    /// Creates a run of `workflow` with every step pending.
    pub(super) async fn start(
        &self,
        workflow: &Workflow,
        issue: Option<issue_store::IssueRow>,
        actor: &str,
    ) -> Result<WorkflowRunId, ApiError> {
        let id = WorkflowRunId(uuid::Uuid::new_v4());
        let mut steps = Vec::new();
        for (s, stage) in workflow.definition.stages.iter().enumerate() {
            for (i, step) in stage.steps.iter().enumerate() {
                let agent = crate::agents::get(&self.db, step.agent_id).await.ok();
                steps.push(store::StepRow {
                    run_id: id.to_string(),
                    stage: s as i64,
                    step_index: i as i64,
                    step_key: step.key.clone(),
                    agent_id: Some(step.agent_id.to_string()),
                    agent_name: agent
                        .as_ref()
                        .map_or_else(|| "(deleted agent)".to_string(), |a| a.name.clone()),
                    agent_type: agent.as_ref().map_or(AgentType::Custom, |a| a.agent_type),
                    prompt: step.prompt.clone(),
                    on_failure: step.on_failure,
                    approval: step.approval,
                    status: StepStatus::Pending,
                    execution_id: None,
                    result: None,
                    error: None,
                    decided_by: None,
                    decided_at: None,
                    reused: false,
                    started_at: None,
                    finished_at: None,
                });
            }
        }
        let run = store::RunRow {
            id: id.to_string(),
            workflow_id: Some(workflow.id.to_string()),
            workflow_name: workflow.name.clone(),
            definition: Json(workflow.definition.clone()),
            issue_id: issue.as_ref().map(|i| i.id.clone()),
            status: RunStatus::Running,
            error: None,
            created_by: Some(actor.to_string()),
            created_at: db::now_ms(),
            finished_at: None,
            rerun_of: None,
            last_seq: 0,
            branch: None,
            pr_url: None,
            github_reported: 0,
            github_error: None,
            issue_number: issue.as_ref().map(|i| i.number),
            issue_title: None,
            issue_repository_id: None,
        };
        self.create(run, steps, issue, actor).await?;
        Ok(id)
    }

    async fn create(
        &self,
        run: store::RunRow,
        steps: Vec<store::StepRow>,
        issue: Option<issue_store::IssueRow>,
        actor: &str,
    ) -> Result<(), ApiError> {
        store::insert_run(&self.db, &run, &steps)
            .await
            .or_internal("creating a workflow run")?;
        let body = WorkflowEventBody::Started {
            workflow_id: run.workflow_id.as_deref().and_then(|w| w.parse().ok()),
            workflow_name: run.workflow_name.clone(),
            issue_number: issue.as_ref().map(|i| i.number.max(0) as u64),
            rerun_of: run.rerun_of.as_deref().and_then(|r| r.parse().ok()),
            actor: Some(actor.to_string()),
        };
        let mut loaded = Loaded { run, steps, issue };
        self.emit(&mut loaded, &[], body).await
    }

    pub(super) async fn act(
        &self,
        id: WorkflowRunId,
        action: RunAction,
        actor: &str,
    ) -> Result<WorkflowRunId, ApiError> {
        let mut loaded = self.load(&id.to_string()).await?;
        let find = |loaded: &Loaded, stage: u32, index: u32| {
            loaded
                .steps
                .iter()
                .position(|s| s.stage == i64::from(stage) && s.step_index == i64::from(index))
                .ok_or_else(|| ApiError::Invalid(format!("the run has no step {stage}.{index}")))
        };
        let status = run_status(&loaded.run);
        match action {
            RunAction::RerunFrom { stage, index } => {
                let at = find(&loaded, stage, index)?;
                if !status.is_terminal() {
                    return Err(ApiError::Conflict(
                        "the run has not ended; cancel it before re-running".into(),
                    ));
                }
                self.rerun(&loaded, at, actor).await
            }
            _ if status.is_terminal() => Err(ApiError::Conflict(format!(
                "the run already ended ({})",
                status.as_str()
            ))),
            RunAction::Approve { stage, index } => {
                let at = find(&loaded, stage, index)?;
                if step_status(&loaded.steps[at]) != StepStatus::WaitingApproval {
                    return Err(ApiError::Conflict(format!(
                        "step {} is not waiting for approval",
                        loaded.steps[at].step_key
                    )));
                }
                loaded.steps[at].decided_by = Some(actor.to_string());
                loaded.steps[at].decided_at = Some(db::now_ms());
                self.start_step(
                    &mut loaded,
                    at,
                    Some(actor),
                    Some(format!("approved by {actor}")),
                )
                .await?;
                Ok(id)
            }
            RunAction::Reject { stage, index } => {
                let at = find(&loaded, stage, index)?;
                if step_status(&loaded.steps[at]) != StepStatus::WaitingApproval {
                    return Err(ApiError::Conflict(format!(
                        "step {} is not waiting for approval",
                        loaded.steps[at].step_key
                    )));
                }
                let step = &mut loaded.steps[at];
                set(step, StepStatus::Rejected);
                step.decided_by = Some(actor.to_string());
                step.decided_at = Some(db::now_ms());
                step.finished_at = step.decided_at;
                let reason = format!("step {} was rejected by {actor}", step.step_key);
                self.end(&mut loaded, RunStatus::Rejected, Some(reason), Some(actor))
                    .await?;
                Ok(id)
            }
            RunAction::Cancel => {
                self.end(
                    &mut loaded,
                    RunStatus::Cancelled,
                    Some(format!("cancelled by {actor}")),
                    Some(actor),
                )
                .await?;
                Ok(id)
            }
        }
    }

    /// A new run of the same definition that keeps the results of the steps
    /// before `from` (and of the completed steps beside it) and runs the rest.
    async fn rerun(
        &self,
        old: &Loaded,
        from: usize,
        actor: &str,
    ) -> Result<WorkflowRunId, ApiError> {
        let id = WorkflowRunId(uuid::Uuid::new_v4());
        let from_stage = old.steps[from].stage;
        let steps = old
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let keep =
                    i != from && s.stage <= from_stage && step_status(s) == StepStatus::Completed;
                let mut step = s.clone();
                step.run_id = id.to_string();
                if keep {
                    step.reused = true;
                } else {
                    set(&mut step, StepStatus::Pending);
                    step.execution_id = None;
                    step.result = None;
                    step.error = None;
                    step.decided_by = None;
                    step.decided_at = None;
                    step.reused = false;
                    step.started_at = None;
                    step.finished_at = None;
                }
                step
            })
            .collect();
        let run = store::RunRow {
            id: id.to_string(),
            status: RunStatus::Running,
            error: None,
            created_by: Some(actor.to_string()),
            created_at: db::now_ms(),
            finished_at: None,
            rerun_of: Some(old.run.id.clone()),
            last_seq: 0,
            branch: None,
            pr_url: None,
            github_reported: 0,
            github_error: None,
            ..old.run.clone()
        };
        self.create(run, steps, old.issue.clone(), actor).await?;
        Ok(id)
    }
}

//! The workflow engine: one task that owns every state change of every
//! run. It takes commands (start, approve, reject, cancel, re-run) and
//! follows executions ending (the hub's lifecycle stream, with a periodic
//! sweep as a safety net for missed events). Each change is written with
//! its event in one transaction (the run's `seq` advances by one), and
//! published after the commit.
//!
//! `advance` is idempotent: it looks at the stored run and its steps'
//! executions and does what is due. That is also how a restarted server
//! picks up: executions a dead process left running were failed by the
//! executor's reconcile, and `advance` applies each step's failure policy.

use std::sync::Arc;
use std::time::Duration;

use app::api::ApiError;
use app::model::{
    AgentExecutionRef, ExecutionStatus, RunAction, RunStatus, Severity, StepStatus, Workflow,
    WorkflowEvent, WorkflowEventBody, WorkflowRunId,
};
use app::protocol::native::ServerMessage;
use tokio::sync::{broadcast::error::RecvError, mpsc};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::{fill_prompt, step_status, Command};
use crate::db::{self, issues as issue_store, workflows as store, Db};
use crate::events::{Audience, Broadcast, Hub, Published};
use crate::executions::{Executions, IssueFacts, Origin};
use crate::http::error::internal;
use crate::notifications::{Notice, Notifier};

/// How often every unfinished run is looked at even without an event.
const SWEEP: Duration = Duration::from_secs(5);

pub(super) struct Engine {
    db: Db,
    hub: Arc<Hub>,
    executions: Executions,
    notifier: Notifier,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

/// A run as the engine works on it.
struct Loaded {
    run: store::RunRow,
    steps: Vec<store::StepRow>,
    issue: Option<issue_store::IssueRow>,
}

fn run_status(run: &store::RunRow) -> RunStatus {
    run.status.parse().unwrap_or(RunStatus::Failed)
}

fn set(step: &mut store::StepRow, status: StepStatus) {
    step.status = status.as_str().to_string();
}

impl Engine {
    pub(super) fn new(
        db: Db,
        hub: Arc<Hub>,
        executions: Executions,
        notifier: Notifier,
        shutdown: CancellationToken,
        tasks: TaskTracker,
    ) -> Self {
        Engine {
            db,
            hub,
            executions,
            notifier,
            shutdown,
            tasks,
        }
    }

    pub(super) fn spawn(self, rx: mpsc::Receiver<Command>) {
        let tasks = self.tasks.clone();
        tasks.spawn(self.run(rx));
    }

    async fn run(self, mut rx: mpsc::Receiver<Command>) {
        // Registered before the first sweep, so no ending falls in between.
        let mut lifecycle = self.hub.subscribe_lifecycle();
        self.sweep().await;
        let mut tick = tokio::time::interval(SWEEP);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => break,
                command = rx.recv() => match command {
                    Some(command) => self.handle(command).await,
                    None => break,
                },
                event = lifecycle.recv() => match event {
                    Ok(event) if event.is_terminal() => self.execution_ended(&event).await,
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => self.sweep().await,
                    Err(RecvError::Closed) => break,
                },
                _ = tick.tick() => self.sweep().await,
            }
        }
    }

    /// Brings every unfinished run up to date.
    async fn sweep(&self) {
        let ids = match store::active_run_ids(&self.db).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::error!(error = %e, "cannot list unfinished workflow runs");
                return;
            }
        };
        for id in ids {
            self.advance_logged(&id).await;
        }
    }

    async fn advance_logged(&self, id: &str) {
        if let Err(e) = self.advance(id).await {
            tracing::error!(run = id, error = %e, "workflow run could not advance");
        }
    }

    async fn handle(&self, command: Command) {
        match command {
            Command::Start {
                workflow,
                issue,
                actor,
                reply,
            } => {
                let answer = self.start(&workflow, issue.map(|i| *i), &actor).await;
                if let Ok(id) = &answer {
                    self.advance_logged(&id.to_string()).await;
                }
                let _ = reply.send(answer);
            }
            Command::Act {
                run,
                action,
                actor,
                reply,
            } => {
                let answer = self.act(run, action, &actor).await;
                if let Ok(id) = &answer {
                    self.advance_logged(&id.to_string()).await;
                }
                let _ = reply.send(answer);
            }
        }
    }

    /// An execution ended: advance its run, or tell whoever started it.
    async fn execution_ended(&self, event: &Published) {
        let id = event.execution_id().to_string();
        match store::run_of_execution(&self.db, &id).await {
            Ok(Some(run)) => self.advance_logged(&run).await,
            Ok(None) => self.notify_execution(event).await,
            Err(e) => tracing::error!(execution = id, error = %e, "cannot find an execution's run"),
        }
    }

    async fn notify_execution(&self, event: &Published) {
        let app::model::EventBody::Finished {
            status,
            error_message,
            ..
        } = &event.event.body
        else {
            return;
        };
        let Ok(execution) = self.executions.get(event.execution_id()).await else {
            return;
        };
        let Some(creator) = execution.created_by.as_deref() else {
            return;
        };
        let on = execution
            .issue
            .as_ref()
            .map(|i| format!(" on #{}", i.number))
            .unwrap_or_default();
        let notice = match status {
            ExecutionStatus::Completed => Notice {
                severity: Severity::Success,
                title: "Agent run completed".into(),
                message: format!("{}{on} completed", execution.agent_name),
                action_url: Some(format!("/executions/{}", execution.id)),
            },
            ExecutionStatus::Failed | ExecutionStatus::TimedOut => Notice {
                severity: Severity::Error,
                title: if *status == ExecutionStatus::TimedOut {
                    "Agent run timed out".into()
                } else {
                    "Agent run failed".into()
                },
                message: format!(
                    "{}{on}: {}",
                    execution.agent_name,
                    error_message.as_deref().unwrap_or("failed")
                ),
                action_url: Some(format!("/executions/{}", execution.id)),
            },
            // Whoever cancelled it knows.
            _ => return,
        };
        if let Err(e) = self.notifier.notify_username(creator, &notice).await {
            tracing::error!(error = %e, "cannot store a notification");
        }
    }

    async fn load(&self, id: &str) -> Result<Loaded, ApiError> {
        let run = store::find_run(&self.db, id)
            .await
            .map_err(|e| internal("reading a workflow run", e))?
            .ok_or(ApiError::NotFound)?;
        let steps = store::steps(&self.db, id)
            .await
            .map_err(|e| internal("reading a run's steps", e))?;
        let issue = match &run.issue_id {
            Some(issue) => issue_store::find_issue(&self.db, issue)
                .await
                .map_err(|e| internal("reading a run's issue", e))?,
            None => None,
        };
        Ok(Loaded { run, steps, issue })
    }

    /// Writes an event with the run's state and the changed steps, then
    /// publishes it.
    async fn emit(
        &self,
        loaded: &mut Loaded,
        changed: &[usize],
        body: WorkflowEventBody,
    ) -> Result<(), ApiError> {
        let at_ms = db::now_ms();
        let kind = match &body {
            WorkflowEventBody::Started { .. } => "started",
            WorkflowEventBody::Step { .. } => "step",
            WorkflowEventBody::Finished { .. } => "finished",
        };
        let payload = serde_json::to_string(&body).map_err(|e| internal("encoding an event", e))?;
        let steps: Vec<&store::StepRow> = changed.iter().map(|i| &loaded.steps[*i]).collect();
        let seq = store::commit(&self.db, &loaded.run, &steps, kind, &payload, at_ms)
            .await
            .map_err(|e| internal("writing a workflow event", e))?;
        loaded.run.last_seq = seq;
        let event = WorkflowEvent {
            run_id: loaded
                .run
                .id
                .parse()
                .map_err(|e| internal("stored run id", e))?,
            seq: seq.max(0) as u64,
            at_ms,
            body,
        };
        self.hub.publish_workspace(Broadcast::new(
            Audience::Everyone,
            ServerMessage::from(&event),
        ));
        Ok(())
    }

    fn step_event(
        loaded: &Loaded,
        i: usize,
        actor: Option<&str>,
        message: Option<String>,
    ) -> WorkflowEventBody {
        let step = &loaded.steps[i];
        WorkflowEventBody::Step {
            workflow_id: loaded
                .run
                .workflow_id
                .as_deref()
                .and_then(|w| w.parse().ok()),
            stage: step.stage.max(0) as u32,
            index: step.step_index.max(0) as u32,
            key: step.step_key.clone(),
            status: step_status(step),
            execution_id: step.execution_id.as_deref().and_then(|e| e.parse().ok()),
            actor: actor.map(str::to_string),
            message,
        }
    }

    /// `waiting_approval` while any step waits at its gate, else `running`.
    fn refresh_status(loaded: &mut Loaded) {
        let waiting = loaded
            .steps
            .iter()
            .any(|s| step_status(s) == StepStatus::WaitingApproval);
        loaded.run.status = if waiting {
            RunStatus::WaitingApproval
        } else {
            RunStatus::Running
        }
        .as_str()
        .to_string();
    }

    /// Creates a run of `workflow` with every step pending.
    async fn start(
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
                    agent_type: agent
                        .as_ref()
                        .map_or("Custom", |a| a.agent_type.as_str())
                        .to_string(),
                    prompt: step.prompt.clone(),
                    on_failure: match step.on_failure {
                        app::model::OnFailure::Stop => "stop",
                        app::model::OnFailure::Continue => "continue",
                    }
                    .to_string(),
                    approval: step.approval,
                    status: StepStatus::Pending.as_str().to_string(),
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
            definition: serde_json::to_string(&workflow.definition).unwrap_or_default(),
            issue_id: issue.as_ref().map(|i| i.id.clone()),
            status: RunStatus::Running.as_str().to_string(),
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
            .map_err(|e| internal("creating a workflow run", e))?;
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

    async fn act(
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
            status: RunStatus::Running.as_str().to_string(),
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

    /// Starts step `i`'s execution (or fails the step if it cannot start).
    async fn start_step(
        &self,
        loaded: &mut Loaded,
        i: usize,
        actor: Option<&str>,
        message: Option<String>,
    ) -> Result<(), ApiError> {
        let now = db::now_ms();
        let agent = match loaded.steps[i].agent_id.as_deref().map(str::parse) {
            Some(Ok(agent_id)) => crate::agents::get(&self.db, agent_id).await,
            _ => Err(ApiError::NotFound),
        };
        let created = match agent {
            Ok(agent) => {
                let prompt = fill_prompt(
                    &loaded.steps[i].prompt,
                    loaded.issue.as_ref(),
                    &loaded.steps,
                );
                let origin = Origin {
                    issue: loaded.issue.as_ref().and_then(|issue| {
                        Some(IssueFacts {
                            id: issue.id.parse().ok()?,
                            title: issue.title.clone(),
                            body: issue.body.clone(),
                        })
                    }),
                    workflow_run: loaded.run.id.parse().ok(),
                    task: None,
                };
                let by = loaded
                    .run
                    .created_by
                    .clone()
                    .or_else(|| actor.map(str::to_string))
                    .unwrap_or_default();
                self.executions.create(&agent, prompt, &by, &origin).await
            }
            Err(ApiError::NotFound) => Err(ApiError::Invalid(
                "the step's agent no longer exists".into(),
            )),
            Err(e) => Err(e),
        };
        let step = &mut loaded.steps[i];
        step.started_at = Some(now);
        let message = match created {
            Ok(execution) => {
                set(step, StepStatus::Running);
                step.execution_id = Some(execution.id.to_string());
                message
            }
            Err(e) => {
                set(step, StepStatus::Failed);
                step.finished_at = Some(now);
                let why = format!("could not start: {e}");
                step.error = Some(why.clone());
                Some(why)
            }
        };
        Self::refresh_status(loaded);
        let body = Self::step_event(loaded, i, actor, message);
        self.emit(loaded, &[i], body).await
    }

    /// Does what is due in run `id`: gates, starts, endings, the next stage.
    async fn advance(&self, id: &str) -> Result<(), ApiError> {
        // Each pass either waits (returns) or moves a stage on; the bound
        // only guards against a bug looping forever.
        for _ in 0..64 {
            let mut loaded = self.load(id).await?;
            if run_status(&loaded.run).is_terminal() {
                return Ok(());
            }
            let Some(stage) = loaded
                .steps
                .iter()
                .filter(|s| !step_status(s).is_terminal())
                .map(|s| s.stage)
                .min()
            else {
                return self
                    .end(&mut loaded, RunStatus::Completed, None, None)
                    .await;
            };
            // An earlier stage that ended with a stopping failure ends the run
            // (possible when a re-run took over such a stage).
            let in_stage: Vec<usize> = (0..loaded.steps.len())
                .filter(|i| loaded.steps[*i].stage == stage)
                .collect();
            for &i in &in_stage {
                match step_status(&loaded.steps[i]) {
                    StepStatus::Pending => {
                        let step = &mut loaded.steps[i];
                        if step.approval && step.decided_by.is_none() {
                            set(step, StepStatus::WaitingApproval);
                            Self::refresh_status(&mut loaded);
                            let body = Self::step_event(&loaded, i, None, None);
                            self.emit(&mut loaded, &[i], body).await?;
                            self.notify_approval(&loaded, i).await;
                        } else {
                            self.start_step(&mut loaded, i, None, None).await?;
                        }
                    }
                    StepStatus::Running => self.check_step(&mut loaded, i).await?,
                    _ => {}
                }
            }
            let stopper = in_stage.iter().copied().find(|&i| {
                let s = &loaded.steps[i];
                matches!(
                    step_status(s),
                    StepStatus::Failed | StepStatus::Cancelled | StepStatus::Rejected
                ) && s.on_failure != "continue"
            });
            let stage_over = in_stage
                .iter()
                .all(|&i| step_status(&loaded.steps[i]).is_terminal());
            if !stage_over {
                return Ok(());
            }
            if let Some(i) = stopper {
                let s = &loaded.steps[i];
                let reason = format!(
                    "step {} {}{}",
                    s.step_key,
                    s.status,
                    s.error
                        .as_deref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                );
                return self
                    .end(&mut loaded, RunStatus::Failed, Some(reason), None)
                    .await;
            }
        }
        Ok(())
    }

    /// Records the end of step `i`'s execution, if it has ended.
    async fn check_step(&self, loaded: &mut Loaded, i: usize) -> Result<(), ApiError> {
        let Some(execution_id) = loaded.steps[i]
            .execution_id
            .as_deref()
            .and_then(|e| e.parse().ok())
        else {
            // Running without an execution cannot happen; start it again.
            return self.start_step(loaded, i, None, None).await;
        };
        let execution = match self.executions.get(execution_id).await {
            Ok(e) => e,
            Err(ApiError::NotFound) => {
                let step = &mut loaded.steps[i];
                set(step, StepStatus::Failed);
                step.error = Some("its execution was deleted".into());
                step.finished_at = Some(db::now_ms());
                let body = Self::step_event(loaded, i, None, step_error(loaded, i));
                return self.emit(loaded, &[i], body).await;
            }
            Err(e) => return Err(e),
        };
        if !execution.status.is_terminal() {
            return Ok(());
        }
        let step = &mut loaded.steps[i];
        set(
            step,
            match execution.status {
                ExecutionStatus::Completed => StepStatus::Completed,
                ExecutionStatus::Cancelled => StepStatus::Cancelled,
                _ => StepStatus::Failed,
            },
        );
        step.result = execution.result.as_ref().map(|r| r.to_string());
        step.error = match execution.status {
            ExecutionStatus::Completed => None,
            _ => Some(
                execution
                    .error_message
                    .clone()
                    .unwrap_or_else(|| execution.status.as_str().to_string()),
            ),
        };
        step.finished_at = execution.finished_at.or(Some(db::now_ms()));
        Self::refresh_status(loaded);
        let body = Self::step_event(loaded, i, None, step_error(loaded, i));
        self.emit(loaded, &[i], body).await
    }

    /// Ends the run: running steps' executions are cancelled, steps that
    /// never ran are skipped, and `workflow.completed` (or `.failed`) goes out.
    async fn end(
        &self,
        loaded: &mut Loaded,
        status: RunStatus,
        error: Option<String>,
        actor: Option<&str>,
    ) -> Result<(), ApiError> {
        let now = db::now_ms();
        for step in loaded.steps.iter_mut() {
            match step_status(step) {
                StepStatus::Running => {
                    if let Some(id) = step.execution_id.as_deref().and_then(|e| e.parse().ok()) {
                        // It may have just ended on its own; either way it stops.
                        let _ = self.executions.cancel(id).await;
                    }
                    set(step, StepStatus::Cancelled);
                    step.finished_at = Some(now);
                }
                StepStatus::Pending | StepStatus::WaitingApproval => {
                    set(step, StepStatus::Skipped);
                }
                _ => {}
            }
        }
        // Every step row is written with the event (a run has few steps).
        let changed: Vec<usize> = (0..loaded.steps.len()).collect();
        let mut agent_executions = Vec::new();
        for step in &loaded.steps {
            let Some(id) = step.execution_id.as_deref().and_then(|e| e.parse().ok()) else {
                continue;
            };
            if let Ok(execution) = self.executions.get(id).await {
                agent_executions.push(AgentExecutionRef {
                    execution_id: id,
                    agent_type: execution.agent_type,
                    status: execution.status,
                });
            }
        }
        loaded.run.status = status.as_str().to_string();
        loaded.run.error = error.clone();
        loaded.run.finished_at = Some(now);
        let body = WorkflowEventBody::Finished {
            workflow_id: loaded
                .run
                .workflow_id
                .as_deref()
                .and_then(|w| w.parse().ok()),
            status,
            agent_executions,
            error: error.clone(),
            actor: actor.map(str::to_string),
        };
        self.emit(loaded, &changed, body).await?;
        self.notify_end(loaded, status, error.as_deref()).await;
        Ok(())
    }

    fn describe_run(loaded: &Loaded) -> String {
        match &loaded.issue {
            Some(issue) => format!("{} on #{}", loaded.run.workflow_name, issue.number),
            None => loaded.run.workflow_name.clone(),
        }
    }

    async fn notify_approval(&self, loaded: &Loaded, i: usize) {
        let notice = Notice {
            severity: Severity::Warning,
            title: "Approval needed".into(),
            message: format!(
                "{}: step {} waits for approval",
                Self::describe_run(loaded),
                loaded.steps[i].step_key
            ),
            action_url: Some(format!("/workflow-runs/{}", loaded.run.id)),
        };
        if let Err(e) = self.notifier.notify_members(&notice).await {
            tracing::error!(error = %e, "cannot store a notification");
        }
    }

    async fn notify_end(&self, loaded: &Loaded, status: RunStatus, error: Option<&str>) {
        let Some(creator) = loaded.run.created_by.as_deref() else {
            return;
        };
        let what = Self::describe_run(loaded);
        let (severity, title, message) = match status {
            RunStatus::Completed => (
                Severity::Success,
                "Workflow completed",
                format!("{what} completed"),
            ),
            RunStatus::Cancelled => (
                Severity::Info,
                "Workflow cancelled",
                format!("{what} was cancelled"),
            ),
            _ => (
                Severity::Error,
                "Workflow failed",
                format!("{what}: {}", error.unwrap_or(status.as_str())),
            ),
        };
        let notice = Notice {
            severity,
            title: title.into(),
            message,
            action_url: Some(format!("/workflow-runs/{}", loaded.run.id)),
        };
        if let Err(e) = self.notifier.notify_username(creator, &notice).await {
            tracing::error!(error = %e, "cannot store a notification");
        }
    }
}

fn step_error(loaded: &Loaded, i: usize) -> Option<String> {
    loaded.steps[i].error.clone()
}

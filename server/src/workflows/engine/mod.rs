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
//! What is due is decided without I/O in [`super::decide`]; the commands
//! are in `commands`, what people are told in `notices`.

mod commands;
mod notices;

use crate::error::OrInternal;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use app::api::ApiError;
use app::model::{
    AgentExecutionRef, ExecutionStatus, RunStatus, StepStatus, WorkflowEvent, WorkflowEventBody,
    WorkspaceEvent,
};
use tokio::sync::{broadcast::error::RecvError, mpsc};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::decide::{self, Action, Execution, Plan, StageOutcome, StepView};
use super::{fill_prompt, step_status, Command};
use crate::db::{self, issues as issue_store, workflows as store, Db};
use crate::events::{Broadcast, Hub, Published};
use crate::executions::{Executions, IssueFacts, Origin};
use crate::notifications::Notifier;

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
    run.status
}

fn set(step: &mut store::StepRow, status: StepStatus) {
    step.status = status;
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
                    // Another replica's executions end there: its engine
                    // takes them (this one's sweep would too, one at a time).
                    Ok(event) if event.is_terminal() && !event.relayed => {
                        self.execution_ended(&event).await
                    }
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
        // Replicas on one database advance a run one at a time; a run
        // another replica is advancing now is its to advance (and the next
        // sweep, within seconds, looks again).
        let lock = match db::replicas::try_lock(&self.db, db::replicas::RUN_SPACE, id).await {
            Ok(Some(lock)) => lock,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(run = id, error = %e, "cannot lock a workflow run");
                return;
            }
        };
        if let Err(e) = self.advance(id).await {
            tracing::error!(run = id, error = %e, "workflow run could not advance");
        }
        lock.release().await;
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
                let answer = match db::replicas::lock_run(&self.db, &run.to_string()).await {
                    Ok(lock) => {
                        let answer = self.act(run, action, &actor).await;
                        lock.release().await;
                        answer
                    }
                    Err(e) => {
                        tracing::warn!(run = %run, error = %e, "cannot lock a workflow run");
                        Err(ApiError::Conflict(
                            "another server is updating this run; try again".into(),
                        ))
                    }
                };
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

    async fn load(&self, id: &str) -> Result<Loaded, ApiError> {
        let run = store::find_run(&self.db, id)
            .await
            .or_internal("reading a workflow run")?
            .ok_or(ApiError::NotFound)?;
        let steps = store::steps(&self.db, id)
            .await
            .or_internal("reading a run's steps")?;
        let issue = match &run.issue_id {
            Some(issue) => issue_store::find_issue(&self.db, issue)
                .await
                .or_internal("reading a run's issue")?,
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
        let payload = serde_json::to_string(&body).or_internal("encoding an event")?;
        let steps: Vec<&store::StepRow> = changed.iter().map(|i| &loaded.steps[*i]).collect();
        let seq = store::commit(&self.db, &loaded.run, &steps, kind, &payload, at_ms)
            .await
            .or_internal("writing a workflow event")?;
        loaded.run.last_seq = seq;
        let event = WorkflowEvent {
            run_id: loaded.run.id.parse().or_internal("stored run id")?,
            seq: seq.max(0) as u64,
            at_ms,
            body,
        };
        self.hub
            .publish_workspace(Broadcast::new(WorkspaceEvent::Workflow(event)));
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
        };
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
                    ..Origin::default()
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

    /// How each step stands for the decision, with the executions of the
    /// running steps (read once per pass).
    async fn views(
        &self,
        loaded: &Loaded,
    ) -> Result<(Vec<StepView>, HashMap<usize, app::model::Execution>), ApiError> {
        let mut views = Vec::with_capacity(loaded.steps.len());
        let mut executions = HashMap::new();
        for (i, step) in loaded.steps.iter().enumerate() {
            let status = step_status(step);
            let execution = if status != StepStatus::Running {
                Execution::Missing
            } else {
                match step.execution_id.as_deref().and_then(|e| e.parse().ok()) {
                    None => Execution::Missing,
                    Some(id) => match self.executions.get(id).await {
                        Ok(e) if e.status.is_terminal() => {
                            let state = Execution::Ended(e.status);
                            executions.insert(i, e);
                            state
                        }
                        Ok(_) => Execution::Running,
                        Err(ApiError::NotFound) => Execution::Gone,
                        Err(e) => return Err(e),
                    },
                }
            };
            views.push(StepView {
                stage: step.stage,
                status,
                approval: step.approval,
                decided: step.decided_by.is_some(),
                on_failure: step.on_failure,
                execution,
            });
        }
        Ok((views, executions))
    }

    /// Does what is due in run `id` (see [`decide`]): gates, starts,
    /// endings, the next stage.
    async fn advance(&self, id: &str) -> Result<(), ApiError> {
        // Each pass either waits (returns) or moves a stage on; the bound
        // only guards against a bug looping forever.
        for _ in 0..64 {
            let mut loaded = self.load(id).await?;
            if run_status(&loaded.run).is_terminal() {
                return Ok(());
            }
            let (views, mut executions) = self.views(&loaded).await?;
            let (stage, actions) = match decide::plan(&views) {
                Plan::Complete => {
                    return self
                        .end(&mut loaded, RunStatus::Completed, None, None)
                        .await
                }
                Plan::Stage { stage, actions } => (stage, actions),
            };
            for (i, action) in actions {
                match action {
                    Action::Gate => {
                        set(&mut loaded.steps[i], StepStatus::WaitingApproval);
                        Self::refresh_status(&mut loaded);
                        let body = Self::step_event(&loaded, i, None, None);
                        self.emit(&mut loaded, &[i], body).await?;
                        self.notify_approval(&loaded, i).await;
                    }
                    Action::Start => self.start_step(&mut loaded, i, None, None).await?,
                    Action::Lost => {
                        let step = &mut loaded.steps[i];
                        set(step, StepStatus::Failed);
                        step.error = Some("its execution was deleted".into());
                        step.finished_at = Some(db::now_ms());
                        let body = Self::step_event(&loaded, i, None, step_error(&loaded, i));
                        self.emit(&mut loaded, &[i], body).await?;
                    }
                    Action::Record(status) => {
                        let Some(execution) = executions.remove(&i) else {
                            continue;
                        };
                        self.record(&mut loaded, i, status, execution).await?;
                    }
                }
            }
            let (views, _) = self.views(&loaded).await?;
            match decide::stage_outcome(&views, stage) {
                StageOutcome::Waiting => return Ok(()),
                StageOutcome::Passed => continue,
                StageOutcome::Stopped(i) => {
                    let s = &loaded.steps[i];
                    let reason = format!(
                        "step {} {}{}",
                        s.step_key,
                        s.status.as_str(),
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
        }
        Ok(())
    }

    /// Records the end of step `i`'s execution.
    async fn record(
        &self,
        loaded: &mut Loaded,
        i: usize,
        status: StepStatus,
        execution: app::model::Execution,
    ) -> Result<(), ApiError> {
        let step = &mut loaded.steps[i];
        set(step, status);
        step.result = execution.result.clone().map(crate::db::Json);
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
        loaded.run.status = status;
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
}

fn step_error(loaded: &Loaded, i: usize) -> Option<String> {
    loaded.steps[i].error.clone()
}

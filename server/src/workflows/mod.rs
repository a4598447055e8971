//! Workflows: definitions (stored as data) and their runs.
//!
//! A run's stages go one after another; the steps of a stage run in
//! parallel, each as an execution linked to the run. One engine task owns
//! every state change of every run (see [`engine`]), so a run's events are
//! numbered and published in order and two changes never race.

mod decide;
mod engine;
mod prompt;
mod triggers;

use crate::error::{internal, OrInternal};
use std::sync::Arc;

use crate::db::Json;
use app::api::ApiError;
use app::model::{
    validate_definition, IssueRef, RunAction, RunStep, Workflow, WorkflowDefinition, WorkflowEvent,
    WorkflowId, WorkflowInput, WorkflowRun, WorkflowRunId, WorkflowRunSummary,
};
use tokio::sync::{mpsc, oneshot};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::db::{self, issues::IssueRow, workflows as store, Db};
use crate::events::Hub;
use crate::executions::Executions;
use crate::notifications::Notifier;

pub use prompt::fill_prompt;

/// A request to the engine, answered through `reply`.
enum Command {
    Start {
        workflow: Box<Workflow>,
        issue: Option<Box<IssueRow>>,
        actor: String,
        reply: oneshot::Sender<Result<WorkflowRunId, ApiError>>,
    },
    Act {
        run: WorkflowRunId,
        action: RunAction,
        actor: String,
        reply: oneshot::Sender<Result<WorkflowRunId, ApiError>>,
    },
}

#[derive(Clone)]
pub struct Workflows {
    db: Db,
    tx: mpsc::Sender<Command>,
    engine: Arc<std::sync::Mutex<Option<engine::Engine>>>,
    commands: Arc<std::sync::Mutex<Option<mpsc::Receiver<Command>>>>,
}

impl Workflows {
    pub fn new(
        db: Db,
        hub: Arc<Hub>,
        executions: Executions,
        notifier: Notifier,
        shutdown: CancellationToken,
        tasks: TaskTracker,
    ) -> Self {
        let (tx, rx) = mpsc::channel(256);
        let engine = engine::Engine::new(db.clone(), hub, executions, notifier, shutdown, tasks);
        Workflows {
            db,
            tx,
            engine: Arc::new(std::sync::Mutex::new(Some(engine))),
            commands: Arc::new(std::sync::Mutex::new(Some(rx))),
        }
    }

    /// Starts the engine: it first brings every unfinished run up to date
    /// (continuing or failing it), then follows commands and executions.
    pub fn start(&self) {
        let engine = self.engine.lock().ok().and_then(|mut e| e.take());
        let rx = self.commands.lock().ok().and_then(|mut c| c.take());
        if let (Some(engine), Some(rx)) = (engine, rx) {
            engine.spawn(rx);
        }
    }

    pub async fn list(&self) -> Result<Vec<Workflow>, ApiError> {
        store::list(&self.db)
            .await
            .or_internal("listing workflows")?
            .into_iter()
            .map(to_workflow)
            .collect()
    }

    pub async fn get(&self, id: WorkflowId) -> Result<Workflow, ApiError> {
        store::find(&self.db, &id.to_string())
            .await
            .or_internal("reading a workflow")?
            .map(to_workflow)
            .unwrap_or(Err(ApiError::NotFound))
    }

    pub async fn triggered_by(&self, label: &str) -> Result<Vec<Workflow>, ApiError> {
        store::triggered_by(&self.db, label)
            .await
            .or_internal("reading label triggers")?
            .into_iter()
            .map(to_workflow)
            .collect()
    }

    pub async fn triggered_by_assignee(&self, login: &str) -> Result<Vec<Workflow>, ApiError> {
        store::triggered_by_assignee(&self.db, login)
            .await
            .or_internal("reading assignee triggers")?
            .into_iter()
            .map(to_workflow)
            .collect()
    }

    /// Creates (`id` None) or replaces a workflow after checking it, its
    /// agents included.
    pub async fn save(
        &self,
        id: Option<WorkflowId>,
        input: WorkflowInput,
    ) -> Result<Workflow, ApiError> {
        let name = input.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(ApiError::Invalid(
                "a workflow name must be 1–100 characters".into(),
            ));
        }
        if input.description.len() > 4000 {
            return Err(ApiError::Invalid(
                "the description is longer than 4000 characters".into(),
            ));
        }
        validate_definition(&input.definition).map_err(ApiError::Invalid)?;
        input.budget.validate().map_err(ApiError::Invalid)?;
        for step in input.definition.stages.iter().flat_map(|s| &s.steps) {
            match crate::agents::get(&self.db, step.agent_id).await {
                Ok(_) => {}
                Err(ApiError::NotFound) => {
                    return Err(ApiError::Invalid(format!(
                        "step {:?} names an agent that does not exist",
                        step.key
                    )))
                }
                Err(e) => return Err(e),
            }
        }
        let trigger_label = input
            .trigger_label
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty());
        let trigger_assignee = input
            .trigger_assignee
            .map(|l| l.trim().trim_start_matches('@').to_string())
            .filter(|l| !l.is_empty());
        let now = db::now_ms();
        let mut row = store::WorkflowRow {
            id: id
                .unwrap_or_else(|| WorkflowId(uuid::Uuid::new_v4()))
                .to_string(),
            name: name.clone(),
            description: input.description.trim().to_string(),
            trigger_label,
            trigger_assignee,
            definition: Json(input.definition.clone()),
            budget: Json(input.budget),
            created_at: now,
            updated_at: now,
        };
        let taken = |e: sqlx::Error| {
            if db::is_unique_violation(&e) {
                ApiError::Conflict(format!("a workflow called {name:?} exists already"))
            } else {
                internal("saving a workflow", e)
            }
        };
        match id {
            None => store::insert(&self.db, &row).await.map_err(taken)?,
            Some(_) => {
                let existing = store::find(&self.db, &row.id)
                    .await
                    .or_internal("reading a workflow")?
                    .ok_or(ApiError::NotFound)?;
                row.created_at = existing.created_at;
                if !store::update(&self.db, &row).await.map_err(taken)? {
                    return Err(ApiError::NotFound);
                }
            }
        }
        to_workflow(row)
    }

    /// Deletes a definition; its runs keep their snapshot.
    pub async fn delete(&self, id: WorkflowId) -> Result<(), ApiError> {
        if store::delete(&self.db, &id.to_string())
            .await
            .or_internal("deleting a workflow")?
        {
            Ok(())
        } else {
            Err(ApiError::NotFound)
        }
    }

    /// Starts a run (on an issue, if given) and answers with it.
    pub async fn start_run(
        &self,
        workflow: &Workflow,
        issue: Option<IssueRow>,
        actor: &str,
    ) -> Result<WorkflowRun, ApiError> {
        if issue.is_none() && workflow.definition.needs_issue() {
            return Err(ApiError::Invalid(format!(
                "{} uses the issue in its prompts ({{issue.title}} and the like): choose an issue to run it on",
                workflow.name
            )));
        }
        let (reply, answer) = oneshot::channel();
        self.send(Command::Start {
            workflow: Box::new(workflow.clone()),
            issue: issue.map(Box::new),
            actor: actor.to_string(),
            reply,
        })
        .await?;
        let id = answer.await.map_err(|_| stopped())??;
        self.get_run(id).await
    }

    /// Approves, rejects, cancels, or re-runs from a step (answering with
    /// the new run).
    pub async fn act(
        &self,
        run: WorkflowRunId,
        action: RunAction,
        actor: &str,
    ) -> Result<WorkflowRun, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Act {
            run,
            action,
            actor: actor.to_string(),
            reply,
        })
        .await?;
        let id = answer.await.map_err(|_| stopped())??;
        self.get_run(id).await
    }

    async fn send(&self, command: Command) -> Result<(), ApiError> {
        self.tx.send(command).await.map_err(|_| stopped())
    }

    pub async fn get_run(&self, id: WorkflowRunId) -> Result<WorkflowRun, ApiError> {
        let row = store::find_run(&self.db, &id.to_string())
            .await
            .or_internal("reading a workflow run")?
            .ok_or(ApiError::NotFound)?;
        let steps = store::steps(&self.db, &row.id)
            .await
            .or_internal("reading a run's steps")?;
        to_run(row, steps)
    }

    pub async fn list_runs(
        &self,
        filter: &store::RunFilter,
    ) -> Result<Vec<WorkflowRunSummary>, ApiError> {
        let rows = store::list_runs(&self.db, filter, 100)
            .await
            .or_internal("listing workflow runs")?;
        self.summaries(rows).await
    }

    /// The newest run on each of these issues.
    pub async fn latest_on_issues(
        &self,
        issue_ids: &[String],
    ) -> Result<Vec<WorkflowRunSummary>, ApiError> {
        let rows = store::latest_runs_of_issues(&self.db, issue_ids)
            .await
            .or_internal("reading issues' latest runs")?;
        self.summaries(rows).await
    }

    async fn summaries(
        &self,
        rows: Vec<store::RunRow>,
    ) -> Result<Vec<WorkflowRunSummary>, ApiError> {
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let steps = store::steps_of(&self.db, &ids)
            .await
            .or_internal("reading runs' steps")?;
        rows.into_iter()
            .map(|row| {
                let mine: Vec<_> = steps.iter().filter(|s| s.run_id == row.id).collect();
                let done = mine.iter().filter(|s| step_status(s).is_terminal()).count();
                Ok(WorkflowRunSummary {
                    id: row.id.parse().or_internal("stored run id")?,
                    workflow_id: row.workflow_id.as_deref().and_then(|w| w.parse().ok()),
                    issue: issue_ref(&row),
                    workflow_name: row.workflow_name,
                    status: row.status,
                    created_by: row.created_by,
                    created_at: row.created_at,
                    finished_at: row.finished_at,
                    steps_done: done as u32,
                    steps_total: mine.len() as u32,
                    pr_url: row.pr_url,
                })
            })
            .collect()
    }

    /// The run's history: every event, oldest first.
    pub async fn history(&self, id: WorkflowRunId) -> Result<Vec<WorkflowEvent>, ApiError> {
        // Answers 404 for an unknown run rather than an empty history.
        store::find_run(&self.db, &id.to_string())
            .await
            .or_internal("reading a workflow run")?
            .ok_or(ApiError::NotFound)?;
        let rows = store::events_after(&self.db, &id.to_string(), 0, 10_000)
            .await
            .or_internal("reading a run's history")?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                Some(WorkflowEvent {
                    run_id: id,
                    seq: r.seq.max(0) as u64,
                    at_ms: r.at_ms,
                    body: serde_json::from_str(&r.payload).ok()?,
                })
            })
            .collect())
    }
}

fn stopped() -> ApiError {
    ApiError::Conflict("the server is shutting down".into())
}

fn to_workflow(row: store::WorkflowRow) -> Result<Workflow, ApiError> {
    Ok(Workflow {
        id: row.id.parse().or_internal("stored workflow id")?,
        name: row.name,
        description: row.description,
        trigger_label: row.trigger_label,
        trigger_assignee: row.trigger_assignee,
        definition: row.definition.0,
        budget: row.budget.0,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn issue_ref(row: &store::RunRow) -> Option<IssueRef> {
    Some(IssueRef {
        id: row.issue_id.as_deref()?.parse().ok()?,
        repository_id: row.issue_repository_id.as_deref()?.parse().ok()?,
        number: row.issue_number?.max(0) as u64,
        title: row.issue_title.clone().unwrap_or_default(),
    })
}

fn step_status(step: &store::StepRow) -> app::model::StepStatus {
    step.status
}

fn to_step(row: store::StepRow) -> Result<RunStep, ApiError> {
    Ok(RunStep {
        stage: row.stage.max(0) as u32,
        index: row.step_index.max(0) as u32,
        status: step_status(&row),
        key: row.step_key,
        agent_id: row.agent_id.as_deref().and_then(|a| a.parse().ok()),
        agent_name: row.agent_name,
        agent_type: row.agent_type,
        approval: row.approval,
        on_failure: row.on_failure,
        execution_id: row.execution_id.as_deref().and_then(|e| e.parse().ok()),
        result: row.result.map(|j| j.0),
        error: row.error,
        decided_by: row.decided_by,
        decided_at: row.decided_at,
        reused: row.reused,
        started_at: row.started_at,
        finished_at: row.finished_at,
    })
}

fn to_run(row: store::RunRow, steps: Vec<store::StepRow>) -> Result<WorkflowRun, ApiError> {
    let issue = issue_ref(&row);
    let definition: WorkflowDefinition = row.definition.0;
    Ok(WorkflowRun {
        id: row.id.parse().or_internal("stored run id")?,
        workflow_id: row.workflow_id.as_deref().and_then(|w| w.parse().ok()),
        issue,
        workflow_name: row.workflow_name,
        definition,
        status: row.status,
        error: row.error,
        created_by: row.created_by,
        created_at: row.created_at,
        finished_at: row.finished_at,
        rerun_of: row.rerun_of.as_deref().and_then(|r| r.parse().ok()),
        steps: steps.into_iter().map(to_step).collect::<Result<_, _>>()?,
        last_seq: row.last_seq.max(0) as u64,
        branch: row.branch,
        pr_url: row.pr_url,
        github_error: row.github_error,
    })
}

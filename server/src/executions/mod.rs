//! Executions: the queue, the state machine and the local executor.
//!
//! queued → running (⇄ paused) → completed | failed | cancelled | timed_out.
//! Every transition and every output line is an event written through the
//! event core; terminal states are written once. The scheduler
//! ([`scheduler`]) starts queued executions oldest first, at most
//! `concurrency` at a time here ([`local`]), or hands them to a remote
//! runner ([`RemoteRunners`]). [`drive`] turns a process into events, the
//! same code on the server and on a runner. At start-up, executions a
//! previous process left running are failed with a reason.

pub mod budgets;
mod control;
pub mod demo;
pub mod drive;
pub mod insights;
pub mod lines;
mod local;
pub mod markers;
pub mod process;
mod record;
pub use record::log_tail;
pub mod sandbox;
mod settings;
pub use settings::Settings;
mod scheduler;
pub mod template;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc, Mutex,
};

use app::api::ApiError;
use app::model::{
    Agent, AgentType, EventBody, Execution, ExecutionId, ExecutionPage, ExecutionStatus, IssueId,
    RepositoryId, RunnerLost, WorkflowRunId, DEFAULT_OUTPUT_CAP, DEFAULT_TIMEOUT_SECS,
};
use tokio::sync::{mpsc, Notify};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::config::ExecConfig;
use crate::db::{self, executions as store, Db};
use crate::error::OrInternal;
use crate::events::{EventWriter, Hub};
use crate::worktrees::Worktrees;
use process::Control;
pub use record::to_execution;
pub use template::{fill_template, Fill, REMOTE_YAGURA};

/// What the executor needs of remote runners. Implemented by
/// `crate::runners::Runners`; the executor knows nothing of sockets.
#[async_trait::async_trait]
pub trait RemoteRunners: Send + Sync + 'static {
    /// Whether every execution goes to a runner (`--runners-only`).
    fn runners_only(&self) -> bool;
    /// Offers a queued execution to a connected runner that has the
    /// capabilities and a free slot: claims it in the store and sends it.
    /// False when no runner can take it now (it stays queued).
    async fn dispatch(&self, id: ExecutionId, required: &[String]) -> bool;
    /// Asks the runner holding `id` to stop it (`force`: SIGKILL at once);
    /// false when that runner is not connected.
    async fn cancel(&self, runner_id: &str, id: ExecutionId, force: bool) -> bool;
    /// Ends (or requeues) the executions whose runner's lease ran out.
    async fn expire_leases(&self);
}

#[derive(Clone)]
pub struct Executions {
    inner: Arc<Inner>,
}

struct Inner {
    /// Seals the environment at rest; the process gets it opened.
    sealer: crate::secrets::Sealer,
    db: Db,
    writer: EventWriter,
    hub: Arc<Hub>,
    work_root: PathBuf,
    config: ExecConfig,
    running: Mutex<HashMap<ExecutionId, mpsc::Sender<Control>>>,
    /// The main process of each local execution that has started.
    pids: Mutex<HashMap<ExecutionId, u32>>,
    wake: Notify,
    shutdown: CancellationToken,
    stopping: AtomicBool,
    tasks: TaskTracker,
    remote: Arc<dyn RemoteRunners>,
    worktrees: Worktrees,
    /// This replica's id and lease (see [`crate::db::replicas`]).
    replica: Replica,
}

/// This server among the replicas of one database: local executions it
/// runs are claimed under its id and held under a lease it renews.
#[derive(Clone, Debug)]
pub struct Replica {
    pub id: String,
    pub lease: std::time::Duration,
}

impl Replica {
    pub fn lease_until(&self) -> i64 {
        crate::db::now_ms() + self.lease.as_millis() as i64
    }
}

impl Executions {
    // Each is a separate service the executor is handed at start-up.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        sealer: crate::secrets::Sealer,
        db: Db,
        writer: EventWriter,
        hub: Arc<Hub>,
        data_dir: PathBuf,
        config: ExecConfig,
        shutdown: CancellationToken,
        tasks: TaskTracker,
        remote: Arc<dyn RemoteRunners>,
        worktrees: Worktrees,
        replica: Replica,
    ) -> Self {
        Executions {
            inner: Arc::new(Inner {
                sealer,
                db,
                writer,
                hub,
                work_root: data_dir.join("work"),
                config,
                running: Mutex::new(HashMap::new()),
                pids: Mutex::new(HashMap::new()),
                wake: Notify::new(),
                shutdown,
                stopping: AtomicBool::new(false),
                tasks,
                remote,
                worktrees,
                replica,
            }),
        }
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.inner.hub
    }

    pub fn writer(&self) -> &EventWriter {
        &self.inner.writer
    }

    /// Asks the scheduler to look at the queue now (a runner connected or
    /// finished a task).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Fails executions that a previous server process left running: their
    /// process is gone with it (or orphaned), so they cannot finish.
    pub async fn reconcile(&self) -> anyhow::Result<usize> {
        let replica = &self.inner.replica.id;
        crate::db::replicas::release_unstarted(&self.inner.db, replica).await?;
        let rows = store::unfinished(&self.inner.db, replica).await?;
        for row in &rows {
            let id: ExecutionId = row.id.parse()?;
            let agent_type = row.agent_type;
            self.inner
                .writer
                .append(
                    id,
                    EventBody::Finished {
                        agent_type,
                        status: ExecutionStatus::Failed,
                        result: None,
                        error_code: Some("SERVER_RESTARTED".into()),
                        error_message: Some(
                            "Yagura stopped while this execution was running; its process was lost"
                                .into(),
                        ),
                        exit_code: None,
                        signal: None,
                        usage: None,
                    },
                )
                .await?;
            tracing::warn!(execution = %id, "marked failed: left running by a previous server process");
        }
        Ok(rows.len())
    }

    /// Starts the scheduler; it stops when the server shuts down, after
    /// asking every running process to stop.
    pub fn start(&self) {
        scheduler::spawn(self.inner.clone());
        control::spawn_listener(self.inner.clone());
    }

    /// Queues a new execution of `agent`, on an issue or a workflow run's
    /// step when `origin` says so.
    pub async fn create(
        &self,
        agent: &Agent,
        prompt: String,
        created_by: &str,
        origin: &Origin,
    ) -> Result<Execution, ApiError> {
        if self.inner.stopping.load(Ordering::SeqCst) {
            return Err(ApiError::Conflict("the server is shutting down".into()));
        }
        if prompt.len() > 256 * 1024 {
            return Err(ApiError::Invalid(
                "the prompt is longer than 256 KiB".into(),
            ));
        }
        if origin.stdin.as_ref().is_some_and(|s| s.len() > 256 * 1024) {
            return Err(ApiError::Invalid("the input is longer than 256 KiB".into()));
        }
        let id = ExecutionId(uuid::Uuid::new_v4());
        let workdir = self.inner.work_root.join(id.to_string());
        // A runner runs it somewhere else: its working directory is the
        // process's current one, and `{yagura}` is the runner's own binary
        // (the runner fills that in).
        let remote = self.inner.remote.runners_only() || !agent.capabilities.is_empty();
        let argv = fill_template(
            &agent.command,
            &Fill {
                prompt: &prompt,
                issue_title: origin.issue.as_ref().map_or("", |i| i.title.as_str()),
                issue_body: origin.issue.as_ref().map_or("", |i| i.body.as_str()),
                model: origin.model.as_deref().unwrap_or(""),
                workdir: if remote { Path::new(".") } else { &workdir },
                yagura_bin: if remote {
                    Path::new(REMOTE_YAGURA)
                } else {
                    &self.inner.config.yagura_bin
                },
            },
        );
        let row = store::NewExecution {
            id: id.to_string(),
            agent_id: Some(agent.id.to_string()),
            agent_name: agent.name.clone(),
            agent_type: agent.agent_type,
            prompt,
            argv,
            env: {
                // The agent's values are sealed in its row already; what
                // the request adds is sealed here.
                let mut added = origin.env.clone();
                if let Some(model) = &origin.model {
                    added.insert("YAGURA_MODEL".into(), model.clone());
                }
                let mut env = agent.env.clone();
                env.extend(self.inner.sealer.seal_env(&added));
                env
            },
            timeout_secs: origin
                .task
                .as_ref()
                .and_then(|t| t.timeout_secs)
                .unwrap_or(agent.timeout_secs) as i64,
            output_cap_bytes: agent.output_cap_bytes as i64,
            status: ExecutionStatus::Queued,
            created_by: Some(created_by.to_string()),
            created_at: db::now_ms(),
            capabilities: agent.capabilities.clone(),
            on_runner_lost: agent.on_runner_lost,
            needs_runner: false,
            tags: origin
                .task
                .as_ref()
                .map(|t| t.tags.clone())
                .unwrap_or_default(),
            task_name: origin.task.as_ref().map(|t| t.name.clone()),
            description: origin.task.as_ref().map(|t| t.description.clone()),
            metadata: Settings {
                sandbox_paths: agent.sandbox_paths.clone(),
                ..Settings::of(origin)
            }
            .merged_into(origin.task.as_ref().and_then(|t| t.metadata.clone()))
            .map(crate::db::Json),
            issue_id: origin.issue.as_ref().map(|i| i.id.to_string()),
            workflow_run_id: origin.workflow_run.map(|r| r.to_string()),
        };
        self.queue(&row).await?;
        self.get(id).await
    }

    /// Queues a task made without an agent (seed 000's `task_create`): no
    /// command of its own, so only a connected runner can take it, and it
    /// goes to one as it is (`task_execute {name, timeout, …}`).
    pub async fn create_task(
        &self,
        task: TaskFields,
        created_by: &str,
    ) -> Result<Execution, ApiError> {
        if self.inner.stopping.load(Ordering::SeqCst) {
            return Err(ApiError::Conflict("the server is shutting down".into()));
        }
        let id = ExecutionId(uuid::Uuid::new_v4());
        let row = store::NewExecution {
            id: id.to_string(),
            agent_id: None,
            agent_name: task.name.clone(),
            agent_type: AgentType::Custom,
            prompt: String::new(),
            argv: Vec::new(),
            env: Default::default(),
            timeout_secs: task.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS) as i64,
            output_cap_bytes: DEFAULT_OUTPUT_CAP as i64,
            status: ExecutionStatus::Queued,
            created_by: Some(created_by.to_string()),
            created_at: db::now_ms(),
            issue_id: None,
            workflow_run_id: None,
            capabilities: Vec::new(),
            task_name: Some(task.name),
            description: Some(task.description),
            tags: task.tags,
            metadata: Settings::default()
                .merged_into(task.metadata)
                .map(crate::db::Json),
            on_runner_lost: RunnerLost::Fail,
            needs_runner: true,
        };
        self.queue(&row).await?;
        self.get(id).await
    }

    /// Stores a new execution with its first event and wakes the scheduler.
    async fn queue(&self, row: &store::NewExecution) -> Result<(), ApiError> {
        let id: ExecutionId = row.id.parse().or_internal("new execution id")?;
        store::create(&self.inner.db, row)
            .await
            .or_internal("creating an execution")?;
        self.inner
            .writer
            .append(
                id,
                EventBody::Queued {
                    agent_type: row.agent_type,
                },
            )
            .await
            .or_internal("queueing an execution")?;
        self.inner.wake.notify_one();
        Ok(())
    }

    pub async fn get(&self, id: ExecutionId) -> Result<Execution, ApiError> {
        let row = store::find(&self.inner.db, &id.to_string())
            .await
            .or_internal("reading an execution")?
            .ok_or(ApiError::NotFound)?;
        to_execution(row)
    }

    pub async fn list(
        &self,
        filter: &store::Filter,
        limit: u32,
        offset: u32,
    ) -> Result<ExecutionPage, ApiError> {
        let limit = i64::from(limit.clamp(1, 200));
        let rows = store::list(&self.inner.db, filter, limit, i64::from(offset))
            .await
            .or_internal("listing executions")?;
        let total = store::count(&self.inner.db, filter)
            .await
            .or_internal("counting executions")?;
        Ok(ExecutionPage {
            items: rows
                .into_iter()
                .map(to_execution)
                .collect::<Result<_, _>>()?,
            total: total as u64,
        })
    }

    /// The newest execution started on each of these issues by itself.
    pub async fn latest_on_issues(&self, issue_ids: &[String]) -> Result<Vec<Execution>, ApiError> {
        store::latest_standalone_of_issues(&self.inner.db, issue_ids)
            .await
            .or_internal("reading issues' latest executions")?
            .into_iter()
            .map(to_execution)
            .collect()
    }

    /// Cancels a queued or running execution.
    pub async fn cancel(&self, id: ExecutionId) -> Result<(), ApiError> {
        self.stop(id, false).await
    }

    /// Stops a queued or running execution: with `force`, SIGKILL at once
    /// instead of SIGTERM and a grace period.
    pub async fn stop(&self, id: ExecutionId, force: bool) -> Result<(), ApiError> {
        let execution = self.get(id).await?;
        if execution.status.is_terminal() {
            return Err(ApiError::Conflict(format!(
                "the execution already ended ({})",
                execution.status.as_str()
            )));
        }
        let stop = if force {
            Control::Kill
        } else {
            Control::Cancel
        };
        if let Some(control) = self.control_of(id) {
            let _ = control.send(stop).await;
            return Ok(());
        }
        if self.control_elsewhere(id, &stop).await? {
            // The replica running it stops the process and records the end.
            return Ok(());
        }
        if let Some(runner) = self.remote_runner(id).await? {
            if self.inner.remote.cancel(&runner, id, force).await
                || self.cancel_through_replicas(id, &runner, force).await?
            {
                // The runner (here or on another replica) stops the
                // process and reports the end.
                return Ok(());
            }
            // The runner is away: the execution ends here; a runner that
            // comes back with it is told to kill it.
        }
        // Still queued: it never ran, so it ends here.
        self.inner
            .writer
            .append(
                id,
                EventBody::Finished {
                    agent_type: execution.agent_type,
                    status: ExecutionStatus::Cancelled,
                    result: None,
                    error_code: None,
                    error_message: Some("cancelled before it started".into()),
                    exit_code: None,
                    signal: None,
                    usage: None,
                },
            )
            .await
            .or_internal("cancelling")?;
        Ok(())
    }

    pub async fn pause(&self, id: ExecutionId) -> Result<(), ApiError> {
        self.send_running(id, Control::Pause).await
    }

    pub async fn resume(&self, id: ExecutionId) -> Result<(), ApiError> {
        self.send_running(id, Control::Resume).await
    }

    /// Closes the process's standard input (it reads EOF).
    pub async fn close_stdin(&self, id: ExecutionId) -> Result<(), ApiError> {
        self.send_running(id, Control::CloseStdin).await
    }

    /// Writes to the process's standard input; `echo`: and shows it in the
    /// log (`> text` system lines), unless it is a secret.
    pub async fn stdin(&self, id: ExecutionId, data: String, echo: bool) -> Result<(), ApiError> {
        if data.len() > 64 * 1024 {
            return Err(ApiError::Invalid(
                "at most 64 KiB of input at a time".into(),
            ));
        }
        self.send_running(
            id,
            Control::Stdin {
                data: data.into_bytes(),
                echo,
            },
        )
        .await
    }

    /// The runner holding an execution, if a runner holds it.
    async fn remote_runner(&self, id: ExecutionId) -> Result<Option<String>, ApiError> {
        Ok(store::find(&self.inner.db, &id.to_string())
            .await
            .or_internal("reading an execution")?
            .and_then(|row| row.runner_id))
    }

    async fn send_running(&self, id: ExecutionId, control: Control) -> Result<(), ApiError> {
        if self.control_of(id).is_none() && self.remote_runner(id).await?.is_some() {
            return Err(ApiError::Conflict(
                "pause, resume and input are not available for executions on a remote runner"
                    .into(),
            ));
        }
        match self.control_of(id) {
            Some(tx) => tx
                .send(control)
                .await
                .map_err(|_| ApiError::Conflict("the execution is ending".into())),
            None if self.control_elsewhere(id, &control).await? => Ok(()),
            None => {
                self.get(id).await?;
                Err(ApiError::Conflict("the execution is not running".into()))
            }
        }
    }

    fn control_of(&self, id: ExecutionId) -> Option<mpsc::Sender<Control>> {
        self.inner.running.lock().ok()?.get(&id).cloned()
    }

    /// Local executions whose process runs, with its pid.
    pub fn running_pids(&self) -> Vec<(ExecutionId, u32)> {
        self.inner
            .pids
            .lock()
            .map(|p| p.iter().map(|(id, pid)| (*id, *pid)).collect())
            .unwrap_or_default()
    }

    /// Ids of executions running in this process.
    pub fn running(&self) -> Vec<ExecutionId> {
        self.inner
            .running
            .lock()
            .map(|r| r.keys().copied().collect())
            .unwrap_or_default()
    }
}

/// Where an execution comes from, beyond its agent and prompt.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    /// The issue it runs on: fills `{issue.title}` and `{issue.body}`.
    pub issue: Option<IssueFacts>,
    /// A repository to work in without an issue (a worktree of its own).
    pub workspace: Option<RepositoryId>,
    /// Variables added to the agent's own.
    pub env: BTreeMap<String, String>,
    /// Fills `{model}` and `YAGURA_MODEL`.
    pub model: Option<String>,
    /// A cap on the process's memory, in MiB.
    pub memory_limit_mb: Option<u64>,
    /// Written to standard input at the start (at most 256 KiB).
    pub stdin: Option<String>,
    /// Close standard input after `stdin` (batch input).
    pub close_stdin: bool,
    /// The workflow run it is a step of.
    pub workflow_run: Option<WorkflowRunId>,
    /// Seed 000's task fields, for executions made by `task_create`.
    pub task: Option<TaskFields>,
}

#[derive(Clone, Debug, Default)]
pub struct TaskFields {
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    pub metadata: Option<serde_json::Value>,
    /// Replaces the agent's timeout.
    pub timeout_secs: Option<u64>,
}

#[derive(Clone, Debug)]
pub struct IssueFacts {
    pub id: IssueId,
    pub title: String,
    pub body: String,
}

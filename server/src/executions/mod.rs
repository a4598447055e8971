//! Executions: the queue, the state machine and the local executor.
//!
//! queued → running (⇄ paused) → completed | failed | cancelled | timed_out.
//! Every transition and every output line is an event written through the
//! event core; terminal states are written once. A scheduler starts queued
//! executions oldest first, at most `concurrency` at a time. At start-up,
//! executions a previous process left running are failed with a reason.

pub mod demo;
pub mod lines;
pub mod markers;
pub mod process;
mod record;
pub mod remote;
pub mod runner;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc, Mutex,
};
use std::time::Duration;

use app::api::ApiError;
use app::model::{
    Agent, EventBody, Execution, ExecutionId, ExecutionPage, ExecutionStatus, IssueId,
    WorkflowRunId,
};
use tokio::sync::{mpsc, Notify};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::db::{self, executions as store, Db};
use crate::events::{EventWriter, Hub};
use crate::http::error::internal;
use crate::runners::Runners;
use app::protocol::ktcp::{CancelData, ExecuteData, ServerFrame};
use process::Control;
pub use record::to_execution;

/// Settings of the local executor.
#[derive(Clone, Debug)]
pub struct ExecConfig {
    /// Executions running at once; more wait in the queue.
    pub concurrency: usize,
    /// Time between SIGTERM and SIGKILL on cancel and timeout.
    pub kill_grace: Duration,
    /// What `{yagura}` in a command stands for: this binary.
    pub yagura_bin: PathBuf,
}

impl Default for ExecConfig {
    fn default() -> Self {
        ExecConfig {
            concurrency: 4,
            kill_grace: Duration::from_secs(5),
            yagura_bin: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("yagura")),
        }
    }
}

#[derive(Clone)]
pub struct Executions {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    writer: EventWriter,
    hub: Arc<Hub>,
    work_root: PathBuf,
    config: ExecConfig,
    running: Mutex<HashMap<ExecutionId, mpsc::Sender<Control>>>,
    wake: Notify,
    shutdown: CancellationToken,
    stopping: AtomicBool,
    tasks: TaskTracker,
    runners: Runners,
    worktrees: crate::worktrees::Worktrees,
}

impl Executions {
    // Each is a separate service the executor is handed at start-up.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        db: Db,
        writer: EventWriter,
        hub: Arc<Hub>,
        data_dir: PathBuf,
        config: ExecConfig,
        shutdown: CancellationToken,
        tasks: TaskTracker,
        runners: Runners,
        worktrees: crate::worktrees::Worktrees,
    ) -> Self {
        Executions {
            inner: Arc::new(Inner {
                db,
                writer,
                hub,
                work_root: data_dir.join("work"),
                config,
                running: Mutex::new(HashMap::new()),
                wake: Notify::new(),
                shutdown,
                stopping: AtomicBool::new(false),
                tasks,
                runners,
                worktrees,
            }),
        }
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.inner.hub
    }

    pub fn writer(&self) -> &EventWriter {
        &self.inner.writer
    }

    pub fn runners(&self) -> &Runners {
        &self.inner.runners
    }

    /// Asks the scheduler to look at the queue now (a runner connected or
    /// finished a task).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Fails executions that a previous server process left running: their
    /// process is gone with it (or orphaned), so they cannot finish.
    pub async fn reconcile(&self) -> anyhow::Result<usize> {
        let rows = store::unfinished(&self.inner.db).await?;
        for row in &rows {
            let id: ExecutionId = row.id.parse()?;
            let agent_type = row
                .agent_type
                .parse()
                .unwrap_or(app::model::AgentType::Custom);
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
        let inner = self.inner.clone();
        self.inner.tasks.spawn(async move {
            loop {
                schedule(&inner).await;
                inner.runners.expire_leases(&inner.writer).await;
                tokio::select! {
                    _ = inner.shutdown.cancelled() => break,
                    _ = inner.wake.notified() => {}
                    _ = tokio::time::sleep(LEASE_CHECK) => {}
                }
            }
            inner.stopping.store(true, Ordering::SeqCst);
            let running: Vec<_> = inner
                .running
                .lock()
                .map(|r| r.values().cloned().collect())
                .unwrap_or_default();
            for control in running {
                let _ = control.send(Control::Cancel).await;
            }
        });
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
        let id = ExecutionId(uuid::Uuid::new_v4());
        let workdir = self.inner.work_root.join(id.to_string());
        // A runner runs it somewhere else: its working directory is the
        // process's current one, and `{yagura}` is the runner's own binary
        // (the runner fills that in).
        let remote = self.inner.runners.config().runners_only || !agent.capabilities.is_empty();
        let argv = fill_template(
            &agent.command,
            &Fill {
                prompt: &prompt,
                issue_title: origin.issue.as_ref().map_or("", |i| i.title.as_str()),
                issue_body: origin.issue.as_ref().map_or("", |i| i.body.as_str()),
                workdir: if remote { Path::new(".") } else { &workdir },
                yagura_bin: if remote {
                    Path::new(REMOTE_YAGURA)
                } else {
                    &self.inner.config.yagura_bin
                },
            },
        );
        let row = store::ExecutionRow {
            id: id.to_string(),
            agent_id: Some(agent.id.to_string()),
            agent_name: agent.name.clone(),
            agent_type: agent.agent_type.as_str().to_string(),
            prompt,
            argv: serde_json::to_string(&argv).unwrap_or_default(),
            env: serde_json::to_string(&agent.env).unwrap_or_default(),
            timeout_secs: origin
                .task
                .as_ref()
                .and_then(|t| t.timeout_secs)
                .unwrap_or(agent.timeout_secs) as i64,
            output_cap_bytes: agent.output_cap_bytes as i64,
            status: ExecutionStatus::Queued.as_str().into(),
            created_by: Some(created_by.to_string()),
            created_at: db::now_ms(),
            capabilities: serde_json::to_string(&agent.capabilities)
                .unwrap_or_else(|_| "[]".into()),
            on_runner_lost: agent.on_runner_lost.as_str().to_string(),
            tags: serde_json::to_string(
                &origin
                    .task
                    .as_ref()
                    .map(|t| t.tags.clone())
                    .unwrap_or_default(),
            )
            .unwrap_or_else(|_| "[]".into()),
            task_name: origin.task.as_ref().map(|t| t.name.clone()),
            description: origin.task.as_ref().map(|t| t.description.clone()),
            metadata: origin
                .task
                .as_ref()
                .and_then(|t| t.metadata.as_ref())
                .map(|m| m.to_string()),
            issue_id: origin.issue.as_ref().map(|i| i.id.to_string()),
            workflow_run_id: origin.workflow_run.map(|r| r.to_string()),
            ..Default::default()
        };
        store::create(&self.inner.db, &row)
            .await
            .map_err(|e| internal("creating an execution", e))?;
        self.inner
            .writer
            .append(
                id,
                EventBody::Queued {
                    agent_type: agent.agent_type,
                },
            )
            .await
            .map_err(|e| internal("queueing an execution", e))?;
        self.inner.wake.notify_one();
        self.get(id).await
    }

    pub async fn get(&self, id: ExecutionId) -> Result<Execution, ApiError> {
        let row = store::find(&self.inner.db, &id.to_string())
            .await
            .map_err(|e| internal("reading an execution", e))?
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
            .map_err(|e| internal("listing executions", e))?;
        let total = store::count(&self.inner.db, filter)
            .await
            .map_err(|e| internal("counting executions", e))?;
        Ok(ExecutionPage {
            items: rows
                .into_iter()
                .map(to_execution)
                .collect::<Result<_, _>>()?,
            total: total as u64,
        })
    }

    /// Cancels a queued or running execution.
    pub async fn cancel(&self, id: ExecutionId) -> Result<(), ApiError> {
        let execution = self.get(id).await?;
        if execution.status.is_terminal() {
            return Err(ApiError::Conflict(format!(
                "the execution already ended ({})",
                execution.status.as_str()
            )));
        }
        if let Some(control) = self.control_of(id) {
            let _ = control.send(Control::Cancel).await;
            return Ok(());
        }
        if let Some(runner) = self.remote_runner(id).await? {
            let frame = ServerFrame::TaskCancel {
                task_id: id.to_string(),
                data: CancelData {
                    reason: "cancelled by a user".into(),
                    force: false,
                },
                timestamp: chrono::Utc::now(),
            };
            if self.inner.runners.send(&runner, frame).await {
                // The runner stops the process and reports the end.
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
            .map_err(|e| internal("cancelling", e))?;
        Ok(())
    }

    pub async fn pause(&self, id: ExecutionId) -> Result<(), ApiError> {
        self.send_running(id, Control::Pause).await
    }

    pub async fn resume(&self, id: ExecutionId) -> Result<(), ApiError> {
        self.send_running(id, Control::Resume).await
    }

    /// Writes to the process's standard input.
    pub async fn stdin(&self, id: ExecutionId, data: String) -> Result<(), ApiError> {
        if data.len() > 64 * 1024 {
            return Err(ApiError::Invalid(
                "at most 64 KiB of input at a time".into(),
            ));
        }
        self.send_running(id, Control::Stdin(data.into_bytes()))
            .await
    }

    /// The runner holding an execution, if a runner holds it.
    async fn remote_runner(&self, id: ExecutionId) -> Result<Option<String>, ApiError> {
        Ok(store::find(&self.inner.db, &id.to_string())
            .await
            .map_err(|e| internal("reading an execution", e))?
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
            None => {
                self.get(id).await?;
                Err(ApiError::Conflict("the execution is not running".into()))
            }
        }
    }

    fn control_of(&self, id: ExecutionId) -> Option<mpsc::Sender<Control>> {
        self.inner.running.lock().ok()?.get(&id).cloned()
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

/// What `{yagura}` stays as in a remote execution's argv; the runner puts
/// its own executable there.
pub const REMOTE_YAGURA: &str = "{yagura}";

/// Where an execution comes from, beyond its agent and prompt.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    /// The issue it runs on: fills `{issue_title}` and `{issue_body}`.
    pub issue: Option<IssueFacts>,
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

/// The values an argv template's placeholders stand for.
pub struct Fill<'a> {
    pub prompt: &'a str,
    pub issue_title: &'a str,
    pub issue_body: &'a str,
    pub workdir: &'a Path,
    pub yagura_bin: &'a Path,
}

/// Fills the argv template in one pass, so that a value containing a
/// placeholder is never expanded again. Each element is one argument
/// whatever the values contain: no shell ever parses them.
pub fn fill_template(template: &[String], fill: &Fill<'_>) -> Vec<String> {
    let workdir = fill.workdir.display().to_string();
    let yagura = fill.yagura_bin.display().to_string();
    let values: [(&str, &str); 5] = [
        ("{prompt}", fill.prompt),
        ("{issue_title}", fill.issue_title),
        ("{issue_body}", fill.issue_body),
        ("{workdir}", &workdir),
        ("{yagura}", &yagura),
    ];
    template
        .iter()
        .map(|arg| {
            let mut out = String::with_capacity(arg.len());
            let mut rest = arg.as_str();
            'scan: while !rest.is_empty() {
                if rest.starts_with('{') {
                    for (name, value) in values {
                        if let Some(tail) = rest.strip_prefix(name) {
                            out.push_str(value);
                            rest = tail;
                            continue 'scan;
                        }
                    }
                }
                let c = rest.chars().next().unwrap_or_default();
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
            out
        })
        .collect()
}

/// How often leases are checked (and the queue looked at) without a wake-up.
const LEASE_CHECK: Duration = Duration::from_millis(500);

async fn schedule(inner: &Arc<Inner>) {
    if inner.shutdown.is_cancelled() {
        return;
    }
    let queued = match store::queued(&inner.db, 500).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the queue");
            return;
        }
    };
    let runners_only = inner.runners.config().runners_only;
    for (id, capabilities) in queued {
        let Ok(id) = id.parse::<ExecutionId>() else {
            continue;
        };
        let required: Vec<String> = serde_json::from_str(&capabilities).unwrap_or_default();
        if runners_only || !required.is_empty() {
            dispatch_remote(inner, id, &required).await;
            continue;
        }
        let (tx, rx) = mpsc::channel(64);
        {
            let Ok(mut running) = inner.running.lock() else {
                return;
            };
            if running.len() >= inner.config.concurrency {
                continue;
            }
            if running.contains_key(&id) {
                continue;
            }
            running.insert(id, tx);
        }
        let inner = inner.clone();
        let tasks = inner.tasks.clone();
        tasks.spawn(async move {
            if let Err(e) = runner::run_one(&inner, id, rx).await {
                tracing::error!(execution = %id, error = %e, "execution bookkeeping failed");
            }
            if let Ok(mut running) = inner.running.lock() {
                running.remove(&id);
            }
            inner.wake.notify_one();
        });
    }
}

/// Hands a queued execution to a connected runner that has the
/// capabilities and a free slot; without one it stays queued.
async fn dispatch_remote(inner: &Arc<Inner>, id: ExecutionId, required: &[String]) {
    let Some(runner) = inner.runners.pick(required).await else {
        return;
    };
    if !inner.runners.claim(id, &runner).await {
        return; // cancelled meanwhile, or claimed elsewhere
    }
    let row = match store::find(&inner.db, &id.to_string()).await {
        Ok(Some(row)) => row,
        _ => {
            inner.runners.unclaim(id).await;
            return;
        }
    };
    let mut env: std::collections::BTreeMap<String, String> =
        serde_json::from_str(&row.env).unwrap_or_default();
    env.insert("YAGURA_EXECUTION_ID".into(), id.to_string());
    let frame = ServerFrame::TaskExecute {
        task_id: id.to_string(),
        data: ExecuteData {
            name: row
                .task_name
                .clone()
                .unwrap_or_else(|| row.agent_name.clone()),
            timeout: row.timeout_secs.max(1) as u64,
            argv: serde_json::from_str(&row.argv).unwrap_or_default(),
            env,
            output_cap_bytes: row.output_cap_bytes.max(0) as u64,
            agent_type: row.agent_type.clone(),
        },
        timestamp: chrono::Utc::now(),
    };
    if inner.runners.send(&runner, frame).await {
        tracing::info!(execution = %id, runner, "dispatched to a runner");
    } else {
        inner.runners.unclaim(id).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_fills_each_argument_without_a_shell() {
        let t: Vec<String> = ["tool", "--msg", "{prompt}", "--dir={workdir}"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let fill = |prompt| Fill {
            prompt,
            issue_title: "Title {prompt}",
            issue_body: "",
            workdir: Path::new("/w"),
            yagura_bin: Path::new("/bin/yagura"),
        };
        let argv = fill_template(&t, &fill("a; rm -rf / && echo $(whoami)"));
        assert_eq!(
            argv,
            vec!["tool", "--msg", "a; rm -rf / && echo $(whoami)", "--dir=/w"]
        );
        // A value is never expanded again, however it looks.
        let t2: Vec<String> = vec!["{issue_title}|{prompt}".into()];
        assert_eq!(
            fill_template(&t2, &fill("{workdir}")),
            vec!["Title {prompt}|{workdir}"]
        );
    }
}

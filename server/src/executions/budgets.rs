//! The budget watch: when a run's reported tokens or cost change, its
//! agent's and its workflow's budgets are checked, and a run over one is
//! paused (a remote runner cannot pause: there it is cancelled), with a
//! line in its log and a notification to whoever started it. A budget
//! stops a run once: a person who resumes it has decided.

use std::time::Duration;

use app::model::{
    Budget, EventBody, ExecutionId, ExecutionStatus, LineEnd, LogLevel, LogStream, Severity,
};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::Executions;
use crate::db::{self, usage as store};
use crate::notifications::{Notice, Notifier};

/// How often runs that reported usage are looked at again, in case a
/// notice was missed (the watch lagged, or the day's total moved because
/// of another run).
const SWEEP: Duration = Duration::from_secs(30);

const DAY_MS: i64 = 86_400_000;

pub struct BudgetWatch {
    executions: Executions,
    notifier: Notifier,
}

impl BudgetWatch {
    pub fn new(executions: Executions, notifier: Notifier) -> Self {
        BudgetWatch {
            executions,
            notifier,
        }
    }

    pub fn start(self, shutdown: CancellationToken, tasks: TaskTracker) {
        let mut rx = self.executions.hub().subscribe_usage();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(SWEEP);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    id = rx.recv() => match id {
                        Ok(id) => self.check_logged(id).await,
                        Err(RecvError::Lagged(_)) => self.sweep().await,
                        Err(RecvError::Closed) => break,
                    },
                    _ = tick.tick() => self.sweep().await,
                }
            }
        });
    }

    async fn sweep(&self) {
        let since = db::now_ms() - DAY_MS;
        match store::going_with_usage(self.db(), since).await {
            Ok(ids) => {
                for id in ids.iter().filter_map(|id| id.parse().ok()) {
                    self.check_logged(ExecutionId(id)).await;
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot list runs for the budget watch"),
        }
    }

    fn db(&self) -> &db::Db {
        &self.executions.inner.db
    }

    async fn check_logged(&self, id: ExecutionId) {
        if let Err(e) = self.check(id).await {
            tracing::error!(execution = %id, error = %e, "budget check failed");
        }
    }

    /// Checks one run against its budgets and stops it when it is over one.
    pub async fn check(&self, id: ExecutionId) -> anyhow::Result<()> {
        let key = id.to_string();
        let Some(run) = store::budget_subject(self.db(), &key).await? else {
            return Ok(());
        };
        if run.budget_stopped_at.is_some() || run.status != ExecutionStatus::Running {
            return Ok(());
        }
        let Some((over, by)) = self.over_budget(&run).await? else {
            return Ok(());
        };
        if !store::claim_stop(self.db(), &key, db::now_ms(), by).await? {
            return Ok(());
        }
        let remote = run.runner_id.is_some();
        let action = if remote { "cancelled" } else { "paused" };
        let line = if remote {
            format!("[yagura] over budget: {over}. Cancelled: a remote runner cannot pause a run.")
        } else {
            format!(
                "[yagura] over budget: {over}. Paused: resume it to let it go on, or cancel it."
            )
        };
        // The line goes before a cancel (the run ends) and after a pause
        // (which may not take: the run ended, or has no process yet).
        if remote {
            self.log(id, line.clone()).await?;
        }
        let stopped = if remote {
            self.executions.cancel(id).await
        } else {
            self.executions.pause(id).await
        };
        if let Err(e) = stopped {
            tracing::info!(execution = %id, error = %e, "over budget, but could not be stopped");
            // Still going: the next report may stop it.
            store::unclaim_stop(self.db(), &key).await?;
            return Ok(());
        }
        if !remote {
            self.log(id, line).await?;
        }
        let notice = Notice {
            severity: Severity::Warning,
            title: format!("Agent run {action}: over budget"),
            message: capitalised(&over),
            action_url: Some(format!("/executions/{id}")),
        };
        let told = match run.created_by.as_deref() {
            Some(user) => self.notifier.notify_username(user, &notice).await,
            None => self.notifier.notify_members(&notice).await,
        };
        if let Err(e) = told {
            tracing::error!(error = %e, "cannot store a notification");
        }
        tracing::info!(execution = %id, %over, action, "run stopped by its budget");
        Ok(())
    }

    async fn log(&self, id: ExecutionId, message: String) -> anyhow::Result<()> {
        self.executions
            .writer()
            .append(
                id,
                EventBody::Log {
                    stream: LogStream::System,
                    level: LogLevel::Warn,
                    message,
                    end: LineEnd::Lf,
                },
            )
            .await?;
        Ok(())
    }

    /// What the run is over, and whose budget it is (`agent`, `workflow`).
    async fn over_budget(
        &self,
        run: &store::BudgetSubject,
    ) -> anyhow::Result<Option<(String, &'static str)>> {
        let today = db::now_ms() / DAY_MS * DAY_MS;
        let spent = store::Sums {
            input_tokens: run.input_tokens,
            output_tokens: run.output_tokens,
            cost_micros: run.cost_micros,
        }
        .usage();
        let agent_budget: Budget = run.agent_budget.as_ref().map(|b| b.0).unwrap_or_default();
        if let (Some(agent), false) = (&run.agent_id, agent_budget.is_empty()) {
            let day = store::agent_since(self.db(), agent, today).await?.usage();
            let owner = format!("agent {}", run.agent_name);
            if let Some(over) = agent_budget.exceeded(&spent, &day, &owner, "this run") {
                return Ok(Some((over, "agent")));
            }
        }
        let workflow_budget: Budget = run
            .workflow_budget
            .as_ref()
            .map(|b| b.0)
            .unwrap_or_default();
        if let (Some(workflow), Some(run_id), false) = (
            &run.workflow_id,
            &run.workflow_run_id,
            workflow_budget.is_empty(),
        ) {
            // A budget stops a workflow run once: a person resumed it.
            if store::run_was_stopped(self.db(), run_id).await? {
                return Ok(None);
            }
            let whole_run = store::workflow_run(self.db(), run_id).await?.usage();
            let day = store::workflow_since(self.db(), workflow, today)
                .await?
                .usage();
            let owner = format!("workflow {}", run.workflow_name.as_deref().unwrap_or("?"));
            if let Some(over) =
                workflow_budget.exceeded(&whole_run, &day, &owner, "this workflow run")
            {
                return Ok(Some((over, "workflow")));
            }
        }
        Ok(None)
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

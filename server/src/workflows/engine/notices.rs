//! What the engine tells people: a run ended (its starter), an approval
//! is needed (every member), an agent run outside a workflow ended (its
//! starter).

use app::model::{ExecutionStatus, RunStatus, Severity};

use super::{Engine, Loaded};
use crate::events::Published;
use crate::notifications::Notice;

impl Engine {
    pub(super) async fn notify_execution(&self, event: &Published) {
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

    fn describe_run(loaded: &Loaded) -> String {
        match &loaded.issue {
            Some(issue) => format!("{} on #{}", loaded.run.workflow_name, issue.number),
            None => loaded.run.workflow_name.clone(),
        }
    }

    pub(super) async fn notify_approval(&self, loaded: &Loaded, i: usize) {
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

    pub(super) async fn notify_end(&self, loaded: &Loaded, status: RunStatus, error: Option<&str>) {
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

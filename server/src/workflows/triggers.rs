//! What starts a workflow by itself: an issue getting the workflow's
//! trigger label, or its trigger assignee. Who may cause that (a member of
//! Yagura; on GitHub, someone who can triage) is decided by the caller.

use tracing::Instrument;

use crate::db::issues::IssueRow;

use super::Workflows;

impl Workflows {
    /// Starts the workflows whose trigger label the issue just got, and
    /// those triggered by its new assignee. A failure to start one is
    /// logged and does not undo the issue's change.
    pub async fn trigger(
        &self,
        actor: &str,
        issue: &IssueRow,
        added: &[String],
        new_assignee: Option<&str>,
    ) {
        // Its own span, not the one of the request or socket that changed
        // the issue: the log says what started the runs.
        let span = tracing::info_span!(parent: None, "trigger", issue = issue.number, actor);
        self.trigger_in_span(actor, issue, added, new_assignee)
            .instrument(span)
            .await
    }

    async fn trigger_in_span(
        &self,
        actor: &str,
        issue: &IssueRow,
        added: &[String],
        new_assignee: Option<&str>,
    ) {
        let mut found = Vec::new();
        for label in added {
            match self.triggered_by(label).await {
                Ok(w) => found.extend(w.into_iter().map(|w| (w, format!("label {label}")))),
                Err(e) => tracing::error!(error = ?e, label, "cannot read label triggers"),
            }
        }
        if let Some(login) = new_assignee {
            match self.triggered_by_assignee(login).await {
                Ok(w) => found.extend(w.into_iter().map(|w| (w, format!("assignee {login}")))),
                Err(e) => tracing::error!(error = ?e, login, "cannot read assignee triggers"),
            }
        }
        for (workflow, cause) in found {
            match self.start_run(&workflow, Some(issue.clone()), actor).await {
                Ok(run) => {
                    tracing::info!(run = %run.id, workflow = %workflow.name, cause, "workflow started by a trigger")
                }
                Err(e) => {
                    tracing::warn!(error = ?e, workflow = %workflow.name, cause, "a trigger could not start a run")
                }
            }
        }
    }
}

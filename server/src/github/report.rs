//! Results flow back: when a workflow run on a GitHub issue starts, a
//! comment and the in-progress label; when it ends, a pull request from
//! the run's branch (when its steps committed, or the one an agent
//! reported), a comment with the outcome, and the done or failed label.
//!
//! Driven by the run's events and by a sweep, and recorded on the run
//! (`github_reported`), so nothing is sent twice and a GitHub outage only
//! delays a report.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use std::time::Duration;

use app::model::{RunStatus, StepStatus, WorkflowEventBody, WorkflowRun, WorkspaceEvent};
use serde::Deserialize;
use serde_json::json;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::{describe, Connected, GitHub};
use crate::db::{self, issues as issue_store, workflows as wf_store, Db};
use crate::events::Hub;
use crate::workflows::Workflows;
use crate::worktrees::Worktrees;

/// Runs being reported right now (one report at a time per run).
#[derive(Clone, Default)]
struct InFlight(Arc<Mutex<HashSet<String>>>);

impl InFlight {
    fn claim(&self, id: &str) -> bool {
        self.0
            .lock()
            .map(|mut s| s.insert(id.to_string()))
            .unwrap_or(false)
    }
    fn release(&self, id: &str) {
        if let Ok(mut s) = self.0.lock() {
            s.remove(id);
        }
    }
}

/// Reports workflow runs on GitHub issues back to GitHub.
#[derive(Clone)]
pub struct Reporter {
    github: GitHub,
    workflows: Workflows,
    worktrees: Worktrees,
    db: Db,
}

impl Reporter {
    pub fn new(github: GitHub, workflows: Workflows, worktrees: Worktrees, db: Db) -> Self {
        Reporter {
            github,
            workflows,
            worktrees,
            db,
        }
    }

    /// Reports each run when it starts or ends (its workflow events), and
    /// every `report_interval` looks for runs that still owe GitHub a
    /// report (a missed event, a GitHub outage), until shutdown.
    pub fn start(&self, hub: &Hub, shutdown: CancellationToken, tasks: TaskTracker) {
        let in_flight = InFlight::default();
        let mut events = hub.subscribe_workspace();
        let interval = self
            .github
            .config()
            .report_interval
            .max(Duration::from_millis(100));
        let reporter = self.clone();
        let spawner = tasks.clone();
        tasks.spawn(async move {
            let mut sweep = tokio::time::interval(interval);
            loop {
                let run = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = sweep.tick() => None,
                    event = events.recv() => match event {
                        Ok(b) => match &b.event {
                            WorkspaceEvent::Workflow(e) => match e.body {
                                WorkflowEventBody::Started { .. } | WorkflowEventBody::Finished { .. } => {
                                    Some(e.run_id.to_string())
                                }
                                WorkflowEventBody::Step { .. } => continue,
                            },
                            _ => continue,
                        },
                        // Missed some: the sweep finds them.
                        Err(_) => None,
                    },
                };
                let ids = match run {
                    Some(id) => vec![id],
                    None => match wf_store::runs_to_report(&reporter.db, db::now_ms() - 24 * 3600 * 1000).await {
                        Ok(ids) => ids,
                        Err(e) => {
                            tracing::error!(error = %e, "cannot list runs to report");
                            continue;
                        }
                    },
                };
                for id in ids {
                    if !in_flight.claim(&id) {
                        continue;
                    }
                    let reporter = reporter.clone();
                    let in_flight = in_flight.clone();
                    spawner.spawn(async move {
                        // With replicas, one reports a run at a time; the
                        // report reads what was sent already from the run.
                        match db::replicas::try_lock(&reporter.db, "yagura.github_report", &id).await {
                            Ok(Some(lock)) => {
                                if let Err(e) = reporter.report(&id).await {
                                    tracing::warn!(run = %id, error = %e, "reporting a run to GitHub failed (retried later)");
                                    let _ = wf_store::set_run_reported(&reporter.db, &id, 0, None, Some(&e.to_string())).await;
                                }
                                lock.release().await;
                            }
                            Ok(None) => {}
                            Err(e) => tracing::warn!(run = %id, error = %e, "cannot lock a run's report (retried later)"),
                        }
                        in_flight.release(&id);
                    });
                }
            }
        });
    }

    /// Brings the run's GitHub side up to date.
    pub async fn report(&self, run_id: &str) -> anyhow::Result<()> {
        let Some(row) = wf_store::find_run(&self.db, run_id).await? else {
            return Ok(());
        };
        let Some(issue_id) = row.issue_id.as_deref() else {
            return Ok(());
        };
        let Some(repo_id) = row.issue_repository_id.as_deref() else {
            return Ok(());
        };
        // Only issues that live on GitHub (mirrored, with their link).
        if issue_store::issue_html_url(&self.db, issue_id)
            .await?
            .is_none()
        {
            return Ok(());
        }
        let Some(c) = self.github.connected(repo_id).await? else {
            return Ok(());
        };
        let run = self
            .workflows
            .get_run(run_id.parse()?)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let number = row.issue_number.unwrap_or_default();
        let labels = self.github.labels().await;
        let link = format!(
            "{}/workflow-runs/{}",
            self.github.public_url().await,
            run.id
        );
        let mut level = row.github_reported;
        if level == 0 {
            let body = format!(
                "Yagura started the workflow **{}** on this issue.\n\nFollow it live: {link}",
                run.workflow_name
            );
            comment(&c, number, &body).await?;
            // Recorded right after the comment: a retry must not repeat it.
            wf_store::set_run_reported(&self.db, run_id, 1, None, None).await?;
            level = 1;
            if let Err(e) = add_labels(&c, number, std::slice::from_ref(&labels.in_progress)).await
            {
                tracing::warn!(run = run_id, error = %e, "cannot set the in-progress label");
            }
        }
        if level >= 2 || !run.status.is_terminal() {
            return Ok(());
        }
        let mut pr_url = row.pr_url.clone().or_else(|| reported_pr(&run));
        let mut branch_note = None;
        if pr_url.is_none() {
            if let Some(branch) = &row.branch {
                let commits = self
                    .worktrees
                    .commits_ahead(&c.repo, branch)
                    .await
                    .unwrap_or(0);
                if commits > 0 {
                    let pushed = async {
                        self.worktrees.push(&c.repo, branch).await?;
                        if run.status == RunStatus::Completed {
                            open_pr(&c, &run, branch, number, &link).await.map(Some)
                        } else {
                            Ok(None)
                        }
                    }
                    .await;
                    match pushed {
                        Ok(Some(url)) => {
                            // Recorded at once: a retry must not open a second one.
                            wf_store::set_run_reported(&self.db, run_id, 1, Some(&url), None)
                                .await?;
                            pr_url = Some(url);
                        }
                        Ok(None) => {
                            branch_note = Some(format!("{commits} commit(s) were pushed to `{branch}`; no pull request was opened because the run did not complete."));
                        }
                        // Tried once more on the next sweep, then reported as is.
                        Err(e) if row.github_error.is_none() => return Err(e),
                        Err(e) => {
                            branch_note = Some(format!(
                            "{commits} commit(s) on `{branch}` could not be pushed or proposed: {e}"
                        ));
                        }
                    }
                }
            }
        }
        let status = match run.status {
            RunStatus::Completed => "completed ✅",
            RunStatus::Failed => "failed ❌",
            RunStatus::Cancelled => "was cancelled",
            RunStatus::Rejected => "was rejected at an approval gate",
            _ => "ended",
        };
        let mut body = format!("Yagura's workflow **{}** {status}.\n\n", run.workflow_name);
        if let Some(error) = &run.error {
            body.push_str(&format!(
                "> {}\n\n",
                error.lines().next().unwrap_or_default()
            ));
        }
        body.push_str("| Step | Status | Result |\n|---|---|---|\n");
        for step in &run.steps {
            let result = step
                .result
                .as_ref()
                .map(summary)
                .or_else(|| step.error.clone())
                .unwrap_or_default();
            body.push_str(&format!(
                "| {} | {} | {} |\n",
                step.key,
                step.status.as_str(),
                result.replace('|', "\\|").replace('\n', " ")
            ));
        }
        if let Some(url) = &pr_url {
            body.push_str(&format!("\nPull request: {url}\n"));
        }
        if let Some(note) = branch_note {
            body.push_str(&format!("\n{note}\n"));
        }
        body.push_str(&format!("\nRun: {link}\n"));
        comment(&c, number, &body).await?;
        wf_store::set_run_reported(&self.db, run_id, 2, pr_url.as_deref(), None).await?;
        let end_label = if run.status == RunStatus::Completed {
            labels.done
        } else {
            labels.failed
        };
        // Labels are a courtesy: a failure is logged, not retried (the comment
        // says what happened).
        if let Err(e) = remove_label(&c, number, &labels.in_progress).await {
            tracing::warn!(run = run_id, error = %e, "cannot remove the in-progress label");
        }
        if let Err(e) = add_labels(&c, number, &[end_label]).await {
            tracing::warn!(run = run_id, error = %e, "cannot set the end label");
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct Created {
    html_url: String,
}

/// A pull request an agent reported in its result (`pullRequest`,
/// `pull_request`, `prUrl` or `pr_url`, a URL).
fn reported_pr(run: &WorkflowRun) -> Option<String> {
    run.steps
        .iter()
        .filter(|s| s.status == StepStatus::Completed)
        .filter_map(|s| s.result.as_ref())
        .rev()
        .find_map(|r| {
            ["pullRequest", "pull_request", "prUrl", "pr_url"]
                .iter()
                .find_map(|k| {
                    r.get(k)
                        .and_then(|v| v.as_str().or_else(|| v.get("url").and_then(|u| u.as_str())))
                })
                .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
                .map(str::to_string)
        })
}

fn summary(result: &serde_json::Value) -> String {
    let text = match result.get("summary").and_then(|s| s.as_str()) {
        Some(s) => s.to_string(),
        None => result.to_string(),
    };
    text.chars().take(200).collect()
}

async fn comment(c: &Connected, number: i64, body: &str) -> anyhow::Result<()> {
    let route = format!("/repos/{}/{}/issues/{number}/comments", c.owner, c.name);
    c.client
        .post::<_, serde_json::Value>(route, Some(&json!({ "body": body })))
        .await
        .map_err(|e| anyhow::anyhow!("commenting: {}", describe(&e)))?;
    Ok(())
}

async fn add_labels(c: &Connected, number: i64, labels: &[String]) -> anyhow::Result<()> {
    let route = format!("/repos/{}/{}/issues/{number}/labels", c.owner, c.name);
    c.client
        .post::<_, serde_json::Value>(route, Some(&json!({ "labels": labels })))
        .await
        .map_err(|e| anyhow::anyhow!("labelling: {}", describe(&e)))?;
    Ok(())
}

async fn remove_label(c: &Connected, number: i64, label: &str) -> anyhow::Result<()> {
    let route = format!(
        "/repos/{}/{}/issues/{number}/labels/{}",
        c.owner,
        c.name,
        percent_encode(label)
    );
    let response = c
        .client
        ._delete(format!("{}{route}", c.api_url).as_str(), None::<&()>)
        .await
        .map_err(|e| anyhow::anyhow!("removing a label: {}", describe(&e)))?;
    // 404: the label was not there (someone removed it); that is fine.
    if !response.status().is_success() && response.status() != http::StatusCode::NOT_FOUND {
        octocrab::map_github_error(response)
            .await
            .map_err(|e| anyhow::anyhow!("removing a label: {}", describe(&e)))?;
    }
    Ok(())
}

async fn open_pr(
    c: &Connected,
    run: &WorkflowRun,
    branch: &str,
    number: i64,
    link: &str,
) -> anyhow::Result<String> {
    let title = match &run.issue {
        Some(issue) => format!("{}: {}", run.workflow_name, issue.title),
        None => run.workflow_name.clone(),
    };
    let body = format!(
        "Made by Yagura's workflow **{}** for #{number}.\n\nCloses #{number}\n\nRun: {link}",
        run.workflow_name
    );
    create_pull(c, branch, &title, &body).await
}

/// Opens a pull request from `branch` into the default branch, or finds
/// the open one GitHub says the branch has already.
pub(super) async fn create_pull(
    c: &Connected,
    branch: &str,
    title: &str,
    body: &str,
) -> anyhow::Result<String> {
    let base = c
        .repo
        .default_branch
        .clone()
        .unwrap_or_else(|| "main".into());
    let route = format!("/repos/{}/{}/pulls", c.owner, c.name);
    match c
        .client
        .post::<_, Created>(
            route,
            Some(&json!({ "title": title, "head": branch, "base": base, "body": body })),
        )
        .await
    {
        Ok(pr) => Ok(pr.html_url),
        Err(octocrab::Error::GitHub { source, .. }) if source.status_code.as_u16() == 422 => {
            // Probably one exists for this branch already: use it.
            let existing: Vec<Created> = c
                .client
                .get(
                    format!("/repos/{}/{}/pulls", c.owner, c.name),
                    Some(&[
                        ("head", format!("{}:{branch}", c.owner)),
                        ("state", "open".into()),
                    ]),
                )
                .await
                .map_err(|e| anyhow::anyhow!("finding the pull request: {}", describe(&e)))?;
            existing
                .into_iter()
                .next()
                .map(|p| p.html_url)
                .ok_or_else(|| {
                    anyhow::anyhow!("GitHub refused the pull request: {}", source.message)
                })
        }
        Err(e) => Err(anyhow::anyhow!(
            "opening the pull request: {}",
            describe(&e)
        )),
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

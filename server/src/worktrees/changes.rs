//! A run's changes as the review page shows them, and discarding them.
//!
//! An execution's work is its branch from the commit it started at; a
//! workflow run's is the branch its steps' commits were collected on,
//! compared with the repository's base branch.

use app::model::{Changes, ChangesOf, ChangesState, RunStatus, FILES_PER_PAGE};

use super::{diff, git::git, Worktrees};
use crate::db::{issues as issue_store, repositories as repos, work, workflows as wf_store};

/// Why changes cannot be shown or discarded, as the API says it.
#[derive(Debug)]
pub enum ChangesError {
    NotFound,
    Conflict(String),
    /// GitHub refused or failed (a push, a pull request).
    Upstream(String),
    Failed(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for ChangesError {
    fn from(e: E) -> Self {
        ChangesError::Failed(e.into())
    }
}

fn nothing() -> Changes {
    Changes {
        state: ChangesState::None,
        repository: None,
        branch: None,
        base: None,
        commits: Vec::new(),
        files: Vec::new(),
        additions: 0,
        deletions: 0,
        page: 1,
        pages: 1,
        diffs: Vec::new(),
        pr_url: None,
        can_discard: false,
        can_open_pr: false,
        workflow_run_id: None,
    }
}

/// What "Open pull request" needs to know of a run.
pub struct Proposal {
    pub repo: repos::RepositoryRow,
    pub branch: String,
    pub ended: bool,
    pub pr_url: Option<String>,
    /// "agent" or "workflow".
    pub kind: &'static str,
    /// The agent's or the workflow's name.
    pub name: String,
    /// The pull request's title.
    pub title: String,
    /// The issue's number, when the issue lives on GitHub.
    pub github_issue: Option<i64>,
}

/// A pull request's title: `name: what`, at most 120 characters.
fn title(name: &str, what: &str) -> String {
    let what = what.lines().map(str::trim).find(|l| !l.is_empty());
    let text = match what {
        Some(w) => format!("{name}: {w}"),
        None => name.to_string(),
    };
    if text.chars().count() > 120 {
        let cut: String = text.chars().take(119).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// Where a run's work is: the checkout, what to compare, who may drop it.
struct Work {
    repo: repos::RepositoryRow,
    branch: String,
    base: String,
    ended: bool,
    pr_url: Option<String>,
    /// An execution's worktree, kept when its repository keeps them.
    worktree: Option<String>,
    /// An execution that is a workflow's step (its run proposes its work).
    step: bool,
}

impl Worktrees {
    /// The base a branch of `repo` is compared with.
    pub(super) fn base_of(repo: &repos::RepositoryRow) -> String {
        match &repo.default_branch {
            Some(b) if repo.local_path.is_none() => format!("origin/{b}"),
            Some(b) => b.clone(),
            None => "HEAD".into(),
        }
    }

    async fn branch_exists(&self, repo: &repos::RepositoryRow, branch: &str) -> bool {
        let Some(main) = self.main_of(repo) else {
            return false;
        };
        git(
            &main,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("refs/heads/{branch}"),
            ],
            None,
        )
        .await
        .is_ok()
    }

    async fn execution_work(
        &self,
        id: &str,
    ) -> Result<(Option<Work>, Option<String>), ChangesError> {
        let row = work::of_execution(&self.inner.db, id)
            .await?
            .ok_or(ChangesError::NotFound)?;
        self.execution_work_of(row).await
    }

    async fn execution_work_of(
        &self,
        row: work::ExecutionWork,
    ) -> Result<(Option<Work>, Option<String>), ChangesError> {
        let (Some(repo_id), Some(branch), Some(base)) =
            (row.repository_id, row.branch, row.base_commit)
        else {
            return Ok((None, row.workflow_run_id));
        };
        let Some(repo) = repos::find(&self.inner.db, &repo_id).await? else {
            return Ok((None, row.workflow_run_id));
        };
        Ok((
            Some(Work {
                repo,
                branch,
                base,
                ended: row.status.is_terminal(),
                pr_url: row.pr_url,
                worktree: row.worktree,
                step: row.workflow_run_id.is_some(),
            }),
            row.workflow_run_id,
        ))
    }

    async fn run_work(&self, run_id: &str) -> Result<Option<Work>, ChangesError> {
        let run = wf_store::find_run(&self.inner.db, run_id)
            .await?
            .ok_or(ChangesError::NotFound)?;
        let (Some(repo_id), Some(branch)) = (run.issue_repository_id, run.branch) else {
            return Ok(None);
        };
        let Some(repo) = repos::find(&self.inner.db, &repo_id).await? else {
            return Ok(None);
        };
        Ok(Some(Work {
            base: Self::base_of(&repo),
            repo,
            branch,
            ended: !matches!(run.status, RunStatus::Running | RunStatus::WaitingApproval),
            pr_url: run.pr_url,
            worktree: None,
            step: false,
        }))
    }

    async fn changes(&self, work: Option<Work>, page: u32) -> Result<Changes, ChangesError> {
        let Some(work) = work else {
            return Ok(nothing());
        };
        let mut out = nothing();
        out.repository = Some(work.repo.name.clone());
        out.branch = Some(work.branch.clone());
        out.base = Some(work.base.clone());
        out.pr_url = work.pr_url.clone();
        let Some(main) = self.main_of(&work.repo) else {
            return Ok(out);
        };
        if !self.branch_exists(&work.repo, &work.branch).await {
            out.state = ChangesState::Gone;
            return Ok(out);
        }
        // Both ends read once: a run still committing cannot make the
        // lists below disagree.
        let resolve = |name: String| {
            let main = main.clone();
            async move {
                git(
                    &main,
                    &[
                        "rev-parse",
                        "--verify",
                        "--end-of-options",
                        &format!("{name}^{{commit}}"),
                    ],
                    None,
                )
                .await
            }
        };
        let head = resolve(format!("refs/heads/{}", work.branch)).await?;
        let Ok(base) = resolve(work.base.clone()).await else {
            // No base to compare with (a repository without commits).
            return Ok(out);
        };
        out.commits = diff::commits(&main, &base, &head).await?;
        out.files = diff::files(&main, &base, &head).await?;
        out.state = if out.commits.is_empty() && out.files.is_empty() {
            ChangesState::None
        } else {
            ChangesState::Ready
        };
        out.additions = out.files.iter().map(|f| f.additions).sum();
        out.deletions = out.files.iter().map(|f| f.deletions).sum();
        out.pages = out.files.len().div_ceil(FILES_PER_PAGE).max(1) as u32;
        out.page = page.clamp(1, out.pages);
        let first = (out.page as usize - 1) * FILES_PER_PAGE;
        for file in out.files.iter().skip(first).take(FILES_PER_PAGE) {
            out.diffs
                .push(diff::file_diff(&main, &base, &head, file).await?);
        }
        out.can_discard = work.ended && work.pr_url.is_none();
        out.can_open_pr = work.ended
            && work.pr_url.is_none()
            && !work.step
            && !out.commits.is_empty()
            && work.repo.connected()
            && work.repo.github.is_some();
        Ok(out)
    }

    /// A run's branch, for "Open pull request" (refused when the branch is
    /// gone).
    pub async fn proposal(&self, of: &ChangesOf) -> Result<Proposal, ChangesError> {
        let p = self.proposal_of(of).await?;
        if !self.branch_exists(&p.repo, &p.branch).await {
            return Err(ChangesError::Conflict(
                "the run left no branch to propose: it committed nothing, or the branch was discarded".into(),
            ));
        }
        Ok(p)
    }

    async fn proposal_of(&self, of: &ChangesOf) -> Result<Proposal, ChangesError> {
        let none = || ChangesError::Conflict("this run has no branch to propose".into());
        match of {
            ChangesOf::Execution(id) => {
                let row = work::of_execution(&self.inner.db, &id.to_string())
                    .await?
                    .ok_or(ChangesError::NotFound)?;
                if row.workflow_run_id.is_some() {
                    return Err(ChangesError::Conflict(
                        "this agent run is a workflow's step: open the pull request from the workflow run's changes".into(),
                    ));
                }
                let name = row.agent_name.clone();
                let what = row
                    .issue_title
                    .clone()
                    .unwrap_or_else(|| row.prompt.clone());
                let github_issue = row.issue_html_url.as_ref().and(row.issue_number);
                let work = self.execution_work_of(row).await?.0.ok_or_else(none)?;
                Ok(Proposal {
                    title: title(&name, &what),
                    repo: work.repo,
                    branch: work.branch,
                    ended: work.ended,
                    pr_url: work.pr_url,
                    kind: "agent",
                    name,
                    github_issue,
                })
            }
            ChangesOf::Run(id) => {
                let id = id.to_string();
                let run = wf_store::find_run(&self.inner.db, &id)
                    .await?
                    .ok_or(ChangesError::NotFound)?;
                let github_issue = match &run.issue_id {
                    Some(issue) => issue_store::issue_html_url(&self.inner.db, issue)
                        .await?
                        .and(run.issue_number),
                    None => None,
                };
                let name = run.workflow_name.clone();
                let what = run.issue_title.clone().unwrap_or_default();
                let work = self.run_work(&id).await?.ok_or_else(none)?;
                Ok(Proposal {
                    title: title(&name, &what),
                    repo: work.repo,
                    branch: work.branch,
                    ended: work.ended,
                    pr_url: work.pr_url,
                    kind: "workflow",
                    name,
                    github_issue,
                })
            }
        }
    }

    /// An execution's changes (`page` of the diffs, from 1).
    pub async fn changes_of_execution(&self, id: &str, page: u32) -> Result<Changes, ChangesError> {
        let (work, run) = self.execution_work(id).await?;
        let mut out = self.changes(work, page).await?;
        out.workflow_run_id = run.and_then(|r| r.parse().ok());
        Ok(out)
    }

    /// A workflow run's changes.
    pub async fn changes_of_run(&self, run_id: &str, page: u32) -> Result<Changes, ChangesError> {
        let work = self.run_work(run_id).await?;
        self.changes(work, page).await
    }

    /// Deletes an ended execution's branch (and its kept worktree).
    pub async fn discard_execution(&self, id: &str) -> Result<(), ChangesError> {
        let (work, _) = self.execution_work(id).await?;
        self.discard(work).await
    }

    /// Deletes an ended workflow run's branch.
    pub async fn discard_run(&self, run_id: &str) -> Result<(), ChangesError> {
        let work = self.run_work(run_id).await?;
        self.discard(work).await
    }

    async fn discard(&self, work: Option<Work>) -> Result<(), ChangesError> {
        let Some(work) = work else {
            return Err(ChangesError::Conflict(
                "there are no changes to discard".into(),
            ));
        };
        if !work.ended {
            return Err(ChangesError::Conflict(
                "the run is still going: cancel it first".into(),
            ));
        }
        if work.pr_url.is_some() {
            return Err(ChangesError::Conflict(
                "a pull request was opened from this branch: close it on GitHub instead".into(),
            ));
        }
        let Some(main) = self.main_of(&work.repo) else {
            return Err(ChangesError::Conflict(
                "the repository has no checkout".into(),
            ));
        };
        let lock = self.lock_of(&work.repo.id);
        let _guard = lock.lock().await;
        // Only a worktree of ours, under the work directory.
        if let Some(path) = work.worktree.as_deref().filter(|p| {
            let p = std::path::Path::new(p);
            p.starts_with(&self.inner.work_root) && p.exists()
        }) {
            git(&main, &["worktree", "remove", "--force", path], None).await?;
        }
        let head = format!("refs/heads/{}", work.branch);
        if git(&main, &["rev-parse", "--verify", "--quiet", &head], None)
            .await
            .is_err()
        {
            return Err(ChangesError::Conflict("the branch is gone already".into()));
        }
        git(&main, &["update-ref", "-d", &head], None)
            .await
            .map_err(|e| ChangesError::Conflict(format!("the branch could not be deleted: {e}")))?;
        self.forget_disk(&work.repo.id);
        tracing::info!(branch = %work.branch, repository = %work.repo.name, "changes discarded");
        Ok(())
    }
}

//! "Open pull request" from the Changes page: a person proposes an ended
//! run's branch (an agent run's, or a workflow run's that got no pull
//! request at its end) to the repository's GitHub twin. The branch is
//! pushed, the pull request opened (or the open one for the branch
//! found), and its address kept on the run, so it is opened once.

use app::model::ChangesOf;

use super::{report::create_pull, GitHub};
use crate::db::{work, workflows as wf_store};
use crate::worktrees::{changes::ChangesError, Worktrees};

impl GitHub {
    /// Pushes the run's branch and opens a pull request from it; answers
    /// its address.
    pub async fn propose(
        &self,
        worktrees: &Worktrees,
        of: ChangesOf,
    ) -> Result<String, ChangesError> {
        let p = worktrees.proposal(&of).await?;
        if !p.ended {
            return Err(ChangesError::Conflict(
                "the run is still going: propose its changes when it ends".into(),
            ));
        }
        if let Some(url) = p.pr_url {
            return Err(ChangesError::Conflict(format!(
                "a pull request was opened from this branch already: {url}"
            )));
        }
        let Some(c) = self.connected(&p.repo.id).await? else {
            return Err(ChangesError::Conflict(
                "the repository is not connected to GitHub: connect it in Settings first".into(),
            ));
        };
        let ahead = worktrees.commits_ahead(&c.repo, &p.branch).await?;
        if ahead == 0 {
            return Err(ChangesError::Conflict(
                "the branch has no commits beyond the base branch: there is nothing to propose"
                    .into(),
            ));
        }
        worktrees
            .push(&c.repo, &p.branch)
            .await
            .map_err(|e| ChangesError::Upstream(format!("the branch could not be pushed: {e}")))?;
        let link = format!("{}{}", self.public_url().await, of.run_href());
        let mut body = format!("Made by Yagura's {} **{}**", p.kind, p.name);
        if let Some(n) = p.github_issue {
            body.push_str(&format!(" for #{n}.\n\nCloses #{n}"));
        } else {
            body.push('.');
        }
        body.push_str(&format!("\n\nRun: {link}"));
        let url = create_pull(&c, &p.branch, &p.title, &body)
            .await
            .map_err(|e| ChangesError::Upstream(e.to_string()))?;
        match of {
            ChangesOf::Execution(id) => {
                work::set_pr_url(&self.inner.db, &id.to_string(), &url).await?
            }
            ChangesOf::Run(id) => {
                wf_store::set_run_pr_url(&self.inner.db, &id.to_string(), &url).await?
            }
        }
        tracing::info!(branch = %p.branch, pull_request = %url, "pull request opened from the Changes page");
        Ok(url)
    }
}

//! Where an execution's work is: its repository, branch, the commit it
//! started from and its worktree (set by `worktrees::prepare`).

use app::model::ExecutionStatus;
use sqlx::FromRow;

use super::Db;

#[derive(Debug, Clone, FromRow)]
pub struct ExecutionWork {
    pub status: ExecutionStatus,
    pub repository_id: Option<String>,
    pub branch: Option<String>,
    pub base_commit: Option<String>,
    pub worktree: Option<String>,
    pub workflow_run_id: Option<String>,
    pub pr_url: Option<String>,
    pub agent_name: String,
    pub prompt: String,
    pub issue_number: Option<i64>,
    pub issue_title: Option<String>,
    /// The issue on GitHub, when it is mirrored from there.
    pub issue_html_url: Option<String>,
}

pub async fn of_execution(db: &Db, id: &str) -> sqlx::Result<Option<ExecutionWork>> {
    crate::on_db!(db, db => {
        sqlx::query_as(
            "SELECT e.status, e.repository_id, e.branch, e.base_commit, e.worktree, e.workflow_run_id, \
             e.pr_url, e.agent_name, e.prompt, i.number AS issue_number, i.title AS issue_title, \
             i.html_url AS issue_html_url \
             FROM executions e LEFT JOIN issues i ON i.id = e.issue_id WHERE e.id = $1",
        )
        .bind(id)
        .fetch_optional(db)
        .await
    })
}

/// Records the pull request opened from an execution's branch (once).
pub async fn set_pr_url(db: &Db, id: &str, url: &str) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query("UPDATE executions SET pr_url = $2 WHERE id = $1 AND pr_url IS NULL")
            .bind(id)
            .bind(url)
            .execute(db)
            .await?;
        Ok(())
    })
}

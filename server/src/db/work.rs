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
}

pub async fn of_execution(db: &Db, id: &str) -> sqlx::Result<Option<ExecutionWork>> {
    sqlx::query_as(
        "SELECT status, repository_id, branch, base_commit, worktree, workflow_run_id \
         FROM executions WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

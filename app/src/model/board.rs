//! The issue board: each issue in the column its state and its latest run
//! put it in. The server sorts the cards; the page draws them and moves
//! them (starting a workflow, closing or reopening the issue).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{
    Execution, ExecutionStatus, Issue, IssueState, RepositoryId, RunStatus, WorkflowId,
    WorkflowRunSummary,
};

/// Open issues the board holds at most (the most recently updated).
pub const BOARD_OPEN_LIMIT: u32 = 300;
/// Closed issues the "Done" column holds at most, updated within
/// [`BOARD_DONE_DAYS`].
pub const BOARD_DONE_LIMIT: u32 = 50;
pub const BOARD_DONE_DAYS: i64 = 14;

/// The board's columns, left to right.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BoardColumn {
    /// Open, and nothing runs on it (or its last run failed or was stopped).
    Todo,
    /// A run on it is queued or running.
    InProgress,
    /// A person is needed: a run waits for approval or was paused, or a
    /// run completed and its work (a pull request, a branch) awaits review.
    Waiting,
    /// Closed.
    Done,
}

impl BoardColumn {
    pub const ALL: [BoardColumn; 4] = [
        BoardColumn::Todo,
        BoardColumn::InProgress,
        BoardColumn::Waiting,
        BoardColumn::Done,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            BoardColumn::Todo => "todo",
            BoardColumn::InProgress => "in_progress",
            BoardColumn::Waiting => "waiting",
            BoardColumn::Done => "done",
        }
    }

    pub const fn title(self) -> &'static str {
        match self {
            BoardColumn::Todo => "To do",
            BoardColumn::InProgress => "In progress",
            BoardColumn::Waiting => "Approval or review",
            BoardColumn::Done => "Done",
        }
    }

    pub fn parse(s: &str) -> Option<BoardColumn> {
        BoardColumn::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// What a card may be moved to by a person, from `from`; `None` when the
/// runs decide (a card goes to "In progress" by starting a workflow, and
/// leaves it when the run ends).
pub fn board_move(from: BoardColumn, to: BoardColumn) -> Option<BoardMove> {
    use BoardColumn::*;
    match (from, to) {
        (Todo, InProgress) => Some(BoardMove::StartWorkflow),
        (Todo | InProgress | Waiting, Done) => Some(BoardMove::Close),
        (Done, Todo) => Some(BoardMove::Reopen),
        _ => None,
    }
}

/// What moving a card does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoardMove {
    /// Asks which workflow, confirms, and starts it on the issue.
    StartWorkflow,
    /// Closes the issue (a run on it goes on).
    Close,
    /// Reopens the issue.
    Reopen,
}

/// The newest thing that ran on an issue: a workflow run, or an agent run
/// started on the issue by itself (a workflow's steps count as their run).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LatestRun {
    Workflow(WorkflowRunSummary),
    Agent(Box<Execution>),
}

impl LatestRun {
    pub fn at(&self) -> i64 {
        match self {
            LatestRun::Workflow(r) => r.created_at,
            LatestRun::Agent(e) => e.created_at,
        }
    }

    pub fn href(&self) -> String {
        match self {
            LatestRun::Workflow(r) => format!("/workflow-runs/{}", r.id),
            LatestRun::Agent(e) => format!("/executions/{}", e.id),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            LatestRun::Workflow(r) => &r.workflow_name,
            LatestRun::Agent(e) => &e.agent_name,
        }
    }

    /// The newer of an issue's latest workflow run and latest agent run.
    pub fn newest(
        workflow: Option<WorkflowRunSummary>,
        agent: Option<Execution>,
    ) -> Option<LatestRun> {
        match (workflow, agent) {
            (Some(w), Some(a)) if a.created_at > w.created_at => {
                Some(LatestRun::Agent(Box::new(a)))
            }
            (Some(w), _) => Some(LatestRun::Workflow(w)),
            (None, Some(a)) => Some(LatestRun::Agent(Box::new(a))),
            (None, None) => None,
        }
    }
}

/// The column an issue is in.
pub fn board_column(issue: &Issue, latest: Option<&LatestRun>) -> BoardColumn {
    if issue.state == IssueState::Closed {
        return BoardColumn::Done;
    }
    match latest {
        None => BoardColumn::Todo,
        Some(LatestRun::Workflow(r)) => match r.status {
            RunStatus::Running => BoardColumn::InProgress,
            RunStatus::WaitingApproval | RunStatus::Completed => BoardColumn::Waiting,
            RunStatus::Failed | RunStatus::Cancelled | RunStatus::Rejected => BoardColumn::Todo,
        },
        Some(LatestRun::Agent(e)) => match e.status {
            ExecutionStatus::Queued | ExecutionStatus::Running => BoardColumn::InProgress,
            ExecutionStatus::Paused | ExecutionStatus::Completed => BoardColumn::Waiting,
            ExecutionStatus::Failed | ExecutionStatus::Cancelled | ExecutionStatus::TimedOut => {
                BoardColumn::Todo
            }
        },
    }
}

/// One issue on the board.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BoardCard {
    pub issue: Issue,
    pub column: BoardColumn,
    pub latest_run: Option<LatestRun>,
}

impl BoardCard {
    pub fn new(issue: Issue, latest_run: Option<LatestRun>) -> BoardCard {
        BoardCard {
            column: board_column(&issue, latest_run.as_ref()),
            issue,
            latest_run,
        }
    }

    /// The pull request opened from the latest run's branch, if one was.
    pub fn pr_url(&self) -> Option<&str> {
        match &self.latest_run {
            Some(LatestRun::Workflow(r)) => r.pr_url.as_deref(),
            Some(LatestRun::Agent(e)) => e.pr_url.as_deref(),
            None => None,
        }
    }
}

/// The board: its cards, most recently updated first within a column.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Board {
    pub cards: Vec<BoardCard>,
    /// Open issues matching that the board leaves out (past
    /// [`BOARD_OPEN_LIMIT`]); the issue list has them all.
    pub open_not_shown: u64,
}

impl Board {
    pub fn column(&self, column: BoardColumn) -> impl Iterator<Item = &BoardCard> {
        self.cards.iter().filter(move |c| c.column == column)
    }

    /// The workflow each repository's issues were last run through (the
    /// board asks with it chosen when a card is moved to "In progress").
    pub fn usual_workflows(&self) -> HashMap<RepositoryId, WorkflowId> {
        let mut latest: HashMap<RepositoryId, (i64, WorkflowId)> = HashMap::new();
        for card in &self.cards {
            let Some(LatestRun::Workflow(r)) = &card.latest_run else {
                continue;
            };
            let Some(w) = r.workflow_id else { continue };
            let seen = latest
                .entry(card.issue.repository_id)
                .or_insert((r.created_at, w));
            if r.created_at > seen.0 {
                *seen = (r.created_at, w);
            }
        }
        latest.into_iter().map(|(repo, (_, w))| (repo, w)).collect()
    }
}

/// Which issues the board shows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BoardQuery {
    #[serde(default)]
    pub repository_id: Option<RepositoryId>,
    /// Exact label, ignoring case.
    #[serde(default)]
    pub label: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{IssueId, WorkflowRunId};
    use std::sync::atomic::{AtomicU64, Ordering};
    use uuid::Uuid;

    fn uuid() -> Uuid {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Uuid::from_u128(u128::from(NEXT.fetch_add(1, Ordering::Relaxed)))
    }

    fn issue(state: IssueState) -> Issue {
        Issue {
            id: IssueId(uuid()),
            repository_id: RepositoryId(uuid()),
            repository_name: "r".into(),
            number: 1,
            title: "t".into(),
            body: String::new(),
            body_html: String::new(),
            state,
            labels: vec![],
            assignee: None,
            created_by: None,
            created_at: 0,
            updated_at: 0,
            html_url: None,
        }
    }

    fn run(status: RunStatus, at: i64) -> WorkflowRunSummary {
        WorkflowRunSummary {
            id: WorkflowRunId(uuid()),
            workflow_id: Some(WorkflowId(uuid())),
            workflow_name: "w".into(),
            issue: None,
            status,
            created_by: None,
            created_at: at,
            finished_at: None,
            steps_done: 0,
            steps_total: 1,
            pr_url: None,
        }
    }

    fn execution(status: ExecutionStatus, at: i64) -> Execution {
        let mut e: Execution = serde_json::from_value(serde_json::json!({
            "id": uuid(), "agentId": null, "agentName": "a", "agentType": "Custom",
            "prompt": "", "argv": [], "status": "queued", "createdAt": at, "progress": 0,
            "lastSeq": 0,
        }))
        .unwrap_or_else(|e| panic!("an execution: {e}"));
        e.status = status;
        e
    }

    #[test]
    fn columns_follow_the_issue_and_its_latest_run() {
        let open = issue(IssueState::Open);
        assert_eq!(board_column(&open, None), BoardColumn::Todo);
        let col = |s| board_column(&open, Some(&LatestRun::Workflow(run(s, 1))));
        assert_eq!(col(RunStatus::Running), BoardColumn::InProgress);
        assert_eq!(col(RunStatus::WaitingApproval), BoardColumn::Waiting);
        assert_eq!(col(RunStatus::Completed), BoardColumn::Waiting);
        assert_eq!(col(RunStatus::Failed), BoardColumn::Todo);
        assert_eq!(col(RunStatus::Rejected), BoardColumn::Todo);
        let col = |s| board_column(&open, Some(&LatestRun::Agent(Box::new(execution(s, 1)))));
        assert_eq!(col(ExecutionStatus::Queued), BoardColumn::InProgress);
        assert_eq!(col(ExecutionStatus::Paused), BoardColumn::Waiting);
        assert_eq!(col(ExecutionStatus::TimedOut), BoardColumn::Todo);
        // Closed is done, whatever runs.
        let closed = issue(IssueState::Closed);
        let running = LatestRun::Workflow(run(RunStatus::Running, 1));
        assert_eq!(board_column(&closed, Some(&running)), BoardColumn::Done);
    }

    #[test]
    fn the_newer_run_is_the_latest() {
        let w = run(RunStatus::Completed, 10);
        let a = execution(ExecutionStatus::Running, 20);
        let latest = LatestRun::newest(Some(w.clone()), Some(a.clone()));
        assert!(matches!(latest, Some(LatestRun::Agent(_))));
        let a = execution(ExecutionStatus::Running, 5);
        let latest = LatestRun::newest(Some(w), Some(a));
        assert!(matches!(latest, Some(LatestRun::Workflow(_))));
        assert_eq!(LatestRun::newest(None, None), None);
    }

    #[test]
    fn people_move_cards_only_where_a_move_means_something() {
        use BoardColumn::*;
        assert_eq!(board_move(Todo, InProgress), Some(BoardMove::StartWorkflow));
        assert_eq!(board_move(Waiting, Done), Some(BoardMove::Close));
        assert_eq!(board_move(Done, Todo), Some(BoardMove::Reopen));
        assert_eq!(board_move(InProgress, Todo), None);
        assert_eq!(board_move(Todo, Waiting), None);
        assert_eq!(board_move(Done, InProgress), None);
        assert_eq!(board_move(Todo, Todo), None);
    }

    #[test]
    fn the_usual_workflow_is_the_one_run_last_in_that_repository() {
        let i = issue(IssueState::Open);
        let repo = i.repository_id;
        let old = run(RunStatus::Completed, 10);
        let new = run(RunStatus::Failed, 20);
        let board = Board {
            cards: vec![
                BoardCard::new(i.clone(), Some(LatestRun::Workflow(old))),
                BoardCard::new(i.clone(), Some(LatestRun::Workflow(new.clone()))),
                BoardCard::new(
                    issue(IssueState::Open),
                    Some(LatestRun::Workflow(run(RunStatus::Running, 30))),
                ),
            ],
            open_not_shown: 0,
        };
        let usual = board.usual_workflows();
        assert_eq!(usual.get(&repo).copied(), new.workflow_id);
        assert_eq!(usual.get(&RepositoryId(uuid())), None);
        assert_eq!(board.column(BoardColumn::Waiting).count(), 1);
    }
}

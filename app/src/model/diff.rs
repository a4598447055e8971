//! The agent's work before it becomes a pull request: the commits on a
//! run's branch, the files they change with +/− counts, and a page of
//! unified diffs, highlighted on the server.

use serde::{Deserialize, Serialize};

/// How a file changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    Added,
    Modified,
    Deleted,
    Renamed,
    Copied,
    /// Type changed (a file became a link…).
    Changed,
}

impl FileStatus {
    pub fn from_git(letter: &str) -> FileStatus {
        match letter.chars().next() {
            Some('A') => FileStatus::Added,
            Some('D') => FileStatus::Deleted,
            Some('R') => FileStatus::Renamed,
            Some('C') => FileStatus::Copied,
            Some('T') => FileStatus::Changed,
            _ => FileStatus::Modified,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FileStatus::Added => "added",
            FileStatus::Modified => "modified",
            FileStatus::Deleted => "deleted",
            FileStatus::Renamed => "renamed",
            FileStatus::Copied => "copied",
            FileStatus::Changed => "changed",
        }
    }
}

/// One file the branch changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ChangedFile {
    pub path: String,
    /// Where a renamed or copied file came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_path: Option<String>,
    pub status: FileStatus,
    pub additions: u32,
    pub deletions: u32,
    pub binary: bool,
}

/// What a line of a diff is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum LineKind {
    Context,
    Added,
    Removed,
    /// `\ No newline at end of file`.
    Note,
}

/// One line of a hunk; `html` is its text, escaped and highlighted by the
/// server (spans with `hl-` classes only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DiffLine {
    pub kind: LineKind,
    pub old: Option<u32>,
    pub new: Option<u32>,
    pub html: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Hunk {
    /// `@@ -1,4 +1,6 @@ fn main()`.
    pub header: String,
    pub lines: Vec<DiffLine>,
}

/// One file's diff.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FileDiff {
    pub path: String,
    pub hunks: Vec<Hunk>,
    /// Lines left out: the file's diff is longer than a page shows.
    pub omitted: u32,
}

/// A commit on the branch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Commit {
    pub sha: String,
    pub subject: String,
    pub author: String,
    /// Unix time in milliseconds.
    pub at: i64,
}

/// Where the work is, and what of it there is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum ChangesState {
    /// On the branch, compared with `base`.
    Ready,
    /// The run worked in no repository, or committed nothing.
    None,
    /// The branch was deleted (discarded, or a workflow step's commits were
    /// collected on its run's branch).
    Gone,
}

/// A run's changes, one page of diffs at a time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Changes {
    pub state: ChangesState,
    pub repository: Option<String>,
    pub branch: Option<String>,
    /// What the branch is compared with (a branch name or a commit).
    pub base: Option<String>,
    /// Newest first (at most 100).
    pub commits: Vec<Commit>,
    pub files: Vec<ChangedFile>,
    pub additions: u32,
    pub deletions: u32,
    /// 1-based; `pages` of [`FILES_PER_PAGE`] files.
    pub page: u32,
    pub pages: u32,
    /// The diffs of this page's files.
    pub diffs: Vec<FileDiff>,
    /// The pull request opened from the branch, if one was.
    pub pr_url: Option<String>,
    /// Whether the branch may be discarded now (the run ended and no pull
    /// request was opened from it).
    pub can_discard: bool,
    /// Whether a pull request may be opened from the branch now (the run
    /// ended with commits, none was opened, the repository is connected to
    /// GitHub, and it is not a workflow's step).
    #[serde(default)]
    pub can_open_pr: bool,
    /// For a workflow step: the run its commits were collected on.
    pub workflow_run_id: Option<super::WorkflowRunId>,
}

/// Whose changes: an execution's branch, or a workflow run's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", tag = "kind", content = "id")]
pub enum ChangesOf {
    Execution(super::ExecutionId),
    Run(super::WorkflowRunId),
}

impl ChangesOf {
    /// The page that shows them.
    pub fn href(&self, page: u32) -> String {
        let base = match self {
            ChangesOf::Execution(id) => format!("/executions/{id}/changes"),
            ChangesOf::Run(id) => format!("/workflow-runs/{id}/changes"),
        };
        if page > 1 {
            format!("{base}?page={page}")
        } else {
            base
        }
    }

    /// The run's own page.
    pub fn run_href(&self) -> String {
        match self {
            ChangesOf::Execution(id) => format!("/executions/{id}"),
            ChangesOf::Run(id) => format!("/workflow-runs/{id}"),
        }
    }
}

/// Files whose diffs one page shows.
pub const FILES_PER_PAGE: usize = 20;
/// Diff lines shown of one file; the rest are counted in `omitted`.
pub const LINES_PER_FILE: usize = 1500;

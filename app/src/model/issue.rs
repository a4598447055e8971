use serde::{Deserialize, Serialize};

use super::{Execution, GithubSpec, IssueId, RepositoryId, WorkflowRunSummary};

/// Where issues live: a local name, optionally mirroring a GitHub
/// repository (`owner/name`) and a checkout on this machine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Repository {
    pub id: RepositoryId,
    pub name: String,
    /// `owner/name` on GitHub, when the repository mirrors one.
    pub github: Option<String>,
    /// A checkout on the server's machine that agents may work in.
    pub local_path: Option<String>,
    pub open_issues: u64,
    pub created_at: i64,
    /// Credentials are stored: issues sync and results go back.
    #[serde(default)]
    pub connected: bool,
    /// `token` or `app` when connected.
    #[serde(default)]
    pub github_auth: Option<String>,
    #[serde(default)]
    pub api_base_url: Option<String>,
    #[serde(default)]
    pub default_branch: Option<String>,
    /// When issues were last synced, and why the last sync failed.
    #[serde(default)]
    pub synced_at: Option<i64>,
    #[serde(default)]
    pub sync_error: Option<String>,
    /// Disk used by its clone and worktrees (bytes), when measured.
    #[serde(default)]
    pub disk_bytes: Option<u64>,
    /// Worktrees stay after their run ends.
    #[serde(default)]
    pub keep_worktrees: bool,
}

/// What a person sends to create a repository.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RepositoryInput {
    pub name: String,
    /// `owner/name`, or `{owner, repo, token | appId+privateKey+installationId, apiBaseUrl?}`
    /// to connect it.
    #[serde(default)]
    pub github: Option<GithubSpec>,
    #[serde(default)]
    pub local_path: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum IssueState {
    #[default]
    Open,
    Closed,
}

impl IssueState {
    pub const fn as_str(self) -> &'static str {
        match self {
            IssueState::Open => "open",
            IssueState::Closed => "closed",
        }
    }
}

impl std::str::FromStr for IssueState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "open" => Ok(IssueState::Open),
            "closed" => Ok(IssueState::Closed),
            other => Err(format!("unknown issue state {other:?} (open or closed)")),
        }
    }
}

/// An issue as lists and its page show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Issue {
    pub id: IssueId,
    pub repository_id: RepositoryId,
    pub repository_name: String,
    /// 1, 2, 3… per repository.
    pub number: u64,
    pub title: String,
    /// Markdown as written.
    pub body: String,
    /// The body rendered to HTML by the server, with raw HTML escaped and
    /// unsafe link schemes removed.
    pub body_html: String,
    pub state: IssueState,
    pub labels: Vec<String>,
    pub assignee: Option<String>,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The issue on GitHub, when it is mirrored from there.
    #[serde(default)]
    pub html_url: Option<String>,
}

/// A short reference to an issue, carried by runs and executions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct IssueRef {
    pub id: IssueId,
    pub repository_id: RepositoryId,
    pub number: u64,
    pub title: String,
}

/// What a person sends to create an issue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct IssueInput {
    pub repository_id: RepositoryId,
    pub title: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub assignee: Option<String>,
}

/// A partial update: absent fields stay as they are. `assignee: ""`
/// removes the assignee.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct IssueUpdate {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub state: Option<IssueState>,
    #[serde(default)]
    pub labels: Option<Vec<String>>,
    #[serde(default)]
    pub assignee: Option<String>,
}

/// Filters and paging of the issue list.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct IssueQuery {
    #[serde(default)]
    pub state: Option<IssueState>,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub repository_id: Option<RepositoryId>,
    /// Matched against title and body, ignoring case.
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub limit: u32,
    #[serde(default)]
    pub offset: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct IssuePage {
    pub items: Vec<Issue>,
    pub total: u64,
}

/// An issue with everything that ran on it, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct IssueDetail {
    pub issue: Issue,
    pub executions: Vec<Execution>,
    pub runs: Vec<WorkflowRunSummary>,
}

/// Labels are short, trimmed, and unique ignoring case; a comma separates
/// labels (so "bug, ready" typed into one field is two).
pub fn normalise_labels(labels: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for label in labels.iter().flat_map(|l| l.split(',')) {
        let label = label.trim();
        if label.is_empty() {
            continue;
        }
        if label.chars().count() > 50 {
            return Err(format!("label {label:?} is longer than 50 characters"));
        }
        if !out.iter().any(|l| l.eq_ignore_ascii_case(label)) {
            out.push(label.to_string());
        }
    }
    if out.len() > 20 {
        return Err("at most 20 labels".into());
    }
    Ok(out)
}

/// Splits a comma-separated label field as typed into a form.
pub fn split_labels(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_trimmed_deduplicated_and_checked() {
        let l = normalise_labels(&split_labels(" bug, Bug ,ready ,, ")).unwrap();
        assert_eq!(l, vec!["bug", "ready"]);
        let one_field = normalise_labels(&["bug, ready".to_string()]).unwrap();
        assert_eq!(one_field, vec!["bug", "ready"]);
        assert!(normalise_labels(&["x".repeat(51)]).is_err());
    }
}

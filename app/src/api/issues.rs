//! Repositories and issues. Reading needs a signed-in user; writing needs
//! a member (the backend checks).

use leptos::prelude::*;

use super::ApiError;
use crate::model::{
    IssueDetail, IssueId, IssueInput, IssuePage, IssueQuery, IssueUpdate, Repository,
    RepositoryInput,
};

#[server(endpoint = "repositories/list")]
pub async fn list_repositories() -> Result<Vec<Repository>, ApiError> {
    super::backend()?
        .list_repositories(&super::request_parts()?)
        .await
}

#[server(endpoint = "repositories/create")]
pub async fn create_repository(input: RepositoryInput) -> Result<Repository, ApiError> {
    super::backend()?
        .create_repository(&super::request_parts()?, input)
        .await
}

#[server(endpoint = "issues/list")]
pub async fn list_issues(query: IssueQuery) -> Result<IssuePage, ApiError> {
    super::backend()?
        .list_issues(&super::request_parts()?, query)
        .await
}

/// The issue board: open issues and those closed lately, in columns.
/// (Its filters are arguments of their own: an empty query struct would
/// not survive URL encoding.)
#[server(endpoint = "issues/board")]
pub async fn issue_board(
    #[server(default)] repository_id: Option<crate::model::RepositoryId>,
    #[server(default)] label: Option<String>,
) -> Result<crate::model::Board, ApiError> {
    let query = crate::model::BoardQuery {
        repository_id,
        label,
    };
    super::backend()?
        .issue_board(&super::request_parts()?, query)
        .await
}

#[server(endpoint = "issues/get")]
pub async fn get_issue(id: IssueId) -> Result<IssueDetail, ApiError> {
    super::backend()?
        .get_issue(&super::request_parts()?, id)
        .await
}

#[server(endpoint = "issues/create")]
pub async fn create_issue(input: IssueInput) -> Result<IssueDetail, ApiError> {
    let parts = super::request_parts()?;
    let detail = super::backend()?.create_issue(&parts, input).await?;
    super::redirect_plain_form(&parts, &format!("/issues/{}", detail.issue.id));
    Ok(detail)
}

/// Replaces an issue's editable fields at once (what the edit form sends:
/// an empty field clears it, labels comma-separated).
#[server(endpoint = "issues/edit")]
pub async fn edit_issue_fields(
    id: IssueId,
    title: String,
    #[server(default)] body: String,
    #[server(default)] labels: String,
    #[server(default)] assignee: String,
) -> Result<IssueDetail, ApiError> {
    let update = IssueUpdate {
        title: Some(title),
        body: Some(body),
        state: None,
        labels: Some(crate::model::split_labels(&labels)),
        assignee: Some(assignee),
    };
    let parts = super::request_parts()?;
    let detail = super::backend()?.update_issue(&parts, id, update).await?;
    super::redirect_plain_form(&parts, &format!("/issues/{id}"));
    Ok(detail)
}

#[server(endpoint = "issues/update")]
pub async fn update_issue(id: IssueId, update: IssueUpdate) -> Result<IssueDetail, ApiError> {
    super::backend()?
        .update_issue(&super::request_parts()?, id, update)
        .await
}

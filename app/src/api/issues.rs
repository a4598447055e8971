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

#[server(endpoint = "issues/get")]
pub async fn get_issue(id: IssueId) -> Result<IssueDetail, ApiError> {
    super::backend()?
        .get_issue(&super::request_parts()?, id)
        .await
}

#[server(endpoint = "issues/create")]
pub async fn create_issue(input: IssueInput) -> Result<IssueDetail, ApiError> {
    super::backend()?
        .create_issue(&super::request_parts()?, input)
        .await
}

#[server(endpoint = "issues/update")]
pub async fn update_issue(id: IssueId, update: IssueUpdate) -> Result<IssueDetail, ApiError> {
    super::backend()?
        .update_issue(&super::request_parts()?, id, update)
        .await
}

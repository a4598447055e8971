//! What the REST API and the pages share: connect, test, repository
//! settings.

use app::api::ApiError;
use app::model::{ConnectionCheck, GithubConnect, Repository, RepositoryId};

use crate::db::github as store;
use crate::http::error::internal;
use crate::state::AppState;

pub async fn repository(state: &AppState, id: RepositoryId) -> Result<Repository, ApiError> {
    let mut repo = crate::issues::get_repository(state, id).await?;
    if let Ok(Some(row)) = store::find_repo(&state.db, &id.to_string()).await {
        repo.disk_bytes = state.worktrees.disk_usage(&row).await;
    }
    Ok(repo)
}

/// Connects (or reconnects with new credentials) an existing repository
/// and imports its open issues in the background.
pub async fn connect(
    state: &AppState,
    id: RepositoryId,
    input: GithubConnect,
) -> Result<Repository, ApiError> {
    let (credentials, api_url) = crate::github::GitHub::credentials_of(&input)?;
    let full_name = format!("{}/{}", input.owner.trim(), input.repo.trim());
    let row = store::find_repo(&state.db, &id.to_string())
        .await
        .map_err(|e| internal("reading a repository", e))?
        .ok_or(ApiError::NotFound)?;
    if row
        .github
        .as_deref()
        .map(|g| !g.eq_ignore_ascii_case(&full_name))
        .unwrap_or(false)
        && row.github_credentials.is_some()
    {
        return Err(ApiError::Conflict(format!(
            "the repository mirrors {} already; make a new one for {full_name}",
            row.github.unwrap_or_default()
        )));
    }
    check_connectable(state, Some(&row.id), &full_name).await?;
    crate::db::github::set_github_name(&state.db, &row.id, &full_name)
        .await
        .map_err(|e| internal("naming a repository's GitHub twin", e))?;
    state
        .github
        .save_connection(&row.id, &credentials, &api_url)
        .await?;
    crate::issues::start_import(state, &row.id);
    repository(state, id).await
}

/// A GitHub repository is mirrored by one Yagura repository, and a
/// repository with issues made in Yagura cannot start mirroring one (their
/// numbers would collide with GitHub's).
pub async fn check_connectable(
    state: &AppState,
    repo_id: Option<&str>,
    full_name: &str,
) -> Result<(), ApiError> {
    if let Some(name) = store::other_twin(&state.db, full_name, repo_id.unwrap_or(""))
        .await
        .map_err(|e| internal("checking GitHub twins", e))?
    {
        return Err(ApiError::Conflict(format!(
            "{full_name} is mirrored by the repository {name:?} already"
        )));
    }
    if let Some(id) = repo_id {
        let local = store::count_local_issues(&state.db, id)
            .await
            .map_err(|e| internal("counting issues", e))?;
        if local > 0 {
            return Err(ApiError::Conflict(format!(
                "this repository has {local} issue(s) made in Yagura, whose numbers would clash with GitHub's; connect a new repository instead"
            )));
        }
    }
    Ok(())
}

pub async fn test(state: &AppState, id: RepositoryId) -> Result<ConnectionCheck, ApiError> {
    let connected = state
        .github
        .connected(&id.to_string())
        .await
        .map_err(|e| internal("opening a GitHub connection", e))?;
    match connected {
        Some(c) => Ok(state.github.check(&c).await),
        None => {
            crate::issues::get_repository(state, id).await?;
            Err(ApiError::Conflict(
                "the repository is not connected to GitHub".into(),
            ))
        }
    }
}

pub async fn set_keep_worktrees(
    state: &AppState,
    id: RepositoryId,
    keep: bool,
) -> Result<(), ApiError> {
    if store::set_keep_worktrees(&state.db, &id.to_string(), keep)
        .await
        .map_err(|e| internal("saving a repository", e))?
    {
        Ok(())
    } else {
        Err(ApiError::NotFound)
    }
}

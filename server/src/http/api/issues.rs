//! `/api/v1/repositories` and `/api/v1/issues`. Reading needs a signed-in
//! user; writing needs a member.

use app::api::ApiError;
use app::model::{
    Execution, Issue, IssueDetail, IssueId, IssueInput, IssuePage, IssueQuery, IssueState,
    IssueUpdate, Repository, RepositoryInput, Role, WorkflowRunSummary,
};
use axum::{
    extract::{rejection::JsonRejection, Path, Query, State},
    http::StatusCode,
    routing::get,
    Json, Router,
};
use serde::{Deserialize, Serialize};

use super::{body, AuthUser};
use crate::{http::error::HttpError, issues, state::AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/repositories",
            get(list_repositories).post(create_repository),
        )
        .route("/issues", get(list).post(create))
        .route("/issues/{id}", get(read).patch(update))
}

fn parse_id(id: &str) -> Result<IssueId, HttpError> {
    id.parse().map_err(|_| HttpError(ApiError::NotFound))
}

async fn list_repositories(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<Repository>>, HttpError> {
    user.require(Role::Viewer)?;
    Ok(Json(issues::list_repositories(&state, true).await?))
}

async fn create_repository(
    State(state): State<AppState>,
    user: AuthUser,
    payload: Result<Json<RepositoryInput>, JsonRejection>,
) -> Result<(StatusCode, Json<Repository>), HttpError> {
    user.require(Role::Member)?;
    let input = body(payload)?;
    if matches!(input.github, Some(app::model::GithubSpec::Connect(_)))
        || input.local_path.is_some()
    {
        // Credentials are the instance's, and a local path is a checkout on
        // this machine that agents will work in: only an admin sets them.
        user.require(Role::Admin)?;
    }
    Ok((
        StatusCode::CREATED,
        Json(issues::create_repository(&state, input).await?),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    state: Option<String>,
    label: Option<String>,
    repository_id: Option<String>,
    text: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
}

async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<ListQuery>,
) -> Result<Json<IssuePage>, HttpError> {
    user.require(Role::Viewer)?;
    let issue_state = match q.state.as_deref() {
        None | Some("") | Some("all") => None,
        Some(s) => Some(
            s.parse::<IssueState>()
                .map_err(|e| HttpError(ApiError::Invalid(e)))?,
        ),
    };
    let repository_id =
        match q.repository_id.as_deref() {
            None | Some("") => None,
            Some(r) => Some(r.parse().map_err(|_| {
                HttpError(ApiError::Invalid(format!("{r:?} is not a repository id")))
            })?),
        };
    let query = IssueQuery {
        state: issue_state,
        label: q.label,
        repository_id,
        text: q.text,
        limit: q.limit.unwrap_or(50),
        offset: q.offset.unwrap_or(0),
    };
    Ok(Json(issues::list(&state, query).await?))
}

/// An issue with what ran on it, as `GET /issues/{id}` answers.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct IssueWithTimeline {
    #[serde(flatten)]
    issue: Issue,
    executions: Vec<Execution>,
    runs: Vec<WorkflowRunSummary>,
}

impl From<IssueDetail> for IssueWithTimeline {
    fn from(d: IssueDetail) -> Self {
        IssueWithTimeline {
            issue: d.issue,
            executions: d.executions,
            runs: d.runs,
        }
    }
}

async fn read(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<IssueWithTimeline>, HttpError> {
    user.require(Role::Viewer)?;
    Ok(Json(issues::detail(&state, parse_id(&id)?).await?.into()))
}

async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    payload: Result<Json<IssueInput>, JsonRejection>,
) -> Result<(StatusCode, Json<Issue>), HttpError> {
    let me = user.require(Role::Member)?;
    let input = body(payload)?;
    let detail = issues::create(&state, me, input).await?;
    Ok((StatusCode::CREATED, Json(detail.issue)))
}

async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    payload: Result<Json<IssueUpdate>, JsonRejection>,
) -> Result<Json<Issue>, HttpError> {
    let me = user.require(Role::Member)?;
    let update = body(payload)?;
    let detail = issues::update(&state, me, parse_id(&id)?, update).await?;
    Ok(Json(detail.issue))
}

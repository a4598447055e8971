//! `/api/v1/repositories` and `/api/v1/issues`. Reading needs a signed-in
//! user; writing needs a member.

use app::api::ApiError;
use app::model::{
    Board, BoardQuery, Execution, Issue, IssueDetail, IssueId, IssueInput, IssuePage, IssueQuery,
    IssueState, IssueUpdate, Repository, RepositoryInput, WorkflowRunSummary,
};
use axum::{
    extract::{rejection::JsonRejection, Path, State},
    http::StatusCode,
    Json,
};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{body, openapi::ErrorBody, ApiQuery, AuthUser, IdParam};
use crate::auth::policy::Op;
use crate::{http::error::HttpError, state::AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_repositories, create_repository))
        .routes(routes!(list, create))
        .routes(routes!(board))
        .routes(routes!(read, update))
}

fn parse_id(id: &str) -> Result<IssueId, HttpError> {
    id.parse().map_err(|_| HttpError(ApiError::NotFound))
}

/// Repositories, with their issue counts.
#[utoipa::path(get, path = "/repositories", tag = "issues",
    responses((status = 200, body = Vec<Repository>)))]
async fn list_repositories(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<Repository>>, HttpError> {
    user.allow(Op::ReadRepositories)?;
    Ok(Json(state.repositories.list(true).await?))
}

/// Adds a repository (a local checkout, a GitHub repository, or just a name).
#[utoipa::path(post, path = "/repositories", tag = "issues", request_body = RepositoryInput,
    responses((status = 201, body = Repository),
        (status = 409, description = "The name is taken, or that GitHub repository is mirrored already", body = ErrorBody)))]
async fn create_repository(
    State(state): State<AppState>,
    user: AuthUser,
    payload: Result<Json<RepositoryInput>, JsonRejection>,
) -> Result<(StatusCode, Json<Repository>), HttpError> {
    let me = user.allow(Op::CreateRepository)?;
    let input = body(payload)?;
    Ok((
        StatusCode::CREATED,
        Json(state.repositories.create(me, input).await?),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    /// `open`, `closed` or `all` (all if left out).
    #[param(pattern = "^(open|closed|all)?$")]
    state: Option<String>,
    /// Only issues with this label (ignoring case).
    label: Option<String>,
    /// Only this repository's issues (its id; empty: all).
    #[param(
        pattern = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"
    )]
    repository_id: Option<String>,
    /// Text the title or body contains.
    text: Option<String>,
    /// Page size (50 if left out; at most 200).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// How many to skip.
    offset: Option<u32>,
}

/// Issues, most recently updated first.
#[utoipa::path(get, path = "/issues", tag = "issues", params(ListQuery),
    responses((status = 200, body = IssuePage)))]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<IssuePage>, HttpError> {
    user.allow(Op::ReadIssues)?;
    let issue_state = match q.state.as_deref() {
        None | Some("") | Some("all") => None,
        Some(s) => Some(
            s.parse::<IssueState>()
                .map_err(|e| HttpError(ApiError::Invalid(e)))?,
        ),
    };
    let repository_id = super::id_filter("repositoryId", q.repository_id.as_deref())?;
    let query = IssueQuery {
        state: issue_state,
        label: q.label,
        repository_id,
        text: q.text,
        limit: super::page_size("limit", q.limit, 50, 200)?,
        offset: q.offset.unwrap_or(0),
    };
    Ok(Json(state.issues.list(query).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
struct BoardParams {
    /// Only this repository's issues (its id; empty: all).
    #[param(
        pattern = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"
    )]
    repository_id: Option<String>,
    /// Only issues with this label (ignoring case).
    label: Option<String>,
}

/// `GET /board`: open issues and those closed in the last two weeks, each
/// with its column and the newest thing that ran on it.
#[utoipa::path(get, path = "/board", tag = "issues", params(BoardParams),
    responses((status = 200, body = Board)))]
async fn board(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<BoardParams>,
) -> Result<Json<Board>, HttpError> {
    // The cards carry runs too.
    for op in [Op::ReadIssues, Op::ReadExecutions, Op::ReadWorkflows] {
        user.allow(op)?;
    }
    let query = BoardQuery {
        repository_id: super::id_filter("repositoryId", q.repository_id.as_deref())?,
        label: q.label,
    };
    Ok(Json(state.issues.board(query, crate::db::now_ms()).await?))
}

/// An issue with what ran on it, as `GET /issues/{id}` answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
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

/// One issue, with the runs started on it.
#[utoipa::path(get, path = "/issues/{id}", tag = "issues", params(IdParam),
    responses((status = 200, body = IssueWithTimeline)))]
async fn read(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<IssueWithTimeline>, HttpError> {
    user.allow(Op::ReadIssues)?;
    Ok(Json(state.issues.detail(parse_id(&id)?).await?.into()))
}

/// Opens an issue (on GitHub first, for a connected repository).
#[utoipa::path(post, path = "/issues", tag = "issues", request_body = IssueInput,
    responses((status = 201, body = Issue),
        (status = 502, description = "GitHub refused or failed", body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    payload: Result<Json<IssueInput>, JsonRejection>,
) -> Result<(StatusCode, Json<Issue>), HttpError> {
    let me = user.allow(Op::WriteIssues)?;
    let input = body(payload)?;
    let detail = state.issues.create(me, input).await?;
    Ok((StatusCode::CREATED, Json(detail.issue)))
}

/// Edits an issue, closes or reopens it (on GitHub first, for a connected repository).
#[utoipa::path(patch, path = "/issues/{id}", tag = "issues", params(IdParam),
    request_body = IssueUpdate,
    responses((status = 200, body = Issue),
        (status = 502, description = "GitHub refused or failed", body = ErrorBody)))]
async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    payload: Result<Json<IssueUpdate>, JsonRejection>,
) -> Result<Json<Issue>, HttpError> {
    let me = user.allow(Op::WriteIssues)?;
    let update = body(payload)?;
    let detail = state.issues.update(me, parse_id(&id)?, update).await?;
    Ok(Json(detail.issue))
}

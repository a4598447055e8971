//! `/api/v1/repositories` and `/api/v1/issues`. Reading needs a signed-in
//! user; writing needs a member.

use app::api::ApiError;
use app::model::{
    Board, BoardQuery, Execution, Issue, IssueDetail, IssueId, IssueInput, IssuePage, IssueQuery,
    IssueState, IssueUpdate, Repository, RepositoryId, RepositoryInput, WorkflowRunSummary,
};
use axum::{
    extract::{rejection::JsonRejection, Path, Query, State},
    http::StatusCode,
    routing::get,
    Json, Router,
};
use serde::{Deserialize, Serialize};

use super::{body, AuthUser};
use crate::auth::policy::Op;
use crate::{http::error::HttpError, state::AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/repositories",
            get(list_repositories).post(create_repository),
        )
        .route("/issues", get(list).post(create))
        .route("/board", get(board))
        .route("/issues/{id}", get(read).patch(update))
}

fn parse_id(id: &str) -> Result<IssueId, HttpError> {
    id.parse().map_err(|_| HttpError(ApiError::NotFound))
}

async fn list_repositories(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<Repository>>, HttpError> {
    user.allow(Op::ReadRepositories)?;
    Ok(Json(state.repositories.list(true).await?))
}

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
    user.allow(Op::ReadIssues)?;
    let issue_state = match q.state.as_deref() {
        None | Some("") | Some("all") => None,
        Some(s) => Some(
            s.parse::<IssueState>()
                .map_err(|e| HttpError(ApiError::Invalid(e)))?,
        ),
    };
    let repository_id = repository_param(q.repository_id.as_deref())?;
    let query = IssueQuery {
        state: issue_state,
        label: q.label,
        repository_id,
        text: q.text,
        limit: q.limit.unwrap_or(50),
        offset: q.offset.unwrap_or(0),
    };
    Ok(Json(state.issues.list(query).await?))
}

fn repository_param(r: Option<&str>) -> Result<Option<RepositoryId>, HttpError> {
    match r {
        None | Some("") => Ok(None),
        Some(r) => r
            .parse()
            .map(Some)
            .map_err(|_| HttpError(ApiError::Invalid(format!("{r:?} is not a repository id")))),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BoardParams {
    repository_id: Option<String>,
    label: Option<String>,
}

/// `GET /board`: open issues and those closed in the last two weeks, each
/// with its column and the newest thing that ran on it.
async fn board(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<BoardParams>,
) -> Result<Json<Board>, HttpError> {
    // The cards carry runs too.
    for op in [Op::ReadIssues, Op::ReadExecutions, Op::ReadWorkflows] {
        user.allow(op)?;
    }
    let query = BoardQuery {
        repository_id: repository_param(q.repository_id.as_deref())?,
        label: q.label,
    };
    Ok(Json(state.issues.board(query, crate::db::now_ms()).await?))
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
    user.allow(Op::ReadIssues)?;
    Ok(Json(state.issues.detail(parse_id(&id)?).await?.into()))
}

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

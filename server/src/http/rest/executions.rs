//! `/api/v1/executions`: start runs, follow them, stop them.

use crate::error::OrInternal;
use app::api::ApiError;
use app::model::{Execution, ExecutionId, ExecutionPage, ExecutionStatus};
use app::protocol::native::ServerMessage;
use axum::{
    body::Body,
    extract::{rejection::JsonRejection, Path, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{body, openapi::ErrorBody, ApiQuery, AuthUser, IdParam};
use crate::auth::policy::Op;
use crate::{agents, db::executions as store, http::error::HttpError, state::AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read))
        .routes(routes!(events))
        .routes(routes!(log))
        .routes(routes!(cancel))
        .routes(routes!(pause))
        .routes(routes!(resume))
        .routes(routes!(stdin))
}

fn parse_id(id: &str) -> Result<ExecutionId, HttpError> {
    id.parse().map_err(|_| HttpError(ApiError::NotFound))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct CreateExecution {
    /// The agent to run.
    #[schema(format = Uuid)]
    agent_id: String,
    /// Fills the agent's `{prompt}`.
    #[serde(default)]
    prompt: Option<String>,
    /// The issue to run on: fills `{issue.title}` and `{issue.body}`.
    #[serde(default)]
    #[schema(format = Uuid)]
    issue_id: Option<String>,
}

/// Starts a run of an agent; it is queued until a slot is free.
#[utoipa::path(post, path = "/executions", tag = "executions", request_body = CreateExecution,
    responses((status = 201, description = "Queued", body = Execution),
        (status = 409, description = "The server is shutting down", body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    payload: Result<Json<CreateExecution>, JsonRejection>,
) -> Result<(StatusCode, Json<Execution>), HttpError> {
    let me = user.allow(Op::StartExecution)?;
    let input = body(payload)?;
    let agent_id = input.agent_id.parse().map_err(|_| {
        HttpError(ApiError::Invalid(format!(
            "{:?} is not an agent id",
            input.agent_id
        )))
    })?;
    let agent = match agents::get(&state.db, agent_id).await {
        Err(ApiError::NotFound) => {
            return Err(HttpError(ApiError::Invalid(
                "there is no agent with that id".into(),
            )))
        }
        other => other?,
    };
    let issue = match input.issue_id.as_deref() {
        Some(id) => Some(
            id.parse()
                .map_err(|_| HttpError(ApiError::Invalid(format!("{id:?} is not an issue id"))))?,
        ),
        None => None,
    };
    let origin = state.issues.origin(issue).await?;
    let execution = state
        .executions
        .create(
            &agent,
            input.prompt.unwrap_or_default(),
            &me.username,
            &origin,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(execution)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    /// Only runs in this state.
    #[param(value_type = Option<ExecutionStatus>)]
    status: Option<String>,
    /// Only runs of this agent (its id; empty: all).
    #[param(
        pattern = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"
    )]
    agent_id: Option<String>,
    /// Only runs started on this issue (its id; empty: all).
    #[param(
        pattern = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"
    )]
    issue_id: Option<String>,
    /// Page size (50 if left out; at most 200).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// How many to skip.
    offset: Option<u32>,
}

/// Runs, newest first.
#[utoipa::path(get, path = "/executions", tag = "executions", params(ListQuery),
    responses((status = 200, body = ExecutionPage)))]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<ExecutionPage>, HttpError> {
    user.allow(Op::ReadExecutions)?;
    let status = match q.status.as_deref() {
        Some(s) => Some(
            s.parse::<ExecutionStatus>()
                .map_err(|e| HttpError(ApiError::Invalid(e)))?,
        ),
        None => None,
    };
    let filter = store::Filter {
        status,
        agent_id: super::uuid_filter("agentId", q.agent_id.as_deref())?,
        since_ms: None,
        issue_id: super::uuid_filter("issueId", q.issue_id.as_deref())?,
    };
    Ok(Json(
        state
            .executions
            .list(
                &filter,
                super::page_size("limit", q.limit, 50, 200)?,
                q.offset.unwrap_or(0),
            )
            .await?,
    ))
}

/// One run.
#[utoipa::path(get, path = "/executions/{id}", tag = "executions", params(IdParam),
    responses((status = 200, body = Execution)))]
async fn read(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Execution>, HttpError> {
    user.allow(Op::ReadExecutions)?;
    Ok(Json(state.executions.get(parse_id(&id)?).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    /// Events after this `seq` (0 if left out: all).
    after: Option<u64>,
    /// At most this many (1000 if left out; 1 to 10,000).
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<u32>,
}

/// One stored event as the native `/ws` dialect sends it (seed 002):
/// `type` says which (`agent.log`, `agent.progress`, `agent.completed`, …)
/// and the other fields depend on it.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct NativeEvent {
    #[serde(rename = "type")]
    #[schema(example = "agent.log")]
    kind: String,
    execution_id: uuid::Uuid,
    /// The event's number in its run, from 1, gap-free.
    seq: u64,
}

/// Stored events after `after`, in the native dialect (what `/ws` would send).
#[utoipa::path(get, path = "/executions/{id}/events", tag = "executions",
    params(IdParam, EventsQuery), responses((status = 200, body = Vec<NativeEvent>)))]
async fn events(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Json<Vec<ServerMessage>>, HttpError> {
    user.allow(Op::ReadExecutions)?;
    let id = parse_id(&id)?;
    state.executions.get(id).await?;
    let limit = i64::from(super::page_size("limit", q.limit, 1000, 10_000)?);
    let rows = store::events_after(
        &state.db,
        &id.to_string(),
        q.after.unwrap_or(0) as i64,
        limit,
    )
    .await
    .or_internal("reading events")
    .map_err(HttpError)?;
    Ok(Json(
        rows.iter().filter_map(|r| stored_message(id, r)).collect(),
    ))
}

fn stored_message(id: ExecutionId, row: &store::EventRow) -> Option<ServerMessage> {
    let body = serde_json::from_str(&row.payload).ok()?;
    let event = app::model::ExecutionEvent {
        execution_id: id,
        seq: row.seq as u64,
        at_ms: row.at_ms,
        body,
    };
    Some(ServerMessage::from(&event))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct LogQuery {
    /// Each line starts with the time it was stored (RFC 3339, UTC).
    #[serde(default)]
    timestamps: bool,
}

/// The whole output as plain text (ANSI kept, line ends as written), for
/// download: streamed a page of events at a time, never built whole in
/// memory. `?timestamps=true` starts each line with its time.
#[utoipa::path(get, path = "/executions/{id}/log", tag = "executions",
    params(IdParam, LogQuery),
    responses((status = 200, description = "The output as text", content_type = "text/plain", body = String)))]
async fn log(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<LogQuery>,
) -> Result<Response, HttpError> {
    user.allow(Op::ReadExecutions)?;
    let id = parse_id(&id)?;
    state.executions.get(id).await?;
    let db = state.db.clone();
    let stamped = q.timestamps;
    // (after which seq, whether the next piece starts a line)
    let pages = futures::stream::unfold(Some((0i64, true)), move |state| {
        let db = db.clone();
        async move {
            let (after, mut at_start) = state?;
            match store::events_after(&db, &id.to_string(), after, 2000).await {
                Err(e) => Some((Err(std::io::Error::other(e.to_string())), None)),
                Ok(rows) => {
                    let last = rows.last()?.seq;
                    let mut chunk = String::new();
                    for row in rows.iter().filter(|r| r.kind == "log") {
                        if let Ok(app::model::EventBody::Log { message, end, .. }) =
                            serde_json::from_str(&row.payload)
                        {
                            if stamped && at_start {
                                if let Some(t) =
                                    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(
                                        row.at_ms,
                                    )
                                {
                                    chunk.push_str(
                                        &t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                                    );
                                    chunk.push(' ');
                                }
                            }
                            chunk.push_str(&message);
                            chunk.push_str(end.as_str());
                            at_start = end != app::model::LineEnd::None;
                        }
                    }
                    Some((Ok(axum::body::Bytes::from(chunk)), Some((last, at_start))))
                }
            }
        }
    });
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "text/plain; charset=utf-8".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"execution-{id}.log\""),
            ),
        ],
        // Fused: the compression layer polls once more after the end.
        Body::from_stream(futures::StreamExt::fuse(pages)),
    )
        .into_response())
}

/// Cancels a run (its process group gets SIGTERM, then SIGKILL).
#[utoipa::path(post, path = "/executions/{id}/cancel", tag = "executions", params(IdParam),
    responses((status = 202, description = "Cancelling"),
        (status = 409, description = "The run has ended", body = ErrorBody)))]
async fn cancel(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, HttpError> {
    user.allow(Op::ControlExecution)?;
    state.executions.cancel(parse_id(&id)?).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Pauses a running run (SIGSTOP).
#[utoipa::path(post, path = "/executions/{id}/pause", tag = "executions", params(IdParam),
    responses((status = 202, description = "Pausing"),
        (status = 409, description = "The run is not running", body = ErrorBody)))]
async fn pause(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, HttpError> {
    user.allow(Op::ControlExecution)?;
    state.executions.pause(parse_id(&id)?).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Resumes a paused run.
#[utoipa::path(post, path = "/executions/{id}/resume", tag = "executions", params(IdParam),
    responses((status = 202, description = "Resuming"),
        (status = 409, description = "The run is not paused", body = ErrorBody)))]
async fn resume(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, HttpError> {
    user.allow(Op::ControlExecution)?;
    state.executions.resume(parse_id(&id)?).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct StdinInput {
    /// Text for the run's standard input, as is (add the `\n`).
    data: String,
    /// Also show the input in the log (`> text` system lines), as the
    /// browser's input box does; off unless asked, so API clients see the
    /// log they always saw.
    #[serde(default)]
    echo: bool,
}

/// Writes to a running run's standard input.
#[utoipa::path(post, path = "/executions/{id}/stdin", tag = "executions", params(IdParam),
    request_body = StdinInput,
    responses((status = 202, description = "Written"),
        (status = 409, description = "The run is not running", body = ErrorBody)))]
async fn stdin(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    payload: Result<Json<StdinInput>, JsonRejection>,
) -> Result<StatusCode, HttpError> {
    user.allow(Op::ControlExecution)?;
    let input = body(payload)?;
    state
        .executions
        .stdin(parse_id(&id)?, input.data, input.echo)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

//! `/api/v1/executions`: start runs, follow them, stop them.

use crate::error::OrInternal;
use app::api::ApiError;
use app::model::{Execution, ExecutionId, ExecutionPage, ExecutionStatus};
use app::protocol::native::ServerMessage;
use axum::{
    body::Body,
    extract::{rejection::JsonRejection, Path, Query, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde::Deserialize;

use super::{body, AuthUser};
use crate::auth::policy::Op;
use crate::{agents, db::executions as store, http::error::HttpError, state::AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/executions", get(list).post(create))
        .route("/executions/{id}", get(read))
        .route("/executions/{id}/events", get(events))
        .route("/executions/{id}/log", get(log))
        .route("/executions/{id}/cancel", post(cancel))
        .route("/executions/{id}/pause", post(pause))
        .route("/executions/{id}/resume", post(resume))
        .route("/executions/{id}/stdin", post(stdin))
}

fn parse_id(id: &str) -> Result<ExecutionId, HttpError> {
    id.parse().map_err(|_| HttpError(ApiError::NotFound))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateExecution {
    agent_id: String,
    #[serde(default)]
    prompt: Option<String>,
    /// The issue to run on: fills `{issue.title}` and `{issue.body}`.
    #[serde(default)]
    issue_id: Option<String>,
}

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

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    status: Option<String>,
    agent_id: Option<String>,
    issue_id: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
}

async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<ListQuery>,
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
        agent_id: q.agent_id,
        since_ms: None,
        issue_id: q.issue_id,
    };
    Ok(Json(
        state
            .executions
            .list(&filter, q.limit.unwrap_or(50), q.offset.unwrap_or(0))
            .await?,
    ))
}

async fn read(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Execution>, HttpError> {
    user.allow(Op::ReadExecutions)?;
    Ok(Json(state.executions.get(parse_id(&id)?).await?))
}

#[derive(Debug, Deserialize)]
struct EventsQuery {
    after: Option<u64>,
    limit: Option<u32>,
}

/// Stored events after `after`, in the native dialect (what `/ws` would send).
async fn events(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    Query(q): Query<EventsQuery>,
) -> Result<Json<Vec<ServerMessage>>, HttpError> {
    user.allow(Op::ReadExecutions)?;
    let id = parse_id(&id)?;
    state.executions.get(id).await?;
    let limit = i64::from(q.limit.unwrap_or(1000).clamp(1, 10_000));
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

#[derive(Deserialize)]
struct LogQuery {
    /// Each line starts with the time it was stored (RFC 3339, UTC).
    #[serde(default)]
    timestamps: bool,
}

/// The whole output as plain text (ANSI kept, line ends as written), for
/// download: streamed a page of events at a time, never built whole in
/// memory. `?timestamps=true` starts each line with its time.
async fn log(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    Query(q): Query<LogQuery>,
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
        Body::from_stream(pages),
    )
        .into_response())
}

async fn cancel(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, HttpError> {
    user.allow(Op::ControlExecution)?;
    state.executions.cancel(parse_id(&id)?).await?;
    Ok(StatusCode::ACCEPTED)
}

async fn pause(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, HttpError> {
    user.allow(Op::ControlExecution)?;
    state.executions.pause(parse_id(&id)?).await?;
    Ok(StatusCode::ACCEPTED)
}

async fn resume(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, HttpError> {
    user.allow(Op::ControlExecution)?;
    state.executions.resume(parse_id(&id)?).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Debug, Deserialize)]
struct StdinInput {
    data: String,
    /// Also show the input in the log (`> text` system lines), as the
    /// browser's input box does; off unless asked, so API clients see the
    /// log they always saw.
    #[serde(default)]
    echo: bool,
}

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

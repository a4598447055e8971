//! Seed 000's task operations over `/ws/ktcp` (`task_create`, `task_read`,
//! `task_update`, `task_delete`, `task_list`). A task is an execution;
//! each operation is authorised like the REST API and answered with its
//! `*_response` (same `requestId`) or a `generic_error`.

use crate::error::OrInternal;
use std::time::Duration;

use app::api::ApiError;
use app::model::{ExecutionId, ExecutionStatus, User};
use app::protocol::ktcp::{ClientFrame, ServerFrame};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::auth::policy::{authorize, authorize_delete, Op};
use crate::db::executions::{self as store, ExecutionRow};
use crate::db::tasks::{self, TaskFilter};
use crate::executions::{Origin, TaskFields};
use crate::state::AppState;

/// Seed 000's status names.
fn task_status(status: ExecutionStatus) -> &'static str {
    match status {
        ExecutionStatus::Queued => "PENDING",
        ExecutionStatus::Running => "PROCESSING",
        ExecutionStatus::Paused => "PAUSED",
        ExecutionStatus::Completed => "COMPLETED",
        ExecutionStatus::Failed => "FAILED",
        ExecutionStatus::Cancelled => "CANCELLED",
        ExecutionStatus::TimedOut => "TIMED_OUT",
    }
}

/// A seed status name (any case) as an execution status.
fn store_status(task: &str) -> Option<ExecutionStatus> {
    ExecutionStatus::ALL
        .into_iter()
        .find(|s| task_status(*s).eq_ignore_ascii_case(task))
}

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default()
}

fn error_code(e: &ApiError) -> &'static str {
    match e {
        ApiError::NotFound => "TASK_NOT_FOUND",
        ApiError::Forbidden => "FORBIDDEN",
        ApiError::Unauthorized => "UNAUTHORIZED",
        ApiError::Invalid(_) => "INVALID_REQUEST",
        ApiError::Conflict(_) => "CONFLICT",
        _ => "INTERNAL_ERROR",
    }
}

/// Answers one task operation (`None`: nothing to answer, as for a
/// `task_cancel` that worked).
pub async fn handle(state: &AppState, user: &User, frame: ClientFrame) -> Option<ServerFrame> {
    let request_id = match &frame {
        ClientFrame::TaskCreate { request_id, .. }
        | ClientFrame::TaskRead { request_id, .. }
        | ClientFrame::TaskUpdate { request_id, .. }
        | ClientFrame::TaskDelete { request_id, .. }
        | ClientFrame::TaskList { request_id, .. } => Some(request_id.clone()),
        ClientFrame::TaskCancel { request_id, .. } => request_id.clone(),
        _ => {
            return Some(ServerFrame::error(
                None,
                "NOT_ALLOWED",
                "a client uses task operations; heartbeats and reports are for runners",
            ))
        }
    };
    if let ClientFrame::TaskCancel { task_id, data, .. } = frame {
        return cancel(state, user, &task_id, data.force)
            .await
            .err()
            .map(|e| ServerFrame::error(request_id, error_code(&e), e.to_string()));
    }
    Some(match operate(state, user, frame).await {
        Ok(frame) => frame,
        Err(e) => {
            let mut frame = ServerFrame::error(request_id, error_code(&e), e.to_string());
            if let ServerFrame::GenericError { data, .. } = &mut frame {
                data.retryable =
                    matches!(e, ApiError::Conflict(ref m) if m.contains("still stopping"));
            }
            frame
        }
    })
}

/// `task_cancel` from a client: stops the task (`force`: at once).
async fn cancel(state: &AppState, user: &User, task_id: &str, force: bool) -> Result<(), ApiError> {
    authorize(user, Op::ControlExecution)?;
    let id = parse_task(task_id)?;
    state.executions.stop(id, force).await
}

fn parse_task(id: &str) -> Result<ExecutionId, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound)
}

async fn row(state: &AppState, id: ExecutionId) -> Result<ExecutionRow, ApiError> {
    store::find(&state.db, &id.to_string())
        .await
        .or_internal("reading a task")?
        .ok_or(ApiError::NotFound)
}

fn tags_of(row: &ExecutionRow) -> Vec<String> {
    row.tags.0.clone()
}

fn name_of(row: &ExecutionRow) -> String {
    row.task_name
        .clone()
        .unwrap_or_else(|| row.agent_name.clone())
}

async fn operate(
    state: &AppState,
    user: &User,
    frame: ClientFrame,
) -> Result<ServerFrame, ApiError> {
    let now = Utc::now();
    match frame {
        ClientFrame::TaskCreate {
            request_id, data, ..
        } => {
            authorize(user, Op::StartExecution)?;
            let name = check_name(&data.name)?;
            if let Some(t) = data.timeout {
                check_timeout(t)?;
            }
            let task = TaskFields {
                name,
                description: data.description,
                tags: data.tags,
                metadata: (!data.metadata.is_empty())
                    .then(|| serde_json::to_value(&data.metadata).unwrap_or_default()),
                timeout_secs: data.timeout,
            };
            let execution = match data.agent_id.as_deref().map(str::trim) {
                // Seed 000's task: for a connected provider to run as it is.
                None | Some("") => state.executions.create_task(task, &user.username).await?,
                // Extension: run by one of Yagura's agents (id or name).
                Some(agent) => {
                    let agent = crate::agents::find(&state.db, agent)
                        .await?
                        .ok_or_else(|| ApiError::Invalid(format!("there is no agent {agent:?}")))?;
                    let origin = Origin {
                        task: Some(task),
                        ..Default::default()
                    };
                    state
                        .executions
                        .create(&agent, data.prompt, &user.username, &origin)
                        .await?
                }
            };
            Ok(ServerFrame::TaskCreateResponse {
                request_id,
                task_id: execution.id.to_string(),
                data: json!({"status": "CREATED", "createdAt": time(execution.created_at)}),
                timestamp: now,
            })
        }
        ClientFrame::TaskRead {
            request_id,
            task_id,
            data,
            ..
        } => {
            authorize(user, Op::ReadExecutions)?;
            let id = parse_task(&task_id)?;
            let row = row(state, id).await?;
            let mut out = task_json(&row);
            if data.include_logs {
                let logs = store::log_messages(&state.db, &row.id, 1000)
                    .await
                    .or_internal("reading a task's logs")?;
                out["logs"] = Value::Array(
                    logs.into_iter()
                        .filter_map(|(seq, payload)| {
                            let body: Value = serde_json::from_str(&payload).ok()?;
                            Some(json!({"seq": seq, "level": body["level"], "message": body["message"]}))
                        })
                        .collect(),
                );
            } else {
                out["logs"] = json!([]);
            }
            if data.include_metadata {
                out["metadata"] = row.metadata.clone().map(|m| m.0).unwrap_or(json!({}));
            }
            Ok(ServerFrame::TaskReadResponse {
                request_id,
                task_id,
                data: out,
                timestamp: now,
            })
        }
        ClientFrame::TaskUpdate {
            request_id,
            task_id,
            data,
            ..
        } => {
            authorize(user, Op::ControlExecution)?;
            let id = parse_task(&task_id)?;
            let row = row(state, id).await?;
            let current = Editable {
                name: name_of(&row),
                description: row.description.clone().unwrap_or_default(),
                tags: tags_of(&row),
                timeout: row.timeout_secs,
            };
            let (next, changes) = edit(&current, row.status == ExecutionStatus::Queued, data)?;
            let Editable {
                name,
                description,
                tags,
                timeout,
            } = next;
            store::update_task_fields(
                &state.db,
                &row.id,
                Some(&name),
                Some(&description),
                &tags,
                timeout,
            )
            .await
            .or_internal("updating a task")?;
            Ok(ServerFrame::TaskUpdateResponse {
                request_id,
                task_id,
                data: json!({"status": "UPDATED", "updatedAt": now, "changes": changes}),
                timestamp: now,
            })
        }
        ClientFrame::TaskDelete {
            request_id,
            task_id,
            data,
            ..
        } => {
            let id = parse_task(&task_id)?;
            let mut current = row(state, id).await?;
            authorize_delete(user, current.created_by.as_deref())?;
            let ended = |r: &ExecutionRow| r.status.is_terminal();
            if !ended(&current) {
                if !data.force {
                    return Err(ApiError::Conflict(format!(
                        "the task is {}; cancel it first or delete with force",
                        task_status(current.status)
                    )));
                }
                state.executions.stop(id, true).await?;
                let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
                while !ended(&current) {
                    if tokio::time::Instant::now() > deadline {
                        return Err(ApiError::Conflict(
                            "the task is still stopping; try again shortly".into(),
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    current = row(state, id).await?;
                }
            }
            if !store::delete_ended(&state.db, &current.id)
                .await
                .or_internal("deleting a task")?
            {
                return Err(ApiError::NotFound);
            }
            tracing::info!(task = %id, reason = ?data.reason, user = %user.username, "task deleted");
            Ok(ServerFrame::TaskDeleteResponse {
                request_id,
                task_id,
                data: json!({"status": "DELETED", "deletedAt": now, "cleanupStatus": "COMPLETED"}),
                timestamp: now,
            })
        }
        ClientFrame::TaskList {
            request_id, data, ..
        } => {
            authorize(user, Op::ReadExecutions)?;
            let mut statuses = Vec::new();
            for s in &data.status {
                statuses.push(
                    store_status(s)
                        .ok_or_else(|| ApiError::Invalid(format!("unknown status {s:?}")))?,
                );
            }
            let sort_by_name = match data.sort_by.as_deref() {
                None | Some("createdAt") => false,
                Some("name") => true,
                Some(other) => {
                    return Err(ApiError::Invalid(format!(
                        "cannot sort by {other:?} (createdAt or name)"
                    )))
                }
            };
            let ascending = match data
                .sort_order
                .as_deref()
                .map(str::to_ascii_uppercase)
                .as_deref()
            {
                None | Some("DESC") => false,
                Some("ASC") => true,
                Some(other) => {
                    return Err(ApiError::Invalid(format!(
                        "sortOrder {other:?} is ASC or DESC"
                    )))
                }
            };
            let filter = TaskFilter {
                statuses,
                tags: data.tags,
                created_by: data.created_by,
                sort_by_name,
                ascending,
            };
            let limit = i64::from(data.limit.unwrap_or(50).clamp(1, 500));
            let offset = i64::from(data.offset.unwrap_or(0));
            let rows = tasks::list_tasks(&state.db, &filter, limit, offset)
                .await
                .or_internal("listing tasks")?;
            let total = tasks::count_tasks(&state.db, &filter)
                .await
                .or_internal("counting tasks")?;
            let tasks: Vec<Value> = rows
                .iter()
                .map(|r| {
                    json!({"taskId": r.id, "name": name_of(r), "status": task_status(r.status),
                           "createdAt": time(r.created_at), "tags": tags_of(r)})
                })
                .collect();
            let has_more = offset + (tasks.len() as i64) < total;
            Ok(ServerFrame::TaskListResponse {
                request_id,
                data: json!({"tasks": tasks, "totalCount": total, "hasMore": has_more}),
                timestamp: now,
            })
        }
        _ => Err(ApiError::Invalid("not a task operation".into())),
    }
}

/// A task name: 1–200 characters, trimmed.
fn check_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::Invalid(
            "a task name must be 1–200 characters".into(),
        ));
    }
    Ok(name.to_string())
}

/// A timeout: one second to seven days.
fn check_timeout(secs: u64) -> Result<(), ApiError> {
    if (1..=7 * 24 * 3600).contains(&secs) {
        Ok(())
    } else {
        Err(ApiError::Invalid(
            "the timeout is between 1 second and 7 days".into(),
        ))
    }
}

/// The fields `task_update` may change.
#[derive(Clone, Debug, PartialEq)]
struct Editable {
    name: String,
    description: String,
    tags: Vec<String>,
    timeout: i64,
}

/// Applies `task_update`'s data to a task: its new fields, and seed 000's
/// `changes` (old and new value of each field that changed). The timeout
/// can change only while the task is `pending`.
fn edit(
    current: &Editable,
    pending: bool,
    data: app::protocol::ktcp::TaskChanges,
) -> Result<(Editable, serde_json::Map<String, Value>), ApiError> {
    let mut changes = serde_json::Map::new();
    let mut next = current.clone();
    if let Some(n) = data.name {
        if n.trim().is_empty() {
            return Err(ApiError::Invalid("a task name must not be empty".into()));
        }
        next.name = check_name(&n)?;
        if next.name != current.name {
            changes.insert(
                "name".into(),
                json!({"old": current.name, "new": next.name}),
            );
        }
    }
    if let Some(d) = data.description {
        if d != current.description {
            changes.insert(
                "description".into(),
                json!({"old": current.description, "new": d}),
            );
        }
        next.description = d;
    }
    if let Some(t) = data.tags {
        if t != current.tags {
            changes.insert("tags".into(), json!({"old": current.tags, "new": t}));
        }
        next.tags = t;
    }
    if let Some(t) = data.timeout {
        if t as i64 != current.timeout {
            if !pending {
                return Err(ApiError::Conflict(
                    "the timeout can only change while the task is pending".into(),
                ));
            }
            check_timeout(t)?;
            changes.insert("timeout".into(), json!({"old": current.timeout, "new": t}));
            next.timeout = t as i64;
        }
    }
    Ok((next, changes))
}

fn task_json(row: &ExecutionRow) -> Value {
    json!({
        "name": name_of(row),
        "description": row.description.clone().unwrap_or_default(),
        "status": task_status(row.status),
        "timeout": row.timeout_secs,
        "tags": tags_of(row),
        "createdAt": time(row.created_at),
        "updatedAt": time(row.finished_at.or(row.started_at).unwrap_or(row.created_at)),
        "createdBy": row.created_by,
        "assignedProvider": row.runner_id,
        "agentId": row.agent_id,
        "progress": row.progress,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::protocol::ktcp::TaskChanges;

    #[test]
    fn statuses_map_both_ways() {
        for status in ExecutionStatus::ALL {
            assert_eq!(store_status(task_status(status)), Some(status));
        }
        assert_eq!(store_status("processing"), Some(ExecutionStatus::Running));
        assert_eq!(task_status(ExecutionStatus::Queued), "PENDING");
        assert_eq!(store_status("DONE"), None);
    }

    #[test]
    fn errors_have_seed_codes() {
        assert_eq!(error_code(&ApiError::NotFound), "TASK_NOT_FOUND");
        assert_eq!(error_code(&ApiError::Forbidden), "FORBIDDEN");
        assert_eq!(
            error_code(&ApiError::Invalid("x".into())),
            "INVALID_REQUEST"
        );
        assert_eq!(error_code(&ApiError::Internal), "INTERNAL_ERROR");
    }

    fn task() -> Editable {
        Editable {
            name: "Build".into(),
            description: "old".into(),
            tags: vec!["build".into()],
            timeout: 3600,
        }
    }

    #[test]
    fn updates_report_old_and_new_values() {
        let (next, changes) = edit(
            &task(),
            true,
            TaskChanges {
                name: Some("  Build v2 ".into()),
                description: Some("old".into()),
                timeout: Some(1800),
                tags: Some(vec!["build".into(), "urgent".into()]),
            },
        )
        .unwrap();
        assert_eq!(next.name, "Build v2");
        assert_eq!(next.timeout, 1800);
        assert_eq!(
            serde_json::Value::Object(changes),
            json!({
                "name": {"old": "Build", "new": "Build v2"},
                "timeout": {"old": 3600, "new": 1800},
                "tags": {"old": ["build"], "new": ["build", "urgent"]},
            })
        );
    }

    #[test]
    fn bad_updates_are_refused() {
        let timeout = |t| TaskChanges {
            timeout: Some(t),
            ..Default::default()
        };
        assert!(matches!(
            edit(&task(), false, timeout(60)),
            Err(ApiError::Conflict(_))
        ));
        assert!(matches!(
            edit(&task(), true, timeout(0)),
            Err(ApiError::Invalid(_))
        ));
        // The same timeout on a running task is no change, not a conflict.
        assert!(edit(&task(), false, timeout(3600)).unwrap().1.is_empty());
        let rename = |n: &str| TaskChanges {
            name: Some(n.into()),
            ..Default::default()
        };
        assert!(edit(&task(), true, rename("   ")).is_err());
        assert!(edit(&task(), true, rename(&"x".repeat(201))).is_err());
    }
}

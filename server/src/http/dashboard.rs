//! The dashboard's figures: what runs now, the last runs, today's counts
//! by status and the workflow runs in progress.

use app::api::ApiError;
use app::model::{Dashboard, ExecutionStatus};

use crate::db::{executions as store, workflows as wf_store};
use crate::error::OrInternal;
use crate::state::AppState;

pub async fn dashboard(state: &AppState) -> Result<Dashboard, ApiError> {
    let mut active = Vec::new();
    for status in [
        ExecutionStatus::Running,
        ExecutionStatus::Paused,
        ExecutionStatus::Queued,
    ] {
        let filter = store::Filter {
            status: Some(status),
            ..Default::default()
        };
        active.extend(state.executions.list(&filter, 50, 0).await?.items);
    }
    active.sort_by_key(|e| e.created_at);
    let recent = state
        .executions
        .list(&store::Filter::default(), 10, 0)
        .await?
        .items;
    let midnight = chrono::Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp_millis())
        .unwrap_or(0);
    let today = store::count_by_status(&state.db, midnight)
        .await
        .or_internal("counting executions")?
        .into_iter()
        .map(|(s, n)| (s, n.max(0) as u64))
        .collect();
    let runs = state
        .workflows
        .list_runs(&wf_store::RunFilter {
            active: true,
            ..Default::default()
        })
        .await?;
    Ok(Dashboard {
        active,
        recent,
        today,
        runs,
    })
}

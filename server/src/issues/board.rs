//! The issue board: open issues and those closed lately, each with the
//! newest thing that ran on it, sorted into columns by `app::model::board`.

use std::collections::HashMap;

use app::api::ApiError;
use app::model::{
    Board, BoardCard, BoardQuery, IssueState, LatestRun, BOARD_DONE_DAYS, BOARD_DONE_LIMIT,
    BOARD_OPEN_LIMIT,
};

use super::{clean_optional, store, to_issue, Issues};
use crate::error::OrInternal;

impl Issues {
    pub async fn board(&self, query: BoardQuery, now_ms: i64) -> Result<Board, ApiError> {
        let db = &self.inner.db;
        let open = store::IssueFilter {
            state: Some(IssueState::Open),
            repository_id: query.repository_id.map(|r| r.to_string()),
            label: clean_optional(query.label),
            text: None,
            updated_since: None,
        };
        let done = store::IssueFilter {
            state: Some(IssueState::Closed),
            updated_since: Some(now_ms - BOARD_DONE_DAYS * 86_400_000),
            ..open.clone()
        };
        let mut rows = store::list_issues(db, &open, i64::from(BOARD_OPEN_LIMIT), 0)
            .await
            .or_internal("listing the board's issues")?;
        let open_total = store::count_issues(db, &open)
            .await
            .or_internal("counting the board's issues")?;
        let shown_open = rows.len() as i64;
        rows.extend(
            store::list_issues(db, &done, i64::from(BOARD_DONE_LIMIT), 0)
                .await
                .or_internal("listing the board's closed issues")?,
        );
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let mut runs: HashMap<String, _> = self
            .inner
            .workflows
            .latest_on_issues(&ids)
            .await?
            .into_iter()
            .filter_map(|r| Some((r.issue.as_ref()?.id.to_string(), r)))
            .collect();
        let mut agents: HashMap<String, _> = self
            .inner
            .executions
            .latest_on_issues(&ids)
            .await?
            .into_iter()
            .filter_map(|e| Some((e.issue.as_ref()?.id.to_string(), e)))
            .collect();
        let cards = rows
            .into_iter()
            .map(|row| {
                let latest = LatestRun::newest(runs.remove(&row.id), agents.remove(&row.id));
                Ok(BoardCard::new(to_issue(row)?, latest))
            })
            .collect::<Result<_, ApiError>>()?;
        Ok(Board {
            cards,
            open_not_shown: (open_total - shown_open).max(0) as u64,
        })
    }
}

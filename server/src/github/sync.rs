//! Issues flow in: the initial import of open issues (every page), then
//! polling with conditional requests (`If-None-Match`), for servers no
//! webhook can reach. Webhooks (see `webhook`) do the same live.

use crate::error::internal;
use app::api::ApiError;
use app::model::SyncReport;
use http::header::{ETAG, IF_NONE_MATCH};
use http::{HeaderMap, HeaderValue, StatusCode};
use octocrab::{FromResponse, Page};

use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::{describe, Connected, GhIssue, GitHub};
use crate::db::{self, deliveries, repositories as store, Db};
use crate::issues::{Issues, Mirrored};
use crate::workflows::Workflows;

/// Issues flowing in from GitHub: import, polling and webhook deliveries
/// (see `webhook`), each applied through [`IssueSync::mirror`].
#[derive(Clone)]
pub struct IssueSync {
    pub(super) github: GitHub,
    pub(super) issues: Issues,
    /// For `/yagura run` comments.
    pub(super) workflows: Workflows,
    pub(super) db: Db,
    tasks: TaskTracker,
}

/// Polls look at issues updated since the last change seen, less this
/// margin for clock skew between GitHub and us.
const SKEW_MS: i64 = 60_000;

/// The poll state kept in `repositories.github_etag`: `since_ms etag`.
fn parse_poll_state(value: Option<&str>) -> (Option<i64>, Option<String>) {
    match value.and_then(|v| v.split_once(' ')) {
        Some((since, etag)) => (since.parse().ok(), Some(etag.to_string())),
        None => (None, None),
    }
}

impl IssueSync {
    pub fn new(
        github: GitHub,
        issues: Issues,
        workflows: Workflows,
        db: Db,
        tasks: TaskTracker,
    ) -> Self {
        IssueSync {
            github,
            issues,
            workflows,
            db,
            tasks,
        }
    }

    async fn connected(&self, repo_id: &str) -> Result<Connected, ApiError> {
        match self.github.connected(repo_id).await {
            Ok(Some(c)) => Ok(c),
            Ok(None) => Err(ApiError::Conflict(
                "the repository is not connected to GitHub".into(),
            )),
            Err(e) => Err(internal("opening a GitHub connection", e)),
        }
    }

    async fn apply(
        &self,
        repo_id: &str,
        issues: &[GhIssue],
        triggers: bool,
        report: &mut SyncReport,
    ) -> Result<(), ApiError> {
        for issue in issues.iter().filter(|i| i.pull_request.is_none()) {
            match self.mirror(repo_id, issue, "github", triggers).await? {
                Mirrored::Created(_) => report.created += 1,
                Mirrored::Updated => report.updated += 1,
                Mirrored::Unchanged => {}
            }
        }
        Ok(())
    }

    /// Imports every open issue (following GitHub's pages), then sets the
    /// poll state so polling continues from here. Old labels start nothing.
    pub async fn import(&self, repo_id: &str) -> Result<SyncReport, ApiError> {
        let c = self.connected(repo_id).await?;
        let started = db::now_ms();
        let mut report = SyncReport::default();
        let result: Result<(), ApiError> = async {
            let mut page: Page<GhIssue> = c
                .client
                .get(
                    format!("/repos/{}/{}/issues", c.owner, c.name),
                    Some(&[("state", "open"), ("per_page", "100")]),
                )
                .await
                .map_err(|e| ApiError::Upstream(describe(&e)))?;
            // A bound on pages guards against a server that links forever.
            for _ in 0..1000 {
                let items = page.take_items();
                self.apply(repo_id, &items, false, &mut report).await?;
                match next_page(&c, &page).await? {
                    Some(next) => page = next,
                    None => break,
                }
            }
            Ok(())
        }
        .await;
        let poll_state = format!("{} -", started - SKEW_MS);
        self.record(repo_id, &result, Some(&poll_state)).await;
        result.map(|_| report)
    }

    /// One conditional poll: issues updated since the last change seen. A
    /// 304 costs GitHub nothing against the rate limit.
    pub async fn poll(&self, repo_id: &str) -> Result<SyncReport, ApiError> {
        let c = self.connected(repo_id).await?;
        let (since, etag) = parse_poll_state(c.repo.github_etag.as_deref());
        let Some(since) = since else {
            // Never imported: the first sync is the import.
            return self.import(repo_id).await;
        };
        let since_iso = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(since)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let uri = format!(
            "{}/repos/{}/{}/issues?state=all&sort=updated&direction=desc&per_page=100&since={}",
            c.api_url, c.owner, c.name, since_iso
        );
        let mut headers = HeaderMap::new();
        if let Some(value) = etag
            .as_deref()
            .filter(|e| *e != "-")
            .and_then(|e| HeaderValue::from_str(e).ok())
        {
            headers.insert(IF_NONE_MATCH, value);
        }
        let mut report = SyncReport::default();
        let mut new_state = None;
        let result: Result<(), ApiError> = async {
            let response = c
                .client
                ._get_with_headers(uri.as_str(), Some(headers))
                .await
                .map_err(|e| ApiError::Upstream(describe(&e)))?;
            if response.status() == StatusCode::NOT_MODIFIED {
                report.not_modified = true;
                return Ok(());
            }
            let etag = response
                .headers()
                .get(ETAG)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let response = octocrab::map_github_error(response)
                .await
                .map_err(|e| ApiError::Upstream(describe(&e)))?;
            let mut page = Page::<GhIssue>::from_response(response)
                .await
                .map_err(|e| ApiError::Upstream(describe(&e)))?;
            // The newest change seen, by GitHub's clock.
            let mut newest: Option<i64> = None;
            for _ in 0..100 {
                let items = page.take_items();
                for item in &items {
                    let at = item
                        .updated_at
                        .as_deref()
                        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                        .map(|t| t.timestamp_millis());
                    newest = newest.max(at);
                }
                self.apply(repo_id, &items, true, &mut report).await?;
                match next_page(&c, &page).await? {
                    Some(next) => page = next,
                    None => break,
                }
            }
            // The next poll asks for what changed since the newest change seen
            // (GitHub's `since` includes that instant, so the list repeats its
            // last items). Once that window holds nothing new, the URL stays and
            // its ETag is kept: GitHub answers 304 until something changes.
            // Newest first: any change moves an issue to the first page, which
            // the ETag covers.
            let next_since = newest.unwrap_or(since).max(since);
            new_state = Some(
                if next_since == since && report.created + report.updated == 0 {
                    format!("{since} {}", etag.unwrap_or_else(|| "-".into()))
                } else {
                    format!("{next_since} -")
                },
            );
            Ok(())
        }
        .await;
        self.record(repo_id, &result, new_state.as_deref()).await;
        result.map(|_| report)
    }

    async fn record(&self, repo_id: &str, result: &Result<(), ApiError>, poll_state: Option<&str>) {
        let error = result.as_ref().err().map(|e| e.to_string());
        let ok = result.is_ok();
        if let Err(e) = store::set_sync_result(
            &self.db,
            repo_id,
            poll_state.filter(|_| ok),
            ok.then(db::now_ms),
            error.as_deref(),
        )
        .await
        {
            tracing::error!(error = ?e, "cannot record a sync");
        }
    }

    /// Imports a newly connected repository's open issues in the background
    /// (the outcome shows on the repository: last sync or its error).
    pub fn start_import(&self, repo_id: &str) {
        let sync = self.clone();
        let repo_id = repo_id.to_string();
        self.tasks.spawn(async move {
        match sync.import(&repo_id).await {
            Ok(r) => tracing::info!(repository = %repo_id, created = r.created, updated = r.updated, "imported issues from GitHub"),
            Err(e) => tracing::warn!(repository = %repo_id, error = %e, "importing issues from GitHub failed"),
        }
    });
    }

    /// Polls every connected repository at the configured interval, until
    /// shutdown, and forgets webhook deliveries older than 30 days.
    pub fn start(&self, shutdown: CancellationToken) {
        let interval = self.github.config().poll_interval;
        if interval.is_zero() {
            return;
        }
        let sync = self.clone();
        self.tasks.spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(interval) => {}
            }
            if let Err(e) =
                deliveries::prune_deliveries(&sync.db, db::now_ms() - 30 * 24 * 3600 * 1000).await
            {
                tracing::warn!(error = %e, "cannot prune old webhook deliveries");
            }
            let repos = match store::connected(&sync.db).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = ?e, "cannot list connected repositories");
                    continue;
                }
            };
            for repo in repos {
                match sync.poll(&repo.id).await {
                    Ok(r) if r.created + r.updated > 0 => {
                        tracing::info!(repository = %repo.name, created = r.created, updated = r.updated, "synced issues from GitHub")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(repository = %repo.name, error = %e, "GitHub sync failed"),
                }
            }
        }
    });
    }
}

/// The page GitHub's `next` link points to, if any.
async fn next_page(c: &Connected, page: &Page<GhIssue>) -> Result<Option<Page<GhIssue>>, ApiError> {
    c.client
        .get_page::<GhIssue>(&page.next)
        .await
        .map_err(|e| ApiError::Upstream(describe(&e)))
}

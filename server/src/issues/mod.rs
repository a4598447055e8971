//! Issues: numbered per repository, bodies in Markdown ([`markdown`]), the
//! `issue.created` / `issue.updated` workspace events, and the workflows an
//! issue's new label or assignee triggers.
//!
//! An issue of a repository with an upstream (a connected GitHub twin) is
//! changed there first and mirrored back ([`Upstream`], implemented by
//! `crate::github`); mirroring is a compare-and-swap on the row, so a
//! webhook and a poll carrying one change apply (and trigger) it once.

mod board;
pub mod markdown;

use std::sync::Arc;

use app::api::ApiError;
use app::model::{
    normalise_labels, Issue, IssueDetail, IssueId, IssueInput, IssuePage, IssueQuery, IssueState,
    IssueUpdate, RepositoryId, User, WorkspaceEvent,
};

use crate::db::Json;

use crate::db::{self, executions as exec_store, issues as store, workflows as wf_store, Db};
use crate::error::OrInternal;
use crate::events::{Broadcast, Hub};
use crate::executions::{Executions, IssueFacts, Origin};
use crate::workflows::Workflows;

pub use markdown::render_markdown;
pub use store::IssueRow;

/// A new issue's fields, checked.
#[derive(Clone, Debug)]
pub struct NewIssueFields {
    pub title: String,
    pub body: String,
    pub labels: Vec<String>,
    pub assignee: Option<String>,
}

/// The fields of an edit that change, checked.
#[derive(Clone, Debug, Default)]
pub struct IssuePatch {
    pub title: Option<String>,
    pub body: Option<String>,
    pub state: Option<IssueState>,
    pub labels: Option<Vec<String>>,
    /// `Some(None)` removes the assignee.
    pub assignee: Option<Option<String>>,
}

/// An issue as its upstream has it, to be mirrored under its number.
#[derive(Clone, Debug)]
pub struct MirrorInput {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub state: IssueState,
    pub labels: Vec<String>,
    pub assignee: Option<String>,
    /// Who opened it (`github:<login>`), when known.
    pub author: Option<String>,
    pub html_url: Option<String>,
    /// The upstream's own change time (RFC 3339): orders payloads that
    /// arrive out of order.
    pub updated_at: Option<String>,
}

/// Where issues of some repositories really live. An issue of such a
/// repository is made or changed there first, and the answer is mirrored.
#[async_trait::async_trait]
pub trait Upstream: Send + Sync + 'static {
    /// Creates the issue upstream; `None` when the repository has no upstream.
    async fn create(
        &self,
        repository_id: &str,
        issue: &NewIssueFields,
    ) -> Result<Option<MirrorInput>, ApiError>;
    /// Changes issue `number` upstream; `None` when the repository has no upstream.
    async fn update(
        &self,
        repository_id: &str,
        number: i64,
        patch: &IssuePatch,
    ) -> Result<Option<MirrorInput>, ApiError>;
}

/// What mirroring an upstream issue did.
#[derive(Debug, Clone)]
pub enum Mirrored {
    /// A new issue (no trigger fired: the caller knows whether its author
    /// could have set its labels).
    Created(Box<IssueRow>),
    Updated,
    Unchanged,
}

#[derive(Clone)]
pub struct Issues {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    hub: Arc<Hub>,
    executions: Executions,
    workflows: Workflows,
    upstream: Arc<dyn Upstream>,
}

pub fn to_issue(row: IssueRow) -> Result<Issue, ApiError> {
    Ok(Issue {
        id: row.id.parse().or_internal("stored issue id")?,
        repository_id: row
            .repository_id
            .parse()
            .or_internal("stored repository id")?,
        repository_name: row.repository_name,
        number: row.number.max(0) as u64,
        body_html: render_markdown(&row.body),
        title: row.title,
        body: row.body,
        state: row.state,
        labels: row.labels.0,
        assignee: row.assignee,
        created_by: row.created_by,
        created_at: row.created_at,
        updated_at: row.updated_at,
        html_url: row.html_url,
    })
}

fn clean_optional(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn check_title(title: &str) -> Result<String, ApiError> {
    let title = title.trim();
    if title.is_empty() {
        return Err(ApiError::Invalid("the title must not be empty".into()));
    }
    if title.chars().count() > 200 {
        return Err(ApiError::Invalid(
            "the title is longer than 200 characters".into(),
        ));
    }
    Ok(title.to_string())
}

fn check_body(body: &str) -> Result<(), ApiError> {
    if body.len() > 256 * 1024 {
        return Err(ApiError::Invalid("the body is longer than 256 KiB".into()));
    }
    Ok(())
}

/// Labels in `after` that `before` did not have (ignoring case).
fn added_labels(before: &[String], after: &[String]) -> Vec<String> {
    after
        .iter()
        .filter(|l| !before.iter().any(|b| b.eq_ignore_ascii_case(l)))
        .cloned()
        .collect()
}

impl Issues {
    pub fn new(
        db: Db,
        hub: Arc<Hub>,
        executions: Executions,
        workflows: Workflows,
        upstream: Arc<dyn Upstream>,
    ) -> Self {
        Issues {
            inner: Arc::new(Inner {
                db,
                hub,
                executions,
                workflows,
                upstream,
            }),
        }
    }

    pub async fn list(&self, query: IssueQuery) -> Result<IssuePage, ApiError> {
        let filter = store::IssueFilter {
            state: query.state,
            repository_id: query.repository_id.map(|r| r.to_string()),
            label: clean_optional(query.label),
            text: clean_optional(query.text),
            updated_since: None,
        };
        let limit = i64::from(if query.limit == 0 {
            50
        } else {
            query.limit.min(200)
        });
        let rows = store::list_issues(&self.inner.db, &filter, limit, i64::from(query.offset))
            .await
            .or_internal("listing issues")?;
        let total = store::count_issues(&self.inner.db, &filter)
            .await
            .or_internal("counting issues")?;
        Ok(IssuePage {
            items: rows.into_iter().map(to_issue).collect::<Result<_, _>>()?,
            total: total.max(0) as u64,
        })
    }

    pub async fn find_row(&self, id: IssueId) -> Result<IssueRow, ApiError> {
        store::find_issue(&self.inner.db, &id.to_string())
            .await
            .or_internal("reading an issue")?
            .ok_or(ApiError::NotFound)
    }

    /// The issue of `repository_id` numbered `number`, if there is one.
    pub async fn find_by_number(
        &self,
        repository_id: &str,
        number: i64,
    ) -> Result<Option<IssueRow>, ApiError> {
        let Some(id) = store::find_issue_id(&self.inner.db, repository_id, number)
            .await
            .or_internal("finding an issue")?
        else {
            return Ok(None);
        };
        self.find_row(id.parse().or_internal("stored issue id")?)
            .await
            .map(Some)
    }

    /// An issue with the executions and workflow runs on it.
    pub async fn detail(&self, id: IssueId) -> Result<IssueDetail, ApiError> {
        let issue = to_issue(self.find_row(id).await?)?;
        let filter = exec_store::Filter {
            issue_id: Some(id.to_string()),
            ..Default::default()
        };
        let executions = self.inner.executions.list(&filter, 100, 0).await?.items;
        let runs = self
            .inner
            .workflows
            .list_runs(&wf_store::RunFilter {
                issue_id: Some(id.to_string()),
                ..Default::default()
            })
            .await?;
        Ok(IssueDetail {
            issue,
            executions,
            runs,
        })
    }

    /// What an execution started on issue `id` (if any) needs to know of it.
    pub async fn origin(&self, id: Option<IssueId>) -> Result<Origin, ApiError> {
        let Some(id) = id else {
            return Ok(Origin::default());
        };
        let row = match self.find_row(id).await {
            Err(ApiError::NotFound) => {
                return Err(ApiError::Invalid("there is no issue with that id".into()))
            }
            other => other?,
        };
        Ok(Origin {
            issue: Some(IssueFacts {
                id,
                title: row.title,
                body: row.body,
            }),
            ..Origin::default()
        })
    }

    /// Creates an issue: upstream first when its repository has one (then
    /// mirrored under the upstream's number), else here.
    pub async fn create(&self, user: &User, input: IssueInput) -> Result<IssueDetail, ApiError> {
        let fields = NewIssueFields {
            title: check_title(&input.title)?,
            body: {
                check_body(&input.body)?;
                input.body
            },
            labels: normalise_labels(&input.labels).map_err(ApiError::Invalid)?,
            assignee: clean_optional(input.assignee),
        };
        let repository_id = input.repository_id.to_string();
        if let Some(mirror) = self.inner.upstream.create(&repository_id, &fields).await? {
            let number = mirror.number as i64;
            if let Mirrored::Created(row) = self
                .mirror(&repository_id, &mirror, &user.username, true)
                .await?
            {
                // A member made it: its labels may start what they trigger.
                self.fire_triggers(
                    &user.username,
                    &row,
                    &mirror.labels,
                    mirror.assignee.as_deref(),
                )
                .await;
            }
            let row = self
                .find_by_number(&repository_id, number)
                .await?
                .ok_or(ApiError::NotFound)?;
            return self
                .detail(row.id.parse().or_internal("stored issue id")?)
                .await;
        }
        let id = IssueId(uuid::Uuid::new_v4());
        let now = db::now_ms();
        let number = store::insert_issue(
            &self.inner.db,
            &store::NewIssue {
                id: &id.to_string(),
                repository_id: &repository_id,
                title: &fields.title,
                body: &fields.body,
                labels: &fields.labels,
                assignee: fields.assignee.as_deref(),
                created_by: &user.username,
                now,
            },
        )
        .await
        .or_internal("creating an issue")?
        .ok_or_else(|| ApiError::Invalid("there is no repository with that id".into()))?;
        self.publish(WorkspaceEvent::IssueCreated {
            issue_id: id,
            repository_id: input.repository_id,
            number: number.max(0) as u64,
            title: fields.title.clone(),
            at_ms: now,
        });
        let row = self.find_row(id).await?;
        self.fire_triggers(
            &user.username,
            &row,
            &fields.labels,
            fields.assignee.as_deref(),
        )
        .await;
        self.detail(id).await
    }

    /// Changes an issue: upstream first when it is mirrored, else here.
    pub async fn update(
        &self,
        user: &User,
        id: IssueId,
        update: IssueUpdate,
    ) -> Result<IssueDetail, ApiError> {
        let mut row = self.find_row(id).await?;
        let patch = IssuePatch {
            title: update.title.as_deref().map(check_title).transpose()?,
            body: match update.body {
                Some(body) => {
                    check_body(&body)?;
                    Some(body)
                }
                None => None,
            },
            state: update.state,
            labels: update
                .labels
                .as_deref()
                .map(normalise_labels)
                .transpose()
                .map_err(ApiError::Invalid)?,
            assignee: update.assignee.map(|a| clean_optional(Some(a))),
        };
        if row.html_url.is_some() {
            if let Some(mirror) = self
                .inner
                .upstream
                .update(&row.repository_id, row.number, &patch)
                .await?
            {
                self.mirror(&row.repository_id, &mirror, &user.username, true)
                    .await?;
                return self.detail(id).await;
            }
        }
        let before = row.labels.0.clone();
        if let Some(title) = patch.title {
            row.title = title;
        }
        if let Some(body) = patch.body {
            row.body = body;
        }
        if let Some(s) = patch.state {
            row.state = s;
        }
        let mut added = Vec::new();
        if let Some(labels) = &patch.labels {
            added = added_labels(&before, labels);
            row.labels = Json(labels.clone());
        }
        let mut new_assignee = None;
        if let Some(assignee) = patch.assignee {
            if assignee.is_some() && assignee != row.assignee {
                new_assignee = assignee.clone();
            }
            row.assignee = assignee;
        }
        row.updated_at = db::now_ms();
        store::update_issue(&self.inner.db, &row)
            .await
            .or_internal("updating an issue")?;
        let issue = self.publish_updated(&row)?;
        if issue.state == IssueState::Open {
            self.fire_triggers(&user.username, &row, &added, new_assignee.as_deref())
                .await;
        }
        self.detail(id).await
    }

    fn publish(&self, event: WorkspaceEvent) {
        self.inner.hub.publish_workspace(Broadcast::new(event));
    }

    /// Publishes `issue.updated` for a row just written; answers the issue.
    fn publish_updated(&self, row: &IssueRow) -> Result<Issue, ApiError> {
        let issue = to_issue(row.clone())?;
        self.publish(WorkspaceEvent::IssueUpdated {
            issue_id: issue.id,
            repository_id: issue.repository_id,
            number: issue.number,
            title: issue.title.clone(),
            state: issue.state,
            labels: issue.labels.clone(),
            at_ms: row.updated_at,
        });
        Ok(issue)
    }

    /// Starts the workflows an issue's new labels or new assignee trigger.
    pub async fn fire_triggers(
        &self,
        actor: &str,
        issue: &IssueRow,
        added: &[String],
        new_assignee: Option<&str>,
    ) {
        self.inner
            .workflows
            .trigger(actor, issue, added, new_assignee)
            .await;
    }

    /// Creates or updates the local copy of an upstream issue (under its
    /// number) and publishes `issue.created` / `issue.updated`. With
    /// `triggers`, a change that adds a label or an assignee starts the
    /// workflows it triggers (an import passes false: old labels start
    /// nothing). A new issue starts nothing here: see [`Mirrored::Created`].
    pub async fn mirror(
        &self,
        repository_id: &str,
        input: &MirrorInput,
        actor: &str,
        triggers: bool,
    ) -> Result<Mirrored, ApiError> {
        let db = &self.inner.db;
        let now = db::now_ms();
        let number = input.number as i64;
        let existing = store::find_issue_id(db, repository_id, number)
            .await
            .or_internal("finding a mirrored issue")?;
        if existing.is_none() {
            let id = IssueId(uuid::Uuid::new_v4());
            let author = input.author.clone().unwrap_or_else(|| actor.to_string());
            let inserted = store::insert_mirrored(
                db,
                &store::MirroredIssue {
                    id: &id.to_string(),
                    repository_id,
                    number,
                    title: &input.title,
                    body: &input.body,
                    state: input.state,
                    labels: &input.labels,
                    assignee: input.assignee.as_deref(),
                    created_by: &author,
                    html_url: input.html_url.as_deref(),
                    github_updated_at: input.updated_at.as_deref(),
                    now,
                },
            )
            .await
            .or_internal("storing a mirrored issue")?;
            if inserted {
                let repository: RepositoryId =
                    repository_id.parse().or_internal("repository id")?;
                self.publish(WorkspaceEvent::IssueCreated {
                    issue_id: id,
                    repository_id: repository,
                    number: input.number,
                    title: input.title.clone(),
                    at_ms: now,
                });
                return Ok(Mirrored::Created(Box::new(self.find_row(id).await?)));
            }
        }
        // It exists (or appeared concurrently): update it.
        let id: IssueId = match existing {
            Some(id) => id,
            None => store::find_issue_id(db, repository_id, number)
                .await
                .or_internal("finding a mirrored issue")?
                .ok_or(ApiError::NotFound)?,
        }
        .parse()
        .or_internal("stored issue id")?;
        // Read, compare, write only if nobody wrote in between: a webhook and
        // a poll (or two deliveries) carrying one change apply (and trigger) it
        // once, and an older payload never overwrites a newer one.
        let mut applied = None;
        for _ in 0..5 {
            let mut row = self.find_row(id).await?;
            let before = row.labels.0.clone();
            let unchanged = row.title == input.title
                && row.body == input.body
                && row.state == input.state
                && before == input.labels
                && row.assignee == input.assignee;
            if unchanged {
                if let Some(url) = input.html_url.as_deref().filter(|_| row.html_url.is_none()) {
                    let _ = store::set_issue_html_url(db, &row.id, url).await;
                }
                return Ok(Mirrored::Unchanged);
            }
            let added = added_labels(&before, &input.labels);
            let new_assignee = input
                .assignee
                .as_deref()
                .filter(|a| {
                    row.assignee
                        .as_deref()
                        .map(|b| !b.eq_ignore_ascii_case(a))
                        .unwrap_or(true)
                })
                .map(str::to_string);
            let expected = row.updated_at;
            row.title = input.title.clone();
            row.body = input.body.clone();
            row.state = input.state;
            row.labels = Json(input.labels.clone());
            row.assignee = input.assignee.clone();
            row.updated_at = now.max(expected + 1);
            if input.html_url.is_some() {
                row.html_url = input.html_url.clone();
            }
            match store::update_mirrored(db, &row, expected, input.updated_at.as_deref())
                .await
                .or_internal("updating a mirrored issue")?
            {
                store::MirrorUpdate::Done => {
                    applied = Some((row, added, new_assignee));
                    break;
                }
                store::MirrorUpdate::Stale => return Ok(Mirrored::Unchanged),
                store::MirrorUpdate::Raced => continue,
            }
        }
        let Some((row, added, new_assignee)) = applied else {
            return Err(ApiError::Conflict(
                "the issue kept changing while it was being updated; try again".into(),
            ));
        };
        let issue = self.publish_updated(&row)?;
        if triggers && issue.state == IssueState::Open {
            self.fire_triggers(actor, &row, &added, new_assignee.as_deref())
                .await;
        }
        Ok(Mirrored::Updated)
    }
}

#[cfg(test)]
mod tests {
    use super::added_labels;

    #[test]
    fn added_labels_ignore_case_and_order() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            added_labels(&s(&["bug", "Ready"]), &s(&["ready", "BUG", "agent"])),
            s(&["agent"])
        );
        assert!(added_labels(&s(&["a"]), &s(&[])).is_empty());
    }
}

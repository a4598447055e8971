//! Repositories and issues: validation, Markdown rendering, the
//! `issue.created` / `issue.updated` events, and label triggers.

use app::api::ApiError;
use app::model::{
    normalise_labels, Issue, IssueDetail, IssueId, IssueInput, IssuePage, IssueQuery, IssueState,
    IssueUpdate, Repository, RepositoryId, RepositoryInput, User,
};
use app::protocol::native::ServerMessage;
use chrono::{DateTime, Utc};
use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag};

use crate::db::{self, executions as exec_store, issues as store, workflows as wf_store};
use crate::events::{Audience, Broadcast};
use crate::http::error::internal;
use crate::state::AppState;

fn to_repository(row: store::RepositoryRow) -> Result<Repository, ApiError> {
    Ok(Repository {
        id: row
            .id
            .parse()
            .map_err(|e| internal("stored repository id", e))?,
        name: row.name,
        github: row.github,
        local_path: row.local_path,
        open_issues: row.open_issues.max(0) as u64,
        created_at: row.created_at,
        connected: row.connected,
        github_auth: row.github_auth,
        api_base_url: row.github_api_url,
        default_branch: row.default_branch,
        synced_at: row.github_synced_at,
        sync_error: row.github_error,
        disk_bytes: None,
        keep_worktrees: row.keep_worktrees,
    })
}

pub fn to_issue(row: store::IssueRow) -> Result<Issue, ApiError> {
    Ok(Issue {
        id: row.id.parse().map_err(|e| internal("stored issue id", e))?,
        repository_id: row
            .repository_id
            .parse()
            .map_err(|e| internal("stored repository id", e))?,
        repository_name: row.repository_name,
        number: row.number.max(0) as u64,
        body_html: render_markdown(&row.body),
        title: row.title,
        body: row.body,
        state: row.state.parse().unwrap_or_default(),
        labels: serde_json::from_str(&row.labels).unwrap_or_default(),
        assignee: row.assignee,
        created_by: row.created_by,
        created_at: row.created_at,
        updated_at: row.updated_at,
        html_url: row.html_url,
    })
}

/// Markdown to HTML that cannot run script: raw HTML is shown as text,
/// and links or images with a scheme other than http(s) or mailto lose it.
pub fn render_markdown(source: &str) -> String {
    let parser = Parser::new_ext(
        source,
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS,
    )
    .map(|event| match event {
        Event::Html(text) | Event::InlineHtml(text) => Event::Text(text),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: safe_url(dest_url),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Image {
            link_type,
            dest_url: safe_url(dest_url),
            title,
            id,
        }),
        other => other,
    });
    let mut out = String::with_capacity(source.len() * 3 / 2);
    html::push_html(&mut out, parser);
    out
}

fn safe_url(url: CowStr<'_>) -> CowStr<'_> {
    let lower = url.trim().to_ascii_lowercase();
    let scheme = lower
        .split_once(':')
        .map(|(s, _)| s)
        .filter(|s| !s.contains('/') && !s.contains('?') && !s.contains('#'));
    match scheme {
        None | Some("http") | Some("https") | Some("mailto") => url,
        Some(_) => CowStr::Borrowed("#"),
    }
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

/// The repositories; with `disk`, each one's disk use too (measured at
/// most once a minute, so lists that do not show it skip it).
pub async fn list_repositories(state: &AppState, disk: bool) -> Result<Vec<Repository>, ApiError> {
    let rows = store::list_repositories(&state.db)
        .await
        .map_err(|e| internal("listing repositories", e))?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let id = row.id.clone();
        let mut repo = to_repository(row)?;
        if disk && (repo.connected || repo.local_path.is_some()) {
            if let Ok(Some(full)) = crate::db::github::find_repo(&state.db, &id).await {
                repo.disk_bytes = state.worktrees.disk_usage(&full).await;
            }
        }
        out.push(repo);
    }
    Ok(out)
}

pub async fn get_repository(state: &AppState, id: RepositoryId) -> Result<Repository, ApiError> {
    store::find_repository(&state.db, &id.to_string())
        .await
        .map_err(|e| internal("reading a repository", e))?
        .map(to_repository)
        .unwrap_or(Err(ApiError::NotFound))
}

pub async fn create_repository(
    state: &AppState,
    input: RepositoryInput,
) -> Result<Repository, ApiError> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::Invalid(
            "a repository name must be 1–100 characters".into(),
        ));
    }
    let (github, connect) = match input.github {
        None => (None, None),
        Some(app::model::GithubSpec::Name(g)) => (clean_optional(Some(g)), None),
        Some(app::model::GithubSpec::Connect(c)) => {
            let checked = crate::github::GitHub::credentials_of(&c)?;
            crate::github::service::check_connectable(
                state,
                None,
                &format!("{}/{}", c.owner.trim(), c.repo.trim()),
            )
            .await?;
            (
                Some(format!("{}/{}", c.owner.trim(), c.repo.trim())),
                Some(checked),
            )
        }
    };
    if let Some(g) = &github {
        let valid = g.split('/').count() == 2
            && g.split('/').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            });
        if !valid {
            return Err(ApiError::Invalid(format!(
                "{g:?} is not a GitHub repository (owner/name)"
            )));
        }
    }
    let local_path = clean_optional(input.local_path);
    if let Some(p) = &local_path {
        if !std::path::Path::new(p).is_absolute() {
            return Err(ApiError::Invalid(format!(
                "the local path {p:?} must be absolute"
            )));
        }
    }
    let id = RepositoryId(uuid::Uuid::new_v4());
    store::insert_repository(
        &state.db,
        &id.to_string(),
        name,
        github.as_deref(),
        local_path.as_deref(),
        db::now_ms(),
    )
    .await
    .map_err(|e| {
        if db::is_unique_violation(&e) {
            ApiError::Conflict(format!("a repository called {name:?} exists already"))
        } else {
            internal("creating a repository", e)
        }
    })?;
    if let Some((credentials, api_url)) = connect {
        state
            .github
            .save_connection(&id.to_string(), &credentials, &api_url)
            .await?;
        start_import(state, &id.to_string());
    }
    get_repository(state, id).await
}

/// Imports a newly connected repository's open issues in the background
/// (the outcome shows on the repository: last sync or its error).
pub fn start_import(state: &AppState, repo_id: &str) {
    let state = state.clone();
    let repo_id = repo_id.to_string();
    let tasks = state.tasks.clone();
    tasks.spawn(async move {
        match crate::github::sync::import(&state, &repo_id).await {
            Ok(r) => tracing::info!(repository = %repo_id, created = r.created, updated = r.updated, "imported issues from GitHub"),
            Err(e) => tracing::warn!(repository = %repo_id, error = %e, "importing issues from GitHub failed"),
        }
    });
}

pub async fn list(state: &AppState, query: IssueQuery) -> Result<IssuePage, ApiError> {
    let filter = store::IssueFilter {
        state: query.state.map(|s| s.as_str().to_string()),
        repository_id: query.repository_id.map(|r| r.to_string()),
        label: clean_optional(query.label),
        text: clean_optional(query.text),
    };
    let limit = i64::from(if query.limit == 0 {
        50
    } else {
        query.limit.min(200)
    });
    let rows = store::list_issues(&state.db, &filter, limit, i64::from(query.offset))
        .await
        .map_err(|e| internal("listing issues", e))?;
    let total = store::count_issues(&state.db, &filter)
        .await
        .map_err(|e| internal("counting issues", e))?;
    Ok(IssuePage {
        items: rows.into_iter().map(to_issue).collect::<Result<_, _>>()?,
        total: total.max(0) as u64,
    })
}

pub async fn find_row(state: &AppState, id: IssueId) -> Result<store::IssueRow, ApiError> {
    store::find_issue(&state.db, &id.to_string())
        .await
        .map_err(|e| internal("reading an issue", e))?
        .ok_or(ApiError::NotFound)
}

/// An issue with the executions and workflow runs on it.
pub async fn detail(state: &AppState, id: IssueId) -> Result<IssueDetail, ApiError> {
    let issue = to_issue(find_row(state, id).await?)?;
    let filter = exec_store::Filter {
        issue_id: Some(id.to_string()),
        ..Default::default()
    };
    let executions = state.executions.list(&filter, 100, 0).await?.items;
    let runs = state
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
pub async fn origin(
    state: &AppState,
    id: Option<IssueId>,
) -> Result<crate::executions::Origin, ApiError> {
    let Some(id) = id else {
        return Ok(Default::default());
    };
    let row = match find_row(state, id).await {
        Err(ApiError::NotFound) => {
            return Err(ApiError::Invalid("there is no issue with that id".into()))
        }
        other => other?,
    };
    Ok(crate::executions::Origin {
        issue: Some(crate::executions::IssueFacts {
            id,
            title: row.title,
            body: row.body,
        }),
        workflow_run: None,
        task: None,
    })
}

fn timestamp(ms: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default()
}

pub async fn create(
    state: &AppState,
    user: &User,
    input: IssueInput,
) -> Result<IssueDetail, ApiError> {
    let title = check_title(&input.title)?;
    check_body(&input.body)?;
    let labels = normalise_labels(&input.labels).map_err(ApiError::Invalid)?;
    // A repository mirrored from GitHub: the issue is made there first and
    // mirrored back under GitHub's number.
    let connected = state
        .github
        .connected(&input.repository_id.to_string())
        .await
        .map_err(|e| internal("opening a GitHub connection", e))?;
    if let Some(c) = connected {
        let mut payload =
            serde_json::json!({ "title": title, "body": input.body, "labels": labels });
        if let Some(a) = clean_optional(input.assignee.clone()) {
            payload["assignees"] = serde_json::json!([a]);
        }
        let gh: crate::github::GhIssue = c
            .client
            .post(
                format!("/repos/{}/{}/issues", c.owner, c.name),
                Some(&payload),
            )
            .await
            .map_err(|e| {
                ApiError::Upstream(format!(
                    "GitHub did not take the issue: {}",
                    crate::github::describe(&e)
                ))
            })?;
        mirror(state, &c.repo.id, &gh, &user.username, true).await?;
        let id = crate::db::github::find_issue_id(&state.db, &c.repo.id, gh.number as i64)
            .await
            .map_err(|e| internal("finding a mirrored issue", e))?
            .ok_or(ApiError::NotFound)?;
        return detail(
            state,
            id.parse().map_err(|e| internal("stored issue id", e))?,
        )
        .await;
    }
    let id = IssueId(uuid::Uuid::new_v4());
    let now = db::now_ms();
    let labels_json = serde_json::to_string(&labels).unwrap_or_else(|_| "[]".into());
    let assignee = clean_optional(input.assignee);
    let number = store::insert_issue(
        &state.db,
        &store::NewIssue {
            id: &id.to_string(),
            repository_id: &input.repository_id.to_string(),
            title: &title,
            body: &input.body,
            labels: &labels_json,
            assignee: assignee.as_deref(),
            created_by: &user.username,
            now,
        },
    )
    .await
    .map_err(|e| internal("creating an issue", e))?
    .ok_or_else(|| ApiError::Invalid("there is no repository with that id".into()))?;
    state.executions.hub().publish_workspace(Broadcast::new(
        Audience::Everyone,
        ServerMessage::IssueCreated {
            issue_number: number.max(0) as u64,
            title: title.clone(),
            repository_id: input.repository_id,
            issue_id: id,
            timestamp: timestamp(now),
        },
    ));
    let row = find_row(state, id).await?;
    trigger(state, &user.username, &row, &labels, assignee.as_deref()).await;
    detail(state, id).await
}

pub async fn update(
    state: &AppState,
    user: &User,
    id: IssueId,
    update: IssueUpdate,
) -> Result<IssueDetail, ApiError> {
    let mut row = find_row(state, id).await?;
    if row.html_url.is_some() {
        let connected = state
            .github
            .connected(&row.repository_id)
            .await
            .map_err(|e| internal("opening a GitHub connection", e))?;
        if let Some(c) = connected {
            // Mirrored from GitHub: the change is made there and mirrored back.
            let mut patch = serde_json::Map::new();
            if let Some(title) = &update.title {
                patch.insert("title".into(), check_title(title)?.into());
            }
            if let Some(body) = &update.body {
                check_body(body)?;
                patch.insert("body".into(), body.clone().into());
            }
            if let Some(s) = update.state {
                patch.insert("state".into(), s.as_str().into());
            }
            if let Some(labels) = &update.labels {
                let labels = normalise_labels(labels).map_err(ApiError::Invalid)?;
                patch.insert("labels".into(), serde_json::json!(labels));
            }
            if let Some(assignee) = &update.assignee {
                let a: Vec<String> = clean_optional(Some(assignee.clone())).into_iter().collect();
                patch.insert("assignees".into(), serde_json::json!(a));
            }
            let gh: crate::github::GhIssue = c
                .client
                .patch(
                    format!("/repos/{}/{}/issues/{}", c.owner, c.name, row.number),
                    Some(&serde_json::Value::Object(patch)),
                )
                .await
                .map_err(|e| {
                    ApiError::Upstream(format!(
                        "GitHub did not take the change: {}",
                        crate::github::describe(&e)
                    ))
                })?;
            mirror(state, &c.repo.id, &gh, &user.username, true).await?;
            return detail(state, id).await;
        }
    }
    let before: Vec<String> = serde_json::from_str(&row.labels).unwrap_or_default();
    if let Some(title) = &update.title {
        row.title = check_title(title)?;
    }
    if let Some(body) = update.body {
        check_body(&body)?;
        row.body = body;
    }
    if let Some(s) = update.state {
        row.state = s.as_str().to_string();
    }
    let mut added = Vec::new();
    if let Some(labels) = &update.labels {
        let labels = normalise_labels(labels).map_err(ApiError::Invalid)?;
        added = labels
            .iter()
            .filter(|l| !before.iter().any(|b| b.eq_ignore_ascii_case(l)))
            .cloned()
            .collect();
        row.labels = serde_json::to_string(&labels).unwrap_or_else(|_| "[]".into());
    }
    let mut new_assignee = None;
    if let Some(assignee) = update.assignee {
        let assignee = clean_optional(Some(assignee));
        if assignee.is_some() && assignee != row.assignee {
            new_assignee = assignee.clone();
        }
        row.assignee = assignee;
    }
    row.updated_at = db::now_ms();
    store::update_issue(&state.db, &row)
        .await
        .map_err(|e| internal("updating an issue", e))?;
    let issue = publish_updated(state, &row)?;
    if issue.state == IssueState::Open {
        trigger(state, &user.username, &row, &added, new_assignee.as_deref()).await;
    }
    detail(state, id).await
}

/// Publishes `issue.updated` for a row just written; answers the issue.
fn publish_updated(state: &AppState, row: &store::IssueRow) -> Result<Issue, ApiError> {
    let issue = to_issue(row.clone())?;
    state.executions.hub().publish_workspace(Broadcast::new(
        Audience::Everyone,
        ServerMessage::IssueUpdated {
            issue_number: issue.number,
            title: issue.title.clone(),
            repository_id: issue.repository_id,
            issue_id: issue.id,
            state: issue.state,
            labels: issue.labels.clone(),
            timestamp: timestamp(row.updated_at),
        },
    ));
    Ok(issue)
}

/// Starts the workflows whose trigger label the issue just got, and those
/// triggered by its new assignee. A failure to start one is logged and
/// does not undo the issue's change.
pub async fn trigger(
    state: &AppState,
    actor: &str,
    issue: &store::IssueRow,
    added: &[String],
    new_assignee: Option<&str>,
) {
    let mut found = Vec::new();
    for label in added {
        match state.workflows.triggered_by(label).await {
            Ok(w) => found.extend(w.into_iter().map(|w| (w, format!("label {label}")))),
            Err(e) => tracing::error!(error = ?e, label, "cannot read label triggers"),
        }
    }
    if let Some(login) = new_assignee {
        match state.workflows.triggered_by_assignee(login).await {
            Ok(w) => found.extend(w.into_iter().map(|w| (w, format!("assignee {login}")))),
            Err(e) => tracing::error!(error = ?e, login, "cannot read assignee triggers"),
        }
    }
    for (workflow, cause) in found {
        match state
            .workflows
            .start_run(&workflow, Some(issue.clone()), actor)
            .await
        {
            Ok(run) => {
                tracing::info!(run = %run.id, workflow = %workflow.name, cause, "workflow started by a trigger")
            }
            Err(e) => {
                tracing::warn!(error = ?e, workflow = %workflow.name, cause, "a trigger could not start a run")
            }
        }
    }
}

/// What mirroring a GitHub issue did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mirrored {
    Created,
    Updated,
    Unchanged,
}

/// Creates or updates the local copy of a GitHub issue (under GitHub's
/// number) and publishes `issue.created` / `issue.updated`. With
/// `triggers`, a new label or assignee starts the workflows it triggers
/// (the initial import passes false: old labels start nothing).
pub async fn mirror(
    state: &AppState,
    repository_id: &str,
    gh: &crate::github::GhIssue,
    actor: &str,
    triggers: bool,
) -> Result<Mirrored, ApiError> {
    use crate::db::github as gh_store;
    let title: String = {
        let t = gh.title.trim();
        if t.is_empty() {
            "(no title)".to_string()
        } else {
            t.chars().take(200).collect()
        }
    };
    let mut body = gh.body.clone().unwrap_or_default();
    if body.len() > 256 * 1024 {
        let mut cut = 256 * 1024;
        while !body.is_char_boundary(cut) {
            cut -= 1;
        }
        body.truncate(cut);
    }
    let state_str = if gh.state.eq_ignore_ascii_case("closed") {
        "closed"
    } else {
        "open"
    };
    let mut labels: Vec<String> = Vec::new();
    for l in &gh.labels {
        let l: String = l.name.trim().chars().take(50).collect();
        if !l.is_empty() && !labels.iter().any(|x| x.eq_ignore_ascii_case(&l)) {
            labels.push(l);
        }
    }
    let labels_json = serde_json::to_string(&labels).unwrap_or_else(|_| "[]".into());
    let assignee = gh.assignee.as_ref().map(|a| a.login.clone());
    let now = db::now_ms();
    let existing = gh_store::find_issue_id(&state.db, repository_id, gh.number as i64)
        .await
        .map_err(|e| internal("finding a mirrored issue", e))?;
    if existing.is_none() {
        let id = IssueId(uuid::Uuid::new_v4());
        let author = gh
            .user
            .as_ref()
            .map(|u| format!("github:{}", u.login))
            .unwrap_or_else(|| actor.to_string());
        let inserted = gh_store::insert_mirrored(
            &state.db,
            &gh_store::MirroredIssue {
                id: &id.to_string(),
                repository_id,
                number: gh.number as i64,
                title: &title,
                body: &body,
                state: state_str,
                labels: &labels_json,
                assignee: assignee.as_deref(),
                created_by: &author,
                html_url: gh.html_url.as_deref(),
                github_updated_at: gh.updated_at.as_deref(),
                now,
            },
        )
        .await
        .map_err(|e| internal("storing a mirrored issue", e))?;
        if inserted {
            let repository: RepositoryId = repository_id
                .parse()
                .map_err(|e| internal("repository id", e))?;
            state.executions.hub().publish_workspace(Broadcast::new(
                Audience::Everyone,
                ServerMessage::IssueCreated {
                    issue_number: gh.number,
                    title: title.clone(),
                    repository_id: repository,
                    issue_id: id,
                    timestamp: timestamp(now),
                },
            ));
            if triggers && state_str == "open" && (!labels.is_empty() || assignee.is_some()) {
                // On GitHub only triage and above change labels and
                // assignees, except at creation (issue templates label new
                // issues for anyone): a new issue triggers only when its
                // author could have set them.
                let author = gh
                    .user
                    .as_ref()
                    .map(|u| u.login.clone())
                    .unwrap_or_default();
                let trusted = match state.github.connected(repository_id).await {
                    Ok(Some(c)) if !author.is_empty() => {
                        crate::github::may_triage(&c.role_of(&author).await)
                    }
                    _ => false,
                };
                if trusted {
                    let row = find_row(state, id).await?;
                    trigger(state, actor, &row, &labels, assignee.as_deref()).await;
                } else {
                    tracing::info!(
                        issue = gh.number,
                        author,
                        "new issue's labels start nothing: its author cannot triage the repository"
                    );
                }
            }
            return Ok(Mirrored::Created);
        }
    }
    // It exists (or appeared concurrently): update it.
    let id: IssueId = match existing {
        Some(id) => id.parse().map_err(|e| internal("stored issue id", e))?,
        None => gh_store::find_issue_id(&state.db, repository_id, gh.number as i64)
            .await
            .map_err(|e| internal("finding a mirrored issue", e))?
            .ok_or(ApiError::NotFound)?
            .parse()
            .map_err(|e| internal("stored issue id", e))?,
    };
    // Read, compare, write only if nobody wrote in between: a webhook and
    // a poll (or two deliveries) carrying one change apply (and trigger) it
    // once, and an older payload never overwrites a newer one.
    let mut applied = None;
    for _ in 0..5 {
        let mut row = find_row(state, id).await?;
        let before: Vec<String> = serde_json::from_str(&row.labels).unwrap_or_default();
        let unchanged = row.title == title
            && row.body == body
            && row.state == state_str
            && before == labels
            && row.assignee == assignee;
        if unchanged {
            if let Some(url) = gh.html_url.as_deref().filter(|_| row.html_url.is_none()) {
                let _ = gh_store::set_issue_html_url(&state.db, &row.id, url).await;
            }
            return Ok(Mirrored::Unchanged);
        }
        let added: Vec<String> = labels
            .iter()
            .filter(|l| !before.iter().any(|b| b.eq_ignore_ascii_case(l)))
            .cloned()
            .collect();
        let new_assignee = assignee
            .as_deref()
            .filter(|a| {
                row.assignee
                    .as_deref()
                    .map(|b| !b.eq_ignore_ascii_case(a))
                    .unwrap_or(true)
            })
            .map(str::to_string);
        let expected = row.updated_at;
        row.title = title.clone();
        row.body = body.clone();
        row.state = state_str.to_string();
        row.labels = labels_json.clone();
        row.assignee = assignee.clone();
        row.updated_at = now.max(expected + 1);
        if gh.html_url.is_some() {
            row.html_url = gh.html_url.clone();
        }
        match gh_store::update_mirrored(&state.db, &row, expected, gh.updated_at.as_deref())
            .await
            .map_err(|e| internal("updating a mirrored issue", e))?
        {
            gh_store::MirrorUpdate::Done => {
                applied = Some((row, added, new_assignee));
                break;
            }
            gh_store::MirrorUpdate::Stale => return Ok(Mirrored::Unchanged),
            gh_store::MirrorUpdate::Raced => continue,
        }
    }
    let Some((row, added, new_assignee)) = applied else {
        return Err(ApiError::Conflict(
            "the issue kept changing while it was being updated; try again".into(),
        ));
    };
    let issue = publish_updated(state, &row)?;
    if triggers && issue.state == IssueState::Open {
        trigger(state, actor, &row, &added, new_assignee.as_deref()).await;
    }
    Ok(Mirrored::Updated)
}

#[cfg(test)]
mod tests {
    use super::render_markdown;

    #[test]
    fn markdown_cannot_carry_script() {
        let html = render_markdown(
            "# Hi\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1)) [y](https://example.com) <img src=x onerror=alert(1)>",
        );
        assert!(html.contains("<h1>Hi</h1>"));
        assert!(!html.contains("<script"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("javascript:"));
        assert!(html.contains(r#"href="https://example.com""#));
        assert!(!html.contains("<img src=x"));
    }
}

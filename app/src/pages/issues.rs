//! The issue list: filters in the address, pages, a form for a new issue
//! and one for a new repository. One issue's page is in `issue`.
//!
//! Every form here posts to its server function, so it works without
//! JavaScript; with it, the page updates in place and follows live events.

use crate::components::time::Time;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_router::hooks::{use_navigate, use_query_map};

use super::common::{
    action_error, query_text, submit_with, tidy_labels, workspace_version, FormError, LabelChip,
    CARD, INPUT, LINK, PRIMARY, SECONDARY,
};
use crate::api::{list_issues, list_repositories, CreateIssue, CreateRepository};
use crate::components::{
    empty_state::EmptyState, empty_state::PageHeader, status::IssueStateBadge,
};
use crate::model::{Issue, IssueQuery, IssueState, Repository, RepositoryId};
use crate::protocol::native::ServerMessage;

const PAGE_SIZE: u32 = 25;

/// The list's filters as the address carries them.
#[derive(Clone, Debug, Default, PartialEq)]
struct Filters {
    /// "open" (the default), "closed" or "all".
    state: String,
    label: Option<String>,
    repo: Option<RepositoryId>,
    text: Option<String>,
    page: u32,
}

impl Filters {
    fn query(&self) -> IssueQuery {
        IssueQuery {
            state: self.state.parse::<IssueState>().ok(),
            label: self.label.clone(),
            repository_id: self.repo,
            text: self.text.clone(),
            limit: PAGE_SIZE,
            offset: (self.page.max(1) - 1) * PAGE_SIZE,
        }
    }

    /// The list's address for page `page` with these filters.
    fn href(&self, page: u32) -> String {
        use crate::api::encode_query;
        let mut q = vec![format!("state={}", self.state)];
        if let Some(l) = &self.label {
            q.push(format!("label={}", encode_query(l)));
        }
        if let Some(r) = self.repo {
            q.push(format!("repo={r}"));
        }
        if let Some(t) = &self.text {
            q.push(format!("q={}", encode_query(t)));
        }
        if page > 1 {
            q.push(format!("page={page}"));
        }
        format!("/issues?{}", q.join("&"))
    }
}

#[component]
pub fn IssuesPage() -> impl IntoView {
    let query = use_query_map();
    let filters = Memo::new(move |_| {
        query.with(|q| {
            let text = |k: &str| query_text(q, k);
            Filters {
                state: match text("state").as_deref() {
                    Some("closed") => "closed".into(),
                    Some("all") => "all".into(),
                    _ => "open".into(),
                },
                label: text("label"),
                repo: text("repo").and_then(|r| r.parse().ok()),
                text: text("q"),
                page: text("page")
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(1)
                    .max(1),
            }
        })
    });
    let version = workspace_version(|m| {
        matches!(
            m,
            ServerMessage::IssueCreated { .. } | ServerMessage::IssueUpdated { .. }
        )
    });
    let create_repo = ServerAction::<CreateRepository>::new();
    let create_issue = ServerAction::<CreateIssue>::new();
    let repos = Resource::new(move || create_repo.version().get(), |_| list_repositories());
    let issues = Resource::new(
        move || (filters.get(), version.get(), create_issue.version().get()),
        |(f, _, _)| list_issues(f.query()),
    );

    view! {
        <PageHeader title="Issues" subtitle="The work your agents pick up. Run a workflow or an agent on any issue." />
        <Transition fallback=|| view! { <p class="text-sm text-slate-500">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match repos.await {
                    Err(e) => view! { <p class="text-sm text-rose-600">{e.to_string()}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <section class=CARD>
                            <h2 class="font-semibold">"Add a repository first"</h2>
                            <p class="mt-1 text-sm text-slate-600 dark:text-slate-400">
                                "Issues belong to a repository: a name, optionally the GitHub repository it mirrors and a checkout on this machine."
                            </p>
                            <NewRepositoryForm action=create_repo />
                        </section>
                    }.into_any(),
                    Ok(list) => view! {
                        <NewIssueForm action=create_issue repos=list.clone() />
                        <details class="mb-4 text-sm">
                            <summary class="cursor-pointer font-medium text-slate-600 dark:text-slate-400">
                                {format!("Repositories ({})", list.len())}
                            </summary>
                            <div class=format!("mt-2 {CARD}")>
                                <ul class="flex flex-col gap-1" data-testid="repositories">
                                    {list.iter().map(|r| view! {
                                        <li>
                                            <a class=LINK href=format!("/issues?state=open&repo={}", r.id)>{r.name.clone()}</a>
                                            <span class="text-slate-500">
                                                {format!(" · {} open", r.open_issues)}
                                                {r.github.clone().map(|g| format!(" · GitHub {g}"))}
                                                {r.local_path.clone().map(|p| format!(" · {p}"))}
                                            </span>
                                        </li>
                                    }).collect_view()}
                                </ul>
                                <h3 class="mt-4 font-semibold">"New repository"</h3>
                                <NewRepositoryForm action=create_repo />
                            </div>
                        </details>
                        <FilterForm filters=filters repos=list />
                    }.into_any(),
                }
            })}
        </Transition>
        <Transition>
            {move || Suspend::new(async move {
                match issues.await {
                    Err(e) => view! { <p class="text-sm text-rose-600">{e.to_string()}</p> }.into_any(),
                    Ok(p) if p.items.is_empty() => {
                        // Say what is really above: the repository form
                        // first, then "New issue"; and whether filters hide some.
                        let has_repo = repos.await.is_ok_and(|r| !r.is_empty());
                        let filtered = filters.with_untracked(|f| {
                            f.label.is_some() || f.repo.is_some() || f.text.is_some() || f.state != "open"
                        });
                        let (title, body) = match (has_repo, filtered) {
                            (false, _) => ("No issues yet", "Add a repository above; then “New issue” opens its first issue."),
                            (true, true) => ("No issues here", "Nothing matches these filters: change them, or open “New issue” above."),
                            (true, false) => ("No open issues", "Open “New issue” above to write one, or connect GitHub in Settings to bring yours in."),
                        };
                        view! { <EmptyState title=title body=body /> }.into_any()
                    }
                    Ok(p) => {
                        let f = filters.get_untracked();
                        let pages = p.total.div_ceil(u64::from(PAGE_SIZE)).max(1);
                        let current = f.page;
                        view! {
                            <ul class="divide-y divide-slate-100 rounded-xl border border-slate-200 bg-white dark:divide-slate-800 dark:border-slate-800 dark:bg-slate-900">
                                {p.items.into_iter().map(|i| view! { <IssueRow issue=i /> }).collect_view()}
                            </ul>
                            <nav class="mt-4 flex items-center justify-between text-sm" aria-label="Pages">
                                <span class="text-slate-500">{format!("{} · page {current} of {pages}", crate::components::count::plural(p.total as usize, "issue", "issues"))}</span>
                                <span class="flex gap-2">
                                    {(current > 1).then(|| view! { <a class=SECONDARY href=f.href(current - 1)>"Previous"</a> })}
                                    {(u64::from(current) < pages).then(|| view! { <a class=SECONDARY href=f.href(current + 1)>"Next"</a> })}
                                </span>
                            </nav>
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

/// A GET form: the filters live in the address, so they can be shared and
/// work without JavaScript.
#[component]
fn FilterForm(filters: Memo<Filters>, repos: Vec<Repository>) -> impl IntoView {
    let select = "mt-1 w-full min-w-0 rounded-md border border-slate-300 bg-white px-2 py-1.5 text-sm dark:border-slate-700 dark:bg-slate-950";
    // Drawn again when the address changes (a label chip, say).
    move || {
        let f = filters.get();
        let repos = repos.clone();
        view! {
            // Two columns on a phone, one row from a tablet up.
            <form method="get" action="/issues" class="mb-4 grid grid-cols-2 items-end gap-3 text-sm sm:flex sm:flex-wrap" role="search" data-testid="issue-filters">
                <label class="flex min-w-0 flex-col text-xs font-medium text-slate-600 dark:text-slate-400">
                    "State"
                    <select name="state" class=select>
                        {["open", "closed", "all"].into_iter().map(|s| view! {
                            <option value=s selected=f.state == s>{s}</option>
                        }).collect_view()}
                    </select>
                </label>
                <label class="flex min-w-0 flex-col text-xs font-medium text-slate-600 dark:text-slate-400">
                    "Repository"
                    <select name="repo" class=select>
                        <option value="">"Any"</option>
                        {repos.into_iter().map(|r| view! {
                            <option value=r.id.to_string() selected=f.repo == Some(r.id)>{r.name}</option>
                        }).collect_view()}
                    </select>
                </label>
                <label class="flex min-w-0 flex-col text-xs font-medium text-slate-600 dark:text-slate-400">
                    "Label"
                    <input name="label" class=select value=f.label.clone().unwrap_or_default() size="12" />
                </label>
                <label class="col-span-2 flex min-w-0 flex-1 flex-col text-xs font-medium text-slate-600 dark:text-slate-400 sm:min-w-48">
                    "Search"
                    <input type="search" name="q" class=select value=f.text.clone().unwrap_or_default() placeholder="Words in the title or body" />
                </label>
                <button type="submit" class=format!("{SECONDARY} col-span-2 sm:col-auto")>"Filter"</button>
                <a class=format!("{LINK} col-span-2 text-sm sm:col-auto sm:self-center") href="/board">"The board"</a>
            </form>
        }
    }
}

#[component]
fn IssueRow(issue: Issue) -> impl IntoView {
    view! {
        <li class="flex flex-wrap items-start gap-x-3 gap-y-1 px-4 py-3" data-testid="issue-row">
            <IssueStateBadge state=issue.state />
            <div class="min-w-0 flex-1">
                <a class="font-medium hover:underline" href=format!("/issues/{}", issue.id)>
                    <span class="text-slate-500">{format!("#{} ", issue.number)}</span>
                    {issue.title.clone()}
                </a>
                <p class="text-xs text-slate-500">
                    {issue.repository_name.clone()}
                    {issue.created_by.clone().map(|u| format!(" · opened by {u}"))}
                    {issue.assignee.clone().map(|a| format!(" · assigned to {a}"))}
                    " · updated "<Time ms=issue.updated_at />
                </p>
            </div>
            <div class="flex flex-wrap gap-1">
                {issue.labels.into_iter().map(|l| view! { <LabelChip label=l /> }).collect_view()}
            </div>
        </li>
    }
}

#[component]
fn NewIssueForm(action: ServerAction<CreateIssue>, repos: Vec<Repository>) -> impl IntoView {
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(detail)) = action.value().get() {
            navigate(&format!("/issues/{}", detail.issue.id), Default::default());
        }
    });
    let error = action_error(action);
    view! {
        <details class=format!("mb-4 {CARD}") data-testid="new-issue">
            <summary class="cursor-pointer text-sm font-semibold text-indigo-600 dark:text-indigo-400">"New issue"</summary>
            <form
                method="post"
                action=CreateIssue::url()
                class="mt-4 grid gap-4"
                on:submit=submit_with(action, |args: &mut CreateIssue| {
                    args.input.labels = tidy_labels(&args.input.labels);
                })
            >
                <div class="grid gap-4 sm:grid-cols-3">
                    <label class="block text-sm font-medium">
                        "Repository"
                        <select name="input[repositoryId]" class=INPUT required>
                            {repos.into_iter().map(|r| view! { <option value=r.id.to_string()>{r.name}</option> }).collect_view()}
                        </select>
                    </label>
                    <label class="block text-sm font-medium sm:col-span-2">
                        "Title"
                        <input name="input[title]" class=INPUT required maxlength="200" />
                    </label>
                </div>
                <label class="block text-sm font-medium">
                    "Description"
                    <textarea name="input[body]" class=format!("{INPUT} font-mono") rows="6"></textarea>
                    <span class="mt-1 block text-xs font-normal text-slate-500">"Markdown: **bold**, `code`, lists, links."</span>
                </label>
                <div class="grid gap-4 sm:grid-cols-2">
                    <label class="block text-sm font-medium">
                        "Labels"
                        <input name="input[labels][0]" class=INPUT placeholder="bug, ready" />
                        <span class="mt-1 block text-xs font-normal text-slate-500">"Separated by commas. A workflow with a trigger label starts when an issue gets it."</span>
                    </label>
                    <label class="block text-sm font-medium">
                        "Assignee (optional)"
                        <input name="input[assignee]" class=INPUT maxlength="64" />
                    </label>
                </div>
                <FormError message=error />
                <div>
                    <button type="submit" class=PRIMARY disabled=move || action.pending().get()>"Create issue"</button>
                </div>
            </form>
        </details>
    }
}

#[component]
fn NewRepositoryForm(action: ServerAction<CreateRepository>) -> impl IntoView {
    let form = NodeRef::<leptos::html::Form>::new();
    Effect::new(move |_| {
        if let Some(Ok(_)) = action.value().get() {
            if let Some(form) = form.get_untracked() {
                form.reset();
            }
        }
    });
    let error = action_error(action);
    view! {
        <ActionForm action=action node_ref=form attr:class="mt-3 grid gap-3 sm:grid-cols-3" attr:data-testid="new-repository">
            <label class="block text-sm font-medium">
                "Repository name"
                <input name="input[name]" class=INPUT required maxlength="100" placeholder="my-project" />
            </label>
            <label class="block text-sm font-medium">
                "GitHub repository (optional)"
                <input name="input[github]" class=INPUT placeholder="owner/name" pattern="[A-Za-z0-9_.\\-]+/[A-Za-z0-9_.\\-]+" />
            </label>
            <label class="block text-sm font-medium">
                "Local path (optional)"
                <input name="input[localPath]" class=INPUT placeholder="/home/me/src/my-project" />
            </label>
            <div class="sm:col-span-3">
                <FormError message=error />
                <button type="submit" class=SECONDARY disabled=move || action.pending().get()>"Add repository"</button>
            </div>
        </ActionForm>
    }
}

//! `/executions/:id/changes` and `/workflow-runs/:id/changes`: the agent's
//! work before it becomes a pull request. The commits on the run's branch,
//! the files with +/− counts, and their unified diffs (highlighted on the
//! server), [`FILES_PER_PAGE`] files a page; "Open pull request" proposes
//! an ended run's branch on GitHub, and "Discard" deletes the branch of a
//! run that ended without a pull request. Works without JavaScript: pages
//! are links, and both buttons are forms.

use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::common::{action_error, FormError, CARD, DANGER, LINK, PRIMARY};
use crate::api::{
    execution_changes, run_changes, ApiError, DiscardExecutionChanges, DiscardRunChanges,
    OpenExecutionPullRequest, OpenRunPullRequest,
};
use crate::components::empty_state::{Missing, PageHeader};
use crate::components::time::Time;
use crate::model::{
    ChangedFile, Changes, ChangesOf, ChangesState, FileDiff, FileStatus, LineKind, FILES_PER_PAGE,
};

fn page_param() -> impl Fn() -> u32 + Copy + Send + Sync + 'static {
    let query = use_query_map();
    move || {
        query
            .with(|q| q.get("page"))
            .and_then(|p| p.parse().ok())
            .unwrap_or(1)
    }
}

#[component]
pub fn ExecutionChangesPage() -> impl IntoView {
    view! { <ChangesPage of_run=false /> }
}

#[component]
pub fn RunChangesPage() -> impl IntoView {
    view! { <ChangesPage of_run=true /> }
}

/// Either page: `of_run` says whose `:id` it is.
#[component]
fn ChangesPage(of_run: bool) -> impl IntoView {
    let params = use_params_map();
    let of = move || {
        let id = params.with(|p| p.get("id"))?;
        if of_run {
            id.parse().ok().map(ChangesOf::Run)
        } else {
            id.parse().ok().map(ChangesOf::Execution)
        }
    };
    let page = page_param();
    let discard_execution = ServerAction::<DiscardExecutionChanges>::new();
    let discard_run = ServerAction::<DiscardRunChanges>::new();
    let propose_execution = ServerAction::<OpenExecutionPullRequest>::new();
    let propose_run = ServerAction::<OpenRunPullRequest>::new();
    let changes = Resource::new(
        move || {
            (
                of(),
                page(),
                discard_execution.version().get()
                    + discard_run.version().get()
                    + propose_execution.version().get()
                    + propose_run.version().get(),
            )
        },
        |(of, page, _)| async move {
            match of {
                Some(ChangesOf::Execution(id)) => execution_changes(id, page).await,
                Some(ChangesOf::Run(id)) => run_changes(id, page).await,
                None => Err(ApiError::NotFound),
            }
        },
    );
    let errors = [
        action_error(discard_execution),
        action_error(discard_run),
        action_error(propose_execution),
        action_error(propose_run),
    ];
    let error = Signal::derive(move || errors.iter().find_map(|e| e.get()));
    view! {
        <Transition fallback=|| view! { <p class="text-sm text-slate-500">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match (changes.await, of()) {
                    (Ok(c), Some(of)) => {
                        let form = match of {
                            ChangesOf::Execution(id) => view! {
                                <ActionForm action=discard_execution>
                                    <input type="hidden" name="id" value=id.to_string() />
                                    <DiscardButton pending=discard_execution.pending() />
                                </ActionForm>
                            }.into_any(),
                            ChangesOf::Run(id) => view! {
                                <ActionForm action=discard_run>
                                    <input type="hidden" name="id" value=id.to_string() />
                                    <DiscardButton pending=discard_run.pending() />
                                </ActionForm>
                            }.into_any(),
                        };
                        let propose = match of {
                            ChangesOf::Execution(id) => view! {
                                <ActionForm action=propose_execution>
                                    <input type="hidden" name="id" value=id.to_string() />
                                    <ProposeButton pending=propose_execution.pending() />
                                </ActionForm>
                            }.into_any(),
                            ChangesOf::Run(id) => view! {
                                <ActionForm action=propose_run>
                                    <input type="hidden" name="id" value=id.to_string() />
                                    <ProposeButton pending=propose_run.pending() />
                                </ActionForm>
                            }.into_any(),
                        };
                        view! { <ChangesView changes=c of=of discard=form propose=propose /> }.into_any()
                    }
                    (Err(ApiError::NotFound), _) | (_, None) if of_run => view! { <Missing title="Workflow run not found" body="There is no such workflow run: the address may be wrong." back_href="/workflows" back_label="All workflows" /> }.into_any(),
                    (Err(ApiError::NotFound), _) | (_, None) => view! { <Missing title="Execution not found" body="There is no such execution: the address may be wrong." back_href="/executions" back_label="All executions" /> }.into_any(),
                    (Err(e), _) => view! { <p class="text-sm text-rose-600">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
        <FormError message=error />
    }
}

#[component]
fn ProposeButton(pending: Memo<bool>) -> impl IntoView {
    view! {
        <button type="submit" class=PRIMARY data-testid="open-pull-request" disabled=move || pending.get()>
            {move || if pending.get() { "Opening…" } else { "Open pull request" }}
        </button>
    }
}

#[component]
fn DiscardButton(pending: Memo<bool>) -> impl IntoView {
    view! {
        <button
            type="submit"
            class=DANGER
            data-testid="discard-changes"
            disabled=move || pending.get()
            on:click=crate::components::confirm::confirm_click("Discard these changes? The branch is deleted; this cannot be undone.")
        >
            "Discard"
        </button>
    }
}

fn status_class(status: FileStatus) -> &'static str {
    match status {
        FileStatus::Added => {
            "bg-emerald-100 text-emerald-800 dark:bg-emerald-900/60 dark:text-emerald-200"
        }
        FileStatus::Deleted => "bg-rose-100 text-rose-800 dark:bg-rose-900/60 dark:text-rose-200",
        FileStatus::Renamed | FileStatus::Copied => {
            "bg-sky-100 text-sky-800 dark:bg-sky-900/60 dark:text-sky-200"
        }
        _ => "bg-slate-100 text-slate-700 dark:bg-slate-800 dark:text-slate-300",
    }
}

/// `+12 −3`.
#[component]
fn Counts(additions: u32, deletions: u32) -> impl IntoView {
    view! {
        <span class="whitespace-nowrap font-mono text-xs tabular-nums">
            <span class="text-emerald-700 dark:text-emerald-400">{format!("+{additions}")}</span>
            " "
            <span class="text-rose-700 dark:text-rose-400">{format!("−{deletions}")}</span>
        </span>
    }
}

#[component]
fn ChangesView(
    changes: Changes,
    of: ChangesOf,
    discard: impl IntoView + 'static,
    propose: impl IntoView + 'static,
) -> impl IntoView {
    let Changes {
        state,
        repository,
        branch,
        base,
        commits,
        files,
        additions,
        deletions,
        page,
        pages,
        diffs,
        pr_url,
        can_discard,
        can_open_pr,
        workflow_run_id,
    } = changes;
    let place = match (&repository, &branch) {
        (Some(r), Some(b)) => Some(view! {
            <p class="-mt-4 mb-4 text-sm text-slate-600 dark:text-slate-400" data-testid="changes-branch">
                {r.clone()}" · branch "<code class="font-mono text-xs">{b.clone()}</code>
            </p>
        }),
        _ => None,
    };
    let first = (page as usize - 1) * FILES_PER_PAGE;
    let summary = match state {
        ChangesState::Ready => view! {
            <p class="text-sm" data-testid="changes-summary">
                {format!("{} {} changed in {} {} ", files.len(), if files.len() == 1 { "file" } else { "files" }, commits.len(), if commits.len() == 1 { "commit" } else { "commits" })}
                <Counts additions=additions deletions=deletions />
                {base.clone().map(|b| view! { <span class="text-slate-500">" compared with "<code class="font-mono text-xs">{b}</code></span> })}
            </p>
        }.into_any(),
        ChangesState::None => view! {
            <p class="text-sm text-slate-600 dark:text-slate-400" data-testid="changes-summary">
                {if branch.is_some() { "No changes: the run committed nothing." } else { "This run worked in no repository, so it has no branch to review." }}
            </p>
        }.into_any(),
        ChangesState::Gone => view! {
            <p class="text-sm text-slate-600 dark:text-slate-400" data-testid="changes-summary">
                "The branch is gone: it was discarded"
                {match workflow_run_id {
                    Some(run) => view! { ", or its commits were collected on "<a class=LINK href=format!("/workflow-runs/{run}/changes")>"the workflow run's branch"</a> }.into_any(),
                    None => ().into_any(),
                }}
                "."
            </p>
        }.into_any(),
    };
    let file_links = files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let href = if (first..first + FILES_PER_PAGE).contains(&i) {
                format!("#file-{i}")
            } else {
                format!("{}#file-{i}", of.href(i as u32 / FILES_PER_PAGE as u32 + 1))
            };
            view! { <FileRow file=f.clone() href=href /> }
        })
        .collect_view();
    let shown = diffs
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            let file = files.get(first + i).cloned();
            view! { <FileDiffView diff=d file=file anchor=format!("file-{}", first + i) /> }
        })
        .collect_view();
    let pager = (pages > 1).then(|| {
        view! {
            <nav class="mt-4 flex items-center gap-4 text-sm" aria-label="Pages of files" data-testid="changes-pages">
                {(page > 1).then(|| view! { <a class=LINK href=of.href(page - 1)>"← Previous files"</a> })}
                <span class="text-slate-500">{format!("Page {page} of {pages}")}</span>
                {(page < pages).then(|| view! { <a class=LINK href=of.href(page + 1)>"Next files →"</a> })}
            </nav>
        }
    });
    view! {
        <PageHeader title="Changes" subtitle="What the agent changed, before it becomes a pull request." />
        {place}
        <div class="mb-4 flex flex-wrap items-center gap-3">
            <a class=LINK href=of.run_href()>"← Back to the run"</a>
            {pr_url.map(|u| view! {
                <a class=LINK href=u.clone() rel="external noopener" target="_blank" data-testid="changes-pr">{format!("Pull request {u}")}</a>
            })}
            <span class="ml-auto flex flex-wrap gap-2">
                {can_open_pr.then_some(propose)}
                {can_discard.then_some(discard)}
            </span>
        </div>
        <section class=format!("mb-4 {CARD}")>
            {summary}
            {(!commits.is_empty()).then(|| view! {
                <ul class="mt-3 divide-y divide-slate-100 text-sm dark:divide-slate-800" data-testid="commits">
                    {commits.into_iter().map(|c| view! {
                        <li class="flex flex-wrap items-baseline gap-x-3 py-1.5">
                            <code class="font-mono text-xs text-slate-500" title=c.sha.clone()>{c.sha.chars().take(8).collect::<String>()}</code>
                            <span class="min-w-0 flex-1 break-words font-medium">{c.subject}</span>
                            <span class="text-xs text-slate-500">{c.author}" · "<Time ms=c.at /></span>
                        </li>
                    }).collect_view()}
                </ul>
            })}
        </section>
        {(!files.is_empty()).then(|| view! {
            <section class=format!("mb-4 {CARD}")>
                <h2 class="mb-2 text-base font-semibold">"Files"</h2>
                <ul class="divide-y divide-slate-100 text-sm dark:divide-slate-800" data-testid="changed-files">{file_links}</ul>
            </section>
        })}
        <div class="flex flex-col gap-4">{shown}</div>
        {pager}
    }
}

#[component]
fn FileRow(file: ChangedFile, href: String) -> impl IntoView {
    view! {
        <li class="flex items-center gap-2 py-1.5" data-testid="changed-file" data-path=file.path.clone() data-status=file.status.as_str()>
            <span class=format!("rounded px-1.5 py-0.5 text-[10px] font-semibold uppercase {}", status_class(file.status))>{file.status.as_str()}</span>
            <a class=format!("min-w-0 flex-1 truncate font-mono text-xs {LINK}") href=href title=file.path.clone()>
                {file.old_path.clone().map(|o| format!("{o} → ")).unwrap_or_default()}{file.path.clone()}
            </a>
            {if file.binary {
                view! { <span class="text-xs text-slate-500">"binary"</span> }.into_any()
            } else {
                view! { <Counts additions=file.additions deletions=file.deletions /> }.into_any()
            }}
        </li>
    }
}

#[component]
fn FileDiffView(diff: FileDiff, file: Option<ChangedFile>, anchor: String) -> impl IntoView {
    let binary = file.as_ref().is_some_and(|f| f.binary);
    let counts = file.as_ref().map(|f| (f.additions, f.deletions));
    let hunks = diff
        .hunks
        .into_iter()
        .map(|h| {
            let rows = h
                .lines
                .into_iter()
                .map(|l| {
                    let (row, sign) = match l.kind {
                        LineKind::Added => ("bg-emerald-50 dark:bg-emerald-950/50", "+"),
                        LineKind::Removed => ("bg-rose-50 dark:bg-rose-950/50", "−"),
                        LineKind::Context => ("", " "),
                        LineKind::Note => ("text-slate-500 italic", ""),
                    };
                    let num = |n: Option<u32>| n.map(|n| n.to_string()).unwrap_or_default();
                    view! {
                        <tr class=row data-kind=format!("{:?}", l.kind).to_lowercase()>
                            <td class="select-none border-r border-slate-200 px-2 text-right text-slate-400 dark:border-slate-800">{num(l.old)}</td>
                            <td class="select-none border-r border-slate-200 px-2 text-right text-slate-400 dark:border-slate-800">{num(l.new)}</td>
                            <td class="select-none pl-2 text-slate-400">{sign}</td>
                            <td class="whitespace-pre pr-4" inner_html=l.html></td>
                        </tr>
                    }
                })
                .collect_view();
            view! {
                <tbody>
                    <tr class="bg-slate-50 text-slate-500 dark:bg-slate-800/60 dark:text-slate-400">
                        <td colspan="4" class="px-2 py-1">{h.header}</td>
                    </tr>
                    {rows}
                </tbody>
            }
        })
        .collect_view();
    view! {
        <section id=anchor class="overflow-hidden rounded-xl border border-slate-200 bg-white dark:border-slate-800 dark:bg-slate-900" data-testid="file-diff" data-path=diff.path.clone()>
            <header class="flex items-center gap-3 border-b border-slate-200 px-3 py-2 dark:border-slate-800">
                <span class="min-w-0 flex-1 truncate font-mono text-xs font-semibold" title=diff.path.clone()>{diff.path.clone()}</span>
                {counts.map(|(a, d)| view! { <Counts additions=a deletions=d /> })}
            </header>
            {if binary {
                view! { <p class="px-3 py-2 text-sm text-slate-500">"Binary file: not shown."</p> }.into_any()
            } else {
                view! {
                    <div class="overflow-x-auto">
                        <table class="w-full border-collapse font-mono text-xs leading-5">{hunks}</table>
                    </div>
                }.into_any()
            }}
            {(diff.omitted > 0).then(|| view! {
                <p class="border-t border-slate-200 px-3 py-2 text-sm text-slate-500 dark:border-slate-800" data-testid="diff-omitted">
                    {format!("{} more lines of this file's diff are not shown.", diff.omitted)}
                </p>
            })}
        </section>
    }
}

//! One issue's page: its body, edit, close/reopen, run a workflow or an
//! agent on it, and the timeline of what ran on it.
//!
//! Every form here posts to its server function, so it works without
//! JavaScript; with it, the page updates in place and follows live events.

use crate::components::time::Time;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_router::hooks::{use_navigate, use_params_map};

use super::common::{
    action_error, submit_with, workflow_version, workspace_version, FormError, LabelChip, CARD,
    INPUT, LINK, PRIMARY, SECONDARY,
};
use super::executions::lifecycle_version;
use crate::api::{
    get_issue, list_agents, list_workflows, ApiError, EditIssueFields, StartExecution,
    StartWorkflow, UpdateIssue,
};
use crate::components::{
    empty_state::Missing,
    status::{IssueStateBadge, RunStatusBadge, StatusBadge},
};
use crate::model::{
    Agent, Execution, Issue, IssueDetail, IssueId, IssueState, Workflow, WorkflowRunSummary,
};
use crate::protocol::native::ServerMessage;

/// `/issues/:id`.
#[component]
pub fn IssuePage() -> impl IntoView {
    let params = use_params_map();
    let id = move || {
        params
            .with(|p| p.get("id"))
            .and_then(|s| s.parse::<IssueId>().ok())
    };
    let issue = Resource::new(id, |id| async move {
        match id {
            Some(id) => get_issue(id).await,
            None => Err(ApiError::NotFound),
        }
    });
    // Made here, before anything is awaited, so that hydration meets them
    // in the order the server made them.
    let workflows = Resource::new(|| (), |_| list_workflows());
    let agents = Resource::new(|| (), |_| list_agents());
    view! {
        <Suspense fallback=|| view! { <p class="text-sm text-slate-500">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match issue.await {
                    Ok(d) => view! { <IssueView initial=d workflows=workflows agents=agents /> }.into_any(),
                    Err(ApiError::NotFound) => view! {
                        <Missing title="Issue not found" body="There is no such issue: the address may be wrong." back_href="/issues" back_label="All issues" />
                    }.into_any(),
                    Err(e) => view! { <p class="text-sm text-rose-600">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// One issue, kept current: it is read again when the issue changes or
/// anything runs (a run or execution on it may have started or ended).
#[component]
fn IssueView(
    initial: IssueDetail,
    workflows: Resource<Result<Vec<Workflow>, ApiError>>,
    agents: Resource<Result<Vec<Agent>, ApiError>>,
) -> impl IntoView {
    let id = initial.issue.id;
    let detail = RwSignal::new(initial);
    let issue = Memo::new(move |_| detail.with(|d| d.issue.clone()));
    let timeline = Memo::new(move |_| detail.with(|d| (d.executions.clone(), d.runs.clone())));

    let update = ServerAction::<UpdateIssue>::new();
    let edit = ServerAction::<EditIssueFields>::new();
    let refresh = Action::new(move |_: &()| get_issue(id));
    Effect::new(move |_| {
        if let Some(Ok(d)) = update.value().get() {
            detail.set(d);
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(d)) = edit.value().get() {
            detail.set(d);
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(d)) = refresh.value().get() {
            detail.set(d);
        }
    });
    let issue_events = workspace_version(
        move |m| matches!(m, ServerMessage::IssueUpdated { issue_id, .. } if *issue_id == id),
    );
    let runs = workflow_version();
    let executions = lifecycle_version();
    Effect::new(move |prev: Option<()>| {
        let _ = (issue_events.get(), runs.get(), executions.get());
        if prev.is_some() {
            refresh.dispatch(());
        }
    });

    let error = action_error(update);
    let edit_error = action_error(edit);
    view! {
        {move || {
            let i = issue.get();
            view! {
                <leptos_meta::Title text=format!("#{} {}", i.number, i.title) />
                <div class="mb-6">
                    <p class="text-xs font-medium uppercase text-slate-500">
                        <a class="hover:underline" href=format!("/issues?state=open&repo={}", i.repository_id)>{i.repository_name.clone()}</a>
                        " · issue"
                    </p>
                    <h1 class="mt-1 flex flex-wrap items-center gap-3 text-2xl font-semibold tracking-tight">
                        <span><span class="text-slate-400">{format!("#{} ", i.number)}</span>{i.title.clone()}</span>
                        <IssueStateBadge state=i.state />
                    </h1>
                    <p class="mt-1 text-sm text-slate-600 dark:text-slate-400">
                        "Opened "<Time ms=i.created_at />
                        {i.created_by.clone().map(|u| format!(" by {u}"))}
                        {format!(" · assignee: {}", i.assignee.clone().unwrap_or_else(|| "nobody".into()))}
                        {i.html_url.clone().map(|u| view! {
                            " · "<a class=LINK href=u rel="external noopener" target="_blank" data-testid="issue-on-github">"on GitHub"</a>
                        })}
                    </p>
                    <div class="mt-2 flex flex-wrap gap-1" data-testid="issue-labels">
                        {i.labels.iter().cloned().map(|l| view! { <LabelChip label=l /> }).collect_view()}
                    </div>
                </div>
            }
        }}
        <FormError message=error />
        <FormError message=edit_error />
        <div class="grid gap-4 lg:grid-cols-3">
            <div class="flex min-w-0 flex-col gap-4 lg:col-span-2">
                <section class=CARD>
                    {move || {
                        let i = issue.get();
                        if i.body.trim().is_empty() {
                            view! { <p class="text-sm italic text-slate-500">"No description."</p> }.into_any()
                        } else {
                            // Rendered and sanitised by the server.
                            view! { <div class="markdown text-sm" data-testid="issue-body" inner_html=i.body_html></div> }.into_any()
                        }
                    }}
                </section>
                <div class="flex flex-wrap items-start gap-3">
                    {move || view! { <EditIssue issue=issue.get() action=edit /> }}
                    {move || {
                        let state = issue.with(|i| i.state);
                        let (next, text) = match state {
                            IssueState::Open => ("closed", "Close issue"),
                            IssueState::Closed => ("open", "Reopen issue"),
                        };
                        view! {
                            <ActionForm action=update>
                                <input type="hidden" name="id" value=id.to_string() />
                                <input type="hidden" name="update[state]" value=next />
                                <button type="submit" class=SECONDARY disabled=move || update.pending().get()>{text}</button>
                            </ActionForm>
                        }
                    }}
                </div>
                <section>
                    <h2 class="mb-3 text-lg font-semibold">"Timeline"</h2>
                    {move || {
                        let (executions, runs) = timeline.get();
                        view! { <Timeline executions=executions runs=runs /> }
                    }}
                </section>
            </div>
            <aside class="flex flex-col gap-4">
                <RunWorkflowForm issue=id workflows=workflows />
                <RunAgentForm issue=id agents=agents />
            </aside>
        </div>
    }
}

#[component]
fn EditIssue(issue: Issue, action: ServerAction<EditIssueFields>) -> impl IntoView {
    view! {
        <details class="min-w-0 flex-1 rounded-xl border border-slate-200 bg-white px-4 py-2 dark:border-slate-800 dark:bg-slate-900" data-testid="edit-issue">
            <summary class="cursor-pointer text-sm font-medium">"Edit"</summary>
            <form
                method="post"
                action=EditIssueFields::url()
                class="mt-3 grid gap-3 pb-2"
                on:submit=submit_with(action, |_: &mut EditIssueFields| {})
            >
                <input type="hidden" name="id" value=issue.id.to_string() />
                <label class="block text-sm font-medium">
                    "Title"
                    <input name="title" class=INPUT required maxlength="200" value=issue.title.clone() />
                </label>
                <label class="block text-sm font-medium">
                    "Description"
                    <textarea name="body" class=format!("{INPUT} font-mono") rows="8">{issue.body.clone()}</textarea>
                    <span class="mt-1 block text-xs font-normal text-slate-500">"Markdown."</span>
                </label>
                <div class="grid gap-3 sm:grid-cols-2">
                    <label class="block text-sm font-medium">
                        "Labels"
                        <input name="labels" class=INPUT value=issue.labels.join(", ") />
                        <span class="mt-1 block text-xs font-normal text-slate-500">"Separated by commas."</span>
                    </label>
                    <label class="block text-sm font-medium">
                        "Assignee"
                        <input name="assignee" class=INPUT maxlength="64" value=issue.assignee.clone().unwrap_or_default() />
                    </label>
                </div>
                <div>
                    <button type="submit" class=PRIMARY disabled=move || action.pending().get()>"Save changes"</button>
                </div>
            </form>
        </details>
    }
}

#[component]
fn RunWorkflowForm(
    issue: IssueId,
    workflows: Resource<Result<Vec<Workflow>, ApiError>>,
) -> impl IntoView {
    let navigate = use_navigate();
    let start = ServerAction::<StartWorkflow>::new();
    Effect::new(move |_| {
        if let Some(Ok(run)) = start.value().get() {
            navigate(&format!("/workflow-runs/{}", run.id), Default::default());
        }
    });
    let error = action_error(start);
    view! {
        <section class=CARD>
            <h2 class="font-semibold">"Run a workflow"</h2>
            <Suspense fallback=|| view! { <p class="text-sm text-slate-500">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match workflows.await {
                        Err(e) => view! { <p class="text-sm text-rose-600">{e.to_string()}</p> }.into_any(),
                        Ok(list) if list.is_empty() => view! {
                            <p class="mt-2 text-sm text-slate-600 dark:text-slate-400">
                                "No workflows yet. "<a class=LINK href="/workflows">"Define one"</a>"."
                            </p>
                        }.into_any(),
                        Ok(list) => view! {
                            <ActionForm action=start attr:class="mt-3 flex flex-col gap-3">
                                <input type="hidden" name="issue_id" value=issue.to_string() />
                                <label class="block text-sm font-medium">
                                    "Workflow"
                                    <select name="workflow_id" class=INPUT required>
                                        {list.into_iter().map(|w| view! { <option value=w.id.to_string()>{w.name}</option> }).collect_view()}
                                    </select>
                                </label>
                                <div>
                                    <button type="submit" class=PRIMARY disabled=move || start.pending().get()>"Run workflow"</button>
                                </div>
                            </ActionForm>
                        }.into_any(),
                    }
                })}
            </Suspense>
            <FormError message=error />
        </section>
    }
}

#[component]
fn RunAgentForm(issue: IssueId, agents: Resource<Result<Vec<Agent>, ApiError>>) -> impl IntoView {
    let navigate = use_navigate();
    let start = ServerAction::<StartExecution>::new();
    Effect::new(move |_| {
        if let Some(Ok(execution)) = start.value().get() {
            navigate(&format!("/executions/{}", execution.id), Default::default());
        }
    });
    let error = action_error(start);
    view! {
        <section class=CARD>
            <h2 class="font-semibold">"Run an agent"</h2>
            <Suspense fallback=|| view! { <p class="text-sm text-slate-500">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match agents.await {
                        Err(e) => view! { <p class="text-sm text-rose-600">{e.to_string()}</p> }.into_any(),
                        Ok(list) if list.is_empty() => view! {
                            <p class="mt-2 text-sm text-slate-600 dark:text-slate-400">
                                "No agents yet. "<a class=LINK href="/agents/new">"Add one"</a>"."
                            </p>
                        }.into_any(),
                        Ok(list) => view! {
                            <ActionForm action=start attr:class="mt-3 flex flex-col gap-3">
                                <input type="hidden" name="issue_id" value=issue.to_string() />
                                <label class="block text-sm font-medium">
                                    "Agent"
                                    <select name="agent_id" class=INPUT required>
                                        {list.into_iter().map(|a| view! { <option value=a.id.to_string()>{a.name}</option> }).collect_view()}
                                    </select>
                                </label>
                                <label class="block text-sm font-medium">
                                    "Prompt"
                                    <textarea name="prompt" class=INPUT rows="4" placeholder="What should it do with this issue?"></textarea>
                                </label>
                                <div>
                                    <button type="submit" class=PRIMARY disabled=move || start.pending().get()>"Run agent"</button>
                                </div>
                            </ActionForm>
                        }.into_any(),
                    }
                })}
            </Suspense>
            <FormError message=error />
        </section>
    }
}

/// What ran on the issue, newest first.
enum Entry {
    Execution(Box<Execution>),
    Run(WorkflowRunSummary),
}

impl Entry {
    fn at(&self) -> i64 {
        match self {
            Entry::Execution(e) => e.started_at.unwrap_or(e.created_at),
            Entry::Run(r) => r.created_at,
        }
    }
}

#[component]
fn Timeline(executions: Vec<Execution>, runs: Vec<WorkflowRunSummary>) -> impl IntoView {
    // A workflow's steps go under their run; the rest stand alone.
    let run_ids: std::collections::HashSet<_> = runs.iter().map(|r| r.id).collect();
    let (steps, alone): (Vec<Execution>, Vec<Execution>) = executions
        .into_iter()
        .partition(|e| e.workflow_run_id.is_some_and(|r| run_ids.contains(&r)));
    let mut entries: Vec<Entry> = alone
        .into_iter()
        .map(|e| Entry::Execution(Box::new(e)))
        .chain(runs.into_iter().map(Entry::Run))
        .collect();
    entries.sort_by_key(|e| std::cmp::Reverse(e.at()));
    if entries.is_empty() {
        return view! {
            <p class="text-sm text-slate-500">"Nothing has run on this issue yet. Run a workflow or an agent on it."</p>
        }
        .into_any();
    }
    let execution_line = |e: &Execution, what: &'static str| {
        view! {
            <div class="flex flex-wrap items-center gap-2">
                <StatusBadge status=Signal::stored(e.status) />
                <a class=LINK href=format!("/executions/{}", e.id)>{e.agent_name.clone()}</a>
                <span class="text-slate-500">{what}</span>
                <span class="text-xs text-slate-400"><Time ms=e.started_at.unwrap_or(e.created_at) /></span>
            </div>
            {(!e.prompt.is_empty()).then(|| view! {
                <p class="mt-1 truncate text-slate-600 dark:text-slate-400" title=e.prompt.clone()>{e.prompt.clone()}</p>
            })}
        }
    };
    view! {
        <ol class="relative flex flex-col gap-3 border-l border-slate-200 pl-4 dark:border-slate-800">
            {entries.into_iter().map(|entry| {
                match entry {
                    Entry::Execution(e) => view! {
                        <li class="text-sm" data-testid="timeline-entry" data-kind="execution">
                            {execution_line(&e, "agent run")}
                        </li>
                    }.into_any(),
                    Entry::Run(r) => {
                        let mut mine: Vec<&Execution> = steps.iter().filter(|e| e.workflow_run_id == Some(r.id)).collect();
                        mine.sort_by_key(|e| e.created_at);
                        view! {
                            <li class="text-sm" data-testid="timeline-entry" data-kind="workflow-run">
                                <div class="flex flex-wrap items-center gap-2">
                                    <RunStatusBadge status=Signal::stored(r.status) />
                                    <a class=LINK href=format!("/workflow-runs/{}", r.id)>{r.workflow_name.clone()}</a>
                                    <span class="text-slate-500">{format!("workflow · {} of {} steps", r.steps_done, r.steps_total)}</span>
                                    {r.pr_url.clone().map(|u| view! {
                                        <a class=LINK href=u rel="external noopener" target="_blank" data-testid="run-pr">"pull request"</a>
                                    })}
                                    <span class="text-xs text-slate-400"><Time ms=r.created_at /></span>
                                </div>
                                {(!mine.is_empty()).then(|| view! {
                                    <ol class="mt-2 flex flex-col gap-2 border-l border-slate-200 pl-4 dark:border-slate-800">
                                        {mine.into_iter().map(|e| view! {
                                            <li data-testid="timeline-step">{execution_line(e, "step")}</li>
                                        }).collect_view()}
                                    </ol>
                                })}
                            </li>
                        }.into_any()
                    }
                }
            }).collect_view()}
        </ol>
    }
    .into_any()
}

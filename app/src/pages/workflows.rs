//! Workflows: the list of definitions (each with a Run button) and the
//! latest runs of all of them. The editor is in `workflow_editor`, one
//! run's page in `workflow_run`.

use crate::components::time::Time;
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

use super::common::{action_error, workflow_version, FormError, CARD, LINK, PRIMARY, SECONDARY};
use crate::api::{list_issues, list_workflow_runs, list_workflows, StartWorkflow};
use crate::components::{
    empty_state::{EmptyState, PageHeader},
    status::RunStatusBadge,
};
use crate::model::{
    IssueId, IssueQuery, IssueState, Role, Workflow, WorkflowId, WorkflowRunSummary,
};
use crate::state::{use_session, SessionContext};

/// Whether the signed-in user may define workflows.
pub async fn is_admin(ctx: SessionContext) -> bool {
    ctx.session
        .await
        .ok()
        .and_then(|s| s.user)
        .is_some_and(|u| u.role == Role::Admin)
}

/// Navigates to a run once `start` has started one.
pub fn follow_new_run(start: ServerAction<StartWorkflow>) {
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(run)) = start.value().get() {
            navigate(&format!("/workflow-runs/{}", run.id), Default::default());
        }
    });
}

#[component]
pub fn WorkflowsPage() -> impl IntoView {
    let ctx = use_session();
    let version = workflow_version();
    let start = ServerAction::<StartWorkflow>::new();
    follow_new_run(start);
    let workflows = Resource::new(|| (), |_| list_workflows());
    let issues = open_issue_choices();
    let runs = Resource::new(
        move || (version.get(), start.version().get()),
        |_| list_workflow_runs(None),
    );
    let error = action_error(start);

    view! {
        <div class="mb-6 flex flex-wrap items-start justify-between gap-4">
            <PageHeader title="Workflows" subtitle="Agents chained into stages, with approval gates. Steps of a stage run side by side." />
            <Suspense>
                {move || Suspend::new(async move {
                    is_admin(ctx).await.then(|| view! { <a href="/workflows/new" class=PRIMARY>"New workflow"</a> })
                })}
            </Suspense>
        </div>
        <FormError message=error />
        <Transition fallback=|| view! { <p class="text-sm text-slate-500">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let admin = is_admin(ctx).await;
                let issues = issues.await.unwrap_or_default();
                match workflows.await {
                    Err(e) => view! { <p class="text-sm text-rose-600">{e.to_string()}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <EmptyState
                            title="No workflows yet"
                            body="A workflow runs agents in stages on an issue, for example plan, then implement, then review, with a person's approval between them."
                        >
                            {admin.then(|| view! { <a href="/workflows/new" class=PRIMARY>"New workflow"</a> })}
                        </EmptyState>
                    }.into_any(),
                    Ok(list) => view! {
                        <div class="grid gap-4 md:grid-cols-2">
                            {list.into_iter().map(|w| view! { <WorkflowCard workflow=w start=start admin=admin issues=issues.clone() /> }).collect_view()}
                        </div>
                    }.into_any(),
                }
            })}
        </Transition>
        <section class="mt-8">
            <h2 class="mb-3 text-lg font-semibold">"Recent runs"</h2>
            <Transition fallback=|| view! { <p class="text-sm text-slate-500">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match runs.await {
                        Err(e) => view! { <p class="text-sm text-rose-600">{e.to_string()}</p> }.into_any(),
                        Ok(list) if list.is_empty() => view! {
                            <p class="text-sm text-slate-500">"No runs yet. Run a workflow here or on an issue."</p>
                        }.into_any(),
                        Ok(list) => view! { <RunsTable runs=list /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn WorkflowCard(
    workflow: Workflow,
    start: ServerAction<StartWorkflow>,
    admin: bool,
    issues: IssueChoices,
) -> impl IntoView {
    let stages = workflow.definition.stages.len();
    let steps: usize = workflow
        .definition
        .stages
        .iter()
        .map(|s| s.steps.len())
        .sum();
    let gates = workflow
        .definition
        .stages
        .iter()
        .flat_map(|s| &s.steps)
        .filter(|s| s.approval)
        .count();
    let shape = format!(
        "{stages} {} · {steps} {}{}",
        if stages == 1 { "stage" } else { "stages" },
        if steps == 1 { "step" } else { "steps" },
        match gates {
            0 => String::new(),
            1 => " · 1 approval gate".into(),
            n => format!(" · {n} approval gates"),
        }
    );
    let href = format!("/workflows/{}", workflow.id);
    view! {
        <article class=CARD data-testid="workflow-card">
            <div class="flex items-start justify-between gap-2">
                <div class="min-w-0">
                    <h2 class="font-semibold"><a class="hover:underline" href=href.clone()>{workflow.name.clone()}</a></h2>
                    <p class="text-xs text-slate-500">{shape}</p>
                </div>
                {workflow.trigger_label.clone().map(|l| view! {
                    <span class="shrink-0 rounded-full border border-indigo-200 bg-indigo-50 px-2 py-0.5 text-xs font-medium text-indigo-700 dark:border-indigo-900 dark:bg-indigo-950 dark:text-indigo-300" title="Starts when an issue gets this label">
                        "on label: "{l}
                    </span>
                })}
            </div>
            {(!workflow.description.is_empty()).then(|| view! {
                <p class="mt-2 text-sm text-slate-600 dark:text-slate-400">{workflow.description.clone()}</p>
            })}
            <div class="mt-4 flex items-start gap-3">
                <div class="min-w-0 flex-1">
                    <RunWorkflowForm
                        workflow=workflow.id
                        name=workflow.name.clone()
                        needs_issue=workflow.definition.needs_issue()
                        issues=issues
                        start=start
                        button="Run"
                    />
                </div>
                <a href=href class=SECONDARY>{if admin { "Edit" } else { "View" }}</a>
            </div>
        </article>
    }
}

/// Open issues a workflow can run on: id and "#12 Title".
pub type IssueChoices = Vec<(IssueId, String)>;

/// Loads the open issues for the run forms of a page (once per page).
pub fn open_issue_choices() -> Resource<Result<IssueChoices, crate::api::ApiError>> {
    Resource::new(
        || (),
        |_| async move {
            list_issues(IssueQuery {
                state: Some(IssueState::Open),
                limit: 200,
                ..Default::default()
            })
            .await
            .map(|page| {
                page.items
                    .into_iter()
                    .map(|i| (i.id, format!("#{} {}", i.number, i.title)))
                    .collect()
            })
        },
    )
}

/// Starts a run of one workflow: the issue to run it on (a workflow whose
/// prompts use the issue offers no "No issue"), then a button that asks
/// first. Without JavaScript it is a plain form.
#[component]
pub fn RunWorkflowForm(
    workflow: WorkflowId,
    name: String,
    needs_issue: bool,
    issues: IssueChoices,
    start: ServerAction<StartWorkflow>,
    #[prop(into)] button: String,
    #[prop(optional)] secondary: bool,
) -> impl IntoView {
    let first = if needs_issue {
        issues.first().map(|(_, label)| label.clone())
    } else {
        Some("no issue".to_string())
    };
    let chosen = RwSignal::new(first);
    let blocked = needs_issue && issues.is_empty();
    let message = move || match chosen.get_untracked() {
        Some(label) if label != "no issue" => format!("Run “{name}” on {label}?"),
        _ => format!("Run “{name}” without an issue?"),
    };
    let labels = issues.clone();
    let on_change = move |ev: leptos::ev::Event| {
        let value = event_target_value(&ev);
        let label = labels
            .iter()
            .find(|(id, _)| id.to_string() == value)
            .map(|(_, label)| label.clone())
            .unwrap_or_else(|| "no issue".to_string());
        chosen.set(Some(label));
    };
    view! {
        <ActionForm action=start attr:class="flex min-w-0 flex-wrap items-center gap-2" attr:data-testid="run-workflow-form">
            <input type="hidden" name="workflow_id" value=workflow.to_string() />
            <select
                name="issue_id"
                aria-label="Issue"
                class="min-w-0 max-w-full flex-1 rounded-md border border-slate-300 bg-white px-2 py-1.5 text-sm sm:max-w-xs dark:border-slate-700 dark:bg-slate-950"
                required=needs_issue
                disabled=blocked
                on:change=on_change
            >
                {(!needs_issue).then(|| view! { <option value="">"No issue"</option> })}
                {issues.into_iter().map(|(id, label)| view! { <option value=id.to_string()>{label}</option> }).collect_view()}
            </select>
            <button
                type="submit"
                class=if secondary { SECONDARY } else { PRIMARY }
                disabled=move || blocked || start.pending().get()
                on:click=move |ev| {
                    if !crate::components::confirm::confirmed(&message()) {
                        ev.prevent_default();
                    }
                }
            >
                {button}
            </button>
            {blocked.then(|| view! {
                <p class="w-full text-xs text-slate-500" data-testid="needs-issue">
                    "Its prompts use the issue: "<a class=LINK href="/issues">"open an issue"</a>" to run it on."
                </p>
            })}
        </ActionForm>
    }
}

/// Runs as a table: workflow, issue, status, progress, start.
#[component]
pub fn RunsTable(runs: Vec<WorkflowRunSummary>) -> impl IntoView {
    view! {
        <div class="overflow-x-auto rounded-xl border border-slate-200 bg-white dark:border-slate-800 dark:bg-slate-900">
            <table class="w-full text-left text-sm">
                <thead class="border-b border-slate-200 text-xs uppercase text-slate-500 dark:border-slate-800">
                    <tr>
                        <th class="px-4 py-2 font-medium">"Workflow"</th>
                        <th class="px-4 py-2 font-medium">"Status"</th>
                        <th class="hidden px-4 py-2 font-medium md:table-cell">"Issue"</th>
                        <th class="px-4 py-2 font-medium">"Steps"</th>
                        <th class="hidden px-4 py-2 font-medium sm:table-cell">"Started"</th>
                    </tr>
                </thead>
                <tbody>
                    {runs.into_iter().map(|r| view! {
                        <tr class="border-b border-slate-100 last:border-0 hover:bg-slate-50 dark:border-slate-800 dark:hover:bg-slate-800/50" data-testid="run-row">
                            <td class="px-4 py-2"><a class=LINK href=format!("/workflow-runs/{}", r.id)>{r.workflow_name.clone()}</a></td>
                            <td class="px-4 py-2"><RunStatusBadge status=Signal::stored(r.status) /></td>
                            <td class="hidden max-w-xs truncate px-4 py-2 md:table-cell">
                                {match r.issue.clone() {
                                    Some(i) => view! { <a class="hover:underline" href=format!("/issues/{}", i.id)>{format!("#{} {}", i.number, i.title)}</a> }.into_any(),
                                    None => view! { <span class="text-slate-400">"—"</span> }.into_any(),
                                }}
                            </td>
                            <td class="px-4 py-2 text-slate-600 dark:text-slate-400">{format!("{} / {}", r.steps_done, r.steps_total)}</td>
                            <td class="hidden px-4 py-2 text-slate-600 sm:table-cell dark:text-slate-400">
                                <Time ms=r.created_at />
                                {r.created_by.clone().map(|u| format!(" · {u}"))}
                            </td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// The runs of one workflow, with a button to start another.
#[component]
pub fn WorkflowRuns(
    workflow: Workflow,
    start: ServerAction<StartWorkflow>,
    runs: Resource<Result<Vec<WorkflowRunSummary>, crate::api::ApiError>>,
    issues: Resource<Result<IssueChoices, crate::api::ApiError>>,
) -> impl IntoView {
    follow_new_run(start);
    let error = action_error(start);
    view! {
        <section class="mt-8">
            <div class="mb-3 flex flex-wrap items-center justify-between gap-3">
                <h2 class="text-lg font-semibold">"Runs"</h2>
                <Suspense>
                    {move || {
                        let workflow = workflow.clone();
                        Suspend::new(async move {
                            let issues = issues.await.unwrap_or_default();
                            view! {
                                <RunWorkflowForm
                                    workflow=workflow.id
                                    name=workflow.name.clone()
                                    needs_issue=workflow.definition.needs_issue()
                                    issues=issues
                                    start=start
                                    button="Run now"
                                    secondary=true
                                />
                            }
                        })
                    }}
                </Suspense>
            </div>
            <FormError message=error />
            <Transition fallback=|| view! { <p class="text-sm text-slate-500">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match runs.await {
                        Err(e) => view! { <p class="text-sm text-rose-600">{e.to_string()}</p> }.into_any(),
                        Ok(list) if list.is_empty() => view! { <p class="text-sm text-slate-500">"This workflow has not run yet."</p> }.into_any(),
                        Ok(list) => view! { <RunsTable runs=list /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

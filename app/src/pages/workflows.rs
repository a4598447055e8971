//! Workflows: the list of definitions (each with a Run button) and the
//! latest runs of all of them. The editor is in `workflow_editor`, one
//! run's page in `workflow_run`.

use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

use super::common::{action_error, workflow_version, FormError, CARD, LINK, PRIMARY, SECONDARY};
use super::executions::time_text;
use crate::api::{list_workflow_runs, list_workflows, StartWorkflow};
use crate::components::{
    empty_state::{EmptyState, PageHeader},
    status::RunStatusBadge,
};
use crate::model::{Role, Workflow, WorkflowId, WorkflowRunSummary};
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
                            {list.into_iter().map(|w| view! { <WorkflowCard workflow=w start=start admin=admin /> }).collect_view()}
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
            <div class="mt-4 flex items-center gap-3">
                <ActionForm action=start>
                    <input type="hidden" name="workflow_id" value=workflow.id.to_string() />
                    <button type="submit" class=PRIMARY disabled=move || start.pending().get()>"Run"</button>
                </ActionForm>
                <a href=href class=SECONDARY>{if admin { "Edit" } else { "View" }}</a>
            </div>
        </article>
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
                                {time_text(r.created_at)}
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
    workflow: WorkflowId,
    start: ServerAction<StartWorkflow>,
    runs: Resource<Result<Vec<WorkflowRunSummary>, crate::api::ApiError>>,
) -> impl IntoView {
    follow_new_run(start);
    let error = action_error(start);
    view! {
        <section class="mt-8">
            <div class="mb-3 flex items-center justify-between gap-3">
                <h2 class="text-lg font-semibold">"Runs"</h2>
                <ActionForm action=start>
                    <input type="hidden" name="workflow_id" value=workflow.to_string() />
                    <button type="submit" class=SECONDARY disabled=move || start.pending().get()>"Run now"</button>
                </ActionForm>
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

//! `/workflow-runs/:id`: one run of a workflow. Its graph coloured by each
//! step's status, the approval gates (Approve / Reject), Cancel, "Re-run
//! from here" once it has ended, and its history.
//!
//! Every button is a form posting to `act_on_run`, so all of it works
//! without JavaScript. With it, the page reads the run again whenever an
//! event of this run arrives (simpler than patching, and always right).

use crate::components::time::Time;
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map};

use super::common::{action_error, workspace_version, FormError, CARD, DANGER, LINK, SECONDARY};
use super::executions::{duration_text, time_text};
use crate::api::{get_workflow_run, workflow_run_history, ActOnRun, ApiError};
use crate::components::{
    empty_state::Missing,
    status::{RunStatusBadge, StepStatusBadge},
    workflow_graph::{GraphNode, GraphStage, WorkflowGraph},
};
use crate::model::{RunStep, StepStatus, WorkflowRun, WorkflowRunId};

const HISTORY: &str = "mb-3 text-lg font-semibold";

#[component]
pub fn WorkflowRunPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || {
        params
            .with(|p| p.get("id"))
            .and_then(|s| s.parse::<WorkflowRunId>().ok())
    };
    let id_now = move || {
        params
            .with_untracked(|p| p.get("id"))
            .and_then(|s| s.parse::<WorkflowRunId>().ok())
    };
    let act = ServerAction::<ActOnRun>::new();
    let navigate = use_navigate();
    // "Re-run from here" answers with the new run: show it.
    Effect::new(move |_| {
        if let Some(Ok(run)) = act.value().get() {
            if Some(run.id) != id_now() {
                navigate(&format!("/workflow-runs/{}", run.id), Default::default());
            }
        }
    });
    let version = workspace_version(move |m| {
        m.workflow_seq()
            .is_some_and(|(run, _)| Some(run) == id_now())
    });
    let run = Resource::new(
        move || (id(), version.get(), act.version().get()),
        |(id, _, _)| async move {
            match id {
                Some(id) => get_workflow_run(id).await,
                None => Err(ApiError::NotFound),
            }
        },
    );
    let history = Resource::new(
        move || (id(), version.get(), act.version().get()),
        |(id, _, _)| async move {
            match id {
                Some(id) => workflow_run_history(id).await,
                None => Err(ApiError::NotFound),
            }
        },
    );
    let error = action_error(act);

    view! {
        <Transition fallback=|| view! { <p class="text-sm text-slate-500">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match run.await {
                    Ok(run) => view! { <RunView run=run act=act error=error /> }.into_any(),
                    Err(ApiError::NotFound) => view! {
                        <Missing title="Workflow run not found" body="There is no such workflow run: the address may be wrong." back_href="/workflows" back_label="All workflows" />
                    }.into_any(),
                    Err(e) => view! { <p class="text-sm text-rose-600">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
        // (The heading only for a run that exists: a 404 shows no history.)
        <section class="mt-8">
            <Transition fallback=|| view! { <p class="text-sm text-slate-500">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match history.await {
                        Err(ApiError::NotFound) => ().into_any(),
                        Err(e) => view! { <h2 class=HISTORY>"History"</h2><p class="text-sm text-rose-600">{e.to_string()}</p> }.into_any(),
                        Ok(events) if events.is_empty() => view! { <h2 class=HISTORY>"History"</h2><p class="text-sm text-slate-500">"Nothing has happened yet."</p> }.into_any(),
                        Ok(events) => view! {
                            <h2 class=HISTORY>"History"</h2>
                            <ol class="flex flex-col divide-y divide-slate-100 rounded-xl border border-slate-200 bg-white text-sm dark:divide-slate-800 dark:border-slate-800 dark:bg-slate-900" data-testid="run-history">
                                {events.into_iter().map(|e| view! {
                                    <li class="flex flex-wrap gap-x-3 px-4 py-2" data-testid="history-entry">
                                        <span class="w-48 shrink-0 text-xs leading-5 text-slate-500">{time_text(e.at_ms)}</span>
                                        <span class="min-w-0 flex-1 break-words">{e.body.describe()}</span>
                                        <span class="text-xs leading-5 text-slate-500">{e.body.actor().map(str::to_string).unwrap_or_else(|| "Yagura".into())}</span>
                                    </li>
                                }).collect_view()}
                            </ol>
                        }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// The third line of a step's box: how long it took, or what it waits for.
fn step_detail(step: &RunStep) -> Option<String> {
    if step.reused {
        return Some("reused".into());
    }
    match (step.status, step.started_at, step.finished_at) {
        (StepStatus::WaitingApproval, _, _) => {
            Some(crate::components::status::words("waiting_approval"))
        }
        (_, Some(s), Some(f)) if f >= s => Some(duration_text((f - s) as u64)),
        _ => None,
    }
}

/// The graph of a run: the definition it started with, coloured by its steps.
fn graph(run: &WorkflowRun) -> Vec<GraphStage> {
    run.definition
        .stages
        .iter()
        .enumerate()
        .map(|(si, stage)| GraphStage {
            name: stage.name.clone(),
            nodes: stage
                .steps
                .iter()
                .enumerate()
                .map(|(ji, def)| match run.step(si as u32, ji as u32) {
                    Some(step) => GraphNode {
                        key: step.key.clone(),
                        agent: step.agent_name.clone(),
                        status: Some(step.status),
                        approval: step.approval,
                        detail: step_detail(step),
                        href: step.execution_id.map(|e| format!("/executions/{e}")),
                    },
                    None => GraphNode {
                        key: def.key.clone(),
                        agent: String::new(),
                        status: Some(StepStatus::Pending),
                        approval: def.approval,
                        detail: None,
                        href: None,
                    },
                })
                .collect(),
        })
        .collect()
}

#[component]
fn RunView(
    run: WorkflowRun,
    act: ServerAction<ActOnRun>,
    error: Signal<Option<String>>,
) -> impl IntoView {
    let id = run.id;
    let terminal = run.status.is_terminal();
    let stages = graph(&run);
    let title = run.workflow_name.clone();
    let mut steps = run.steps.clone();
    steps.sort_by_key(|s| (s.stage, s.index));
    let stage_name = |si: u32| {
        run.definition
            .stages
            .get(si as usize)
            .map(|s| s.name.clone())
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| format!("Stage {}", si + 1))
    };
    let rows = steps
        .into_iter()
        .map(|step| {
            let stage = stage_name(step.stage);
            view! { <StepRow step=step stage=stage run=id terminal=terminal act=act /> }
        })
        .collect_view();

    view! {
        <leptos_meta::Title text=format!("{title} · run") />
        <div class="mb-6 flex flex-wrap items-start justify-between gap-4">
            <div class="min-w-0">
                <p class="text-xs font-medium uppercase text-slate-500">"Workflow run"</p>
                <h1 class="mt-1 flex flex-wrap items-center gap-3 text-2xl font-semibold tracking-tight">
                    {match run.workflow_id {
                        Some(w) => view! { <a class="hover:underline" href=format!("/workflows/{w}")>{title.clone()}</a> }.into_any(),
                        None => view! { <span>{title.clone()}</span> }.into_any(),
                    }}
                    <RunStatusBadge status=Signal::stored(run.status) testid="run-status" exact=true />
                </h1>
                <p class="mt-1 text-sm text-slate-600 dark:text-slate-400">
                    "Started "<Time ms=run.created_at />
                    {run.created_by.clone().map(|u| format!(" by {u}"))}
                    {run.finished_at.map(|f| view! { " · ended "<Time ms=f /> })}
                </p>
                <p class="mt-1 flex flex-wrap gap-x-3 text-sm">
                    {run.issue.clone().map(|i| view! {
                        <span>"On issue "<a class=LINK href=format!("/issues/{}", i.id) data-testid="run-issue">{format!("#{} {}", i.number, i.title)}</a></span>
                    })}
                    {run.rerun_of.map(|r| view! {
                        <span>"Re-run of "<a class=LINK href=format!("/workflow-runs/{r}") data-testid="rerun-of">"an earlier run"</a></span>
                    })}
                    {run.branch.clone().map(|b| view! {
                        <span>"Branch "<code class="font-mono text-xs" data-testid="run-branch">{b}</code>" · "
                            <a class=LINK href=format!("/workflow-runs/{}/changes", run.id) data-testid="run-changes">"Changes"</a>
                        </span>
                    })}
                    {run.pr_url.clone().map(|u| view! {
                        <span>"Pull request "<a class=LINK href=u.clone() rel="external noopener" target="_blank" data-testid="run-pr">{u.clone()}</a></span>
                    })}
                </p>
                {run.github_error.clone().map(|e| view! { <p class="mt-2 text-sm text-amber-700 dark:text-amber-300" data-testid="run-github-error">{format!("Reporting to GitHub failed (retried): {e}")}</p> })}
                {run.error.clone().map(|e| view! { <p class="mt-2 text-sm text-rose-600 dark:text-rose-400" data-testid="run-error">{e}</p> })}
            </div>
            {(!terminal).then(|| view! {
                <ActionForm action=act>
                    <input type="hidden" name="id" value=id.to_string() />
                    <input type="hidden" name="action[action]" value="cancel" />
                    <button type="submit" class=DANGER data-testid="cancel-run" disabled=move || act.pending().get() on:click=crate::components::confirm::confirm_click("Cancel this workflow run? Its running step is stopped.")>"Cancel run"</button>
                </ActionForm>
            })}
        </div>
        <FormError message=error />
        <section class=format!("mb-4 {CARD}")>
            <WorkflowGraph stages=Signal::stored(stages) testid="run-graph" />
        </section>
        <section>
            <h2 class="mb-3 text-lg font-semibold">"Steps"</h2>
            <ul class="flex flex-col divide-y divide-slate-100 rounded-xl border border-slate-200 bg-white dark:divide-slate-800 dark:border-slate-800 dark:bg-slate-900">
                {rows}
            </ul>
        </section>
    }
}

/// A form with one button that does `kind` (approve, reject, rerunFrom) to
/// one step.
#[component]
fn StepAction(
    act: ServerAction<ActOnRun>,
    run: WorkflowRunId,
    kind: &'static str,
    stage: u32,
    index: u32,
    testid: String,
    class: &'static str,
    label: &'static str,
) -> impl IntoView {
    view! {
        <ActionForm action=act>
            <input type="hidden" name="id" value=run.to_string() />
            <input type="hidden" name="action[action]" value=kind />
            <input type="hidden" name="action[stage]" value=stage.to_string() />
            <input type="hidden" name="action[index]" value=index.to_string() />
            <button
                type="submit"
                class=class
                data-testid=testid
                disabled=move || act.pending().get()
                on:click=move |ev| {
                    // Rejecting ends the run: ask first (approving is undone by cancelling).
                    if kind == "reject"
                        && !crate::components::confirm::confirmed("Reject this step? The workflow run fails.")
                    {
                        ev.prevent_default();
                    }
                }
            >
                {label}
            </button>
        </ActionForm>
    }
}

#[component]
fn StepRow(
    step: RunStep,
    stage: String,
    run: WorkflowRunId,
    terminal: bool,
    act: ServerAction<ActOnRun>,
) -> impl IntoView {
    let approve = "rounded-md bg-emerald-600 px-3 py-1.5 text-sm font-semibold text-white hover:bg-emerald-500 disabled:opacity-50";
    let waiting = step.status == StepStatus::WaitingApproval;
    let result = step
        .result
        .clone()
        .filter(|r| !r.is_null() && r != &serde_json::json!({}));
    let decided = step.decided_by.clone().map(|who| {
        let verb = match step.status {
            StepStatus::Rejected => "Rejected",
            _ => "Approved",
        };
        match step.decided_at {
            Some(at) => format!("{verb} by {who}, {}", time_text(at)),
            None => format!("{verb} by {who}"),
        }
    });
    view! {
        <li class="flex flex-col gap-2 px-4 py-3 text-sm" data-testid="run-step" data-step=step.key.clone()>
            <div class="flex flex-wrap items-center gap-x-3 gap-y-2">
                <span class="font-mono font-semibold">{step.key.clone()}</span>
                <StepStatusBadge status=step.status />
                <span class="text-slate-600 dark:text-slate-400">{format!("{} · {}", stage, step.agent_name)}</span>
                {step.approval.then(|| view! { <span class="text-xs text-amber-700 dark:text-amber-300">"approval gate"</span> })}
                {step_detail(&step).filter(|_| !waiting).map(|d| view! { <span class="text-xs text-slate-500">{d}</span> })}
                {step.execution_id.map(|e| view! { <a class=LINK href=format!("/executions/{e}")>"Execution"</a> })}
                <span class="ml-auto flex flex-wrap gap-2">
                    {waiting.then(|| view! {
                        <StepAction act=act run=run kind="approve" stage=step.stage index=step.index testid=format!("approve-{}", step.key) class=approve label="Approve" />
                        <StepAction act=act run=run kind="reject" stage=step.stage index=step.index testid=format!("reject-{}", step.key) class=DANGER label="Reject" />
                    })}
                    {terminal.then(|| view! {
                        <StepAction act=act run=run kind="rerunFrom" stage=step.stage index=step.index testid=format!("rerun-{}", step.key) class=SECONDARY label="Re-run from here" />
                    })}
                </span>
            </div>
            {decided.map(|d| view! { <p class="text-xs text-slate-500">{d}</p> })}
            {step.error.clone().map(|e| view! { <p class="text-rose-600 dark:text-rose-400">{e}</p> })}
            {result.map(|r| view! {
                <details>
                    <summary class="cursor-pointer text-xs font-medium text-slate-500">"Result"</summary>
                    <pre class="mt-1 overflow-x-auto rounded-md bg-slate-100 p-2 text-xs dark:bg-slate-950">{serde_json::to_string_pretty(&r).unwrap_or_default()}</pre>
                </details>
            })}
        </li>
    }
}

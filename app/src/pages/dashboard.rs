use std::collections::HashMap;

use leptos::prelude::*;

use super::common::{workflow_version, LINK};
use super::executions::{lifecycle_version, ExecutionTable};
use crate::api::get_dashboard;
use crate::components::{
    empty_state::{EmptyState, PageHeader},
    status::{words, ProgressBar, RunStatusBadge, StatusBadge},
    time::Time,
};
use crate::model::{ExecutionId, ExecutionStatus, WorkflowRunSummary};
use crate::protocol::native::ServerMessage;
use crate::state::use_live_connection;

#[component]
pub fn DashboardPage() -> impl IntoView {
    let live = use_live_connection();
    let version = lifecycle_version();
    let runs_version = workflow_version();
    let data = Resource::new(
        move || (version.get(), runs_version.get()),
        |_| get_dashboard(),
    );
    // Live progress of running executions, between list refreshes.
    let progress = RwSignal::new(HashMap::<ExecutionId, (u8, String)>::new());
    Effect::new(move |_| {
        let Some(msg) = live.lifecycle.get() else {
            return;
        };
        if let ServerMessage::AgentProgress {
            execution_id,
            progress: p,
            current_step,
            ..
        } = &msg
        {
            progress.update(|m| {
                m.insert(*execution_id, (*p, current_step.clone()));
            });
        }
    });

    view! {
        <PageHeader title="Dashboard" subtitle="Running agents, workflows and today's activity, live." />
        <Transition fallback=|| view! { <p class="text-sm text-slate-500">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let d = match data.await {
                    Ok(d) => d,
                    Err(e) => return view! { <p class="text-sm text-rose-600">{e.to_string()}</p> }.into_any(),
                };
                let count = |s: ExecutionStatus| d.today.iter().find(|(st, _)| *st == s).map(|(_, n)| *n).unwrap_or(0);
                // "Running" is what runs now (as the list below), whenever
                // it started; the others count today's.
                let tiles = [
                    ("Running", "now", d.active.len() as u64),
                    ("Completed", "today", count(ExecutionStatus::Completed)),
                    ("Failed", "today", count(ExecutionStatus::Failed) + count(ExecutionStatus::TimedOut)),
                    ("Cancelled", "today", count(ExecutionStatus::Cancelled)),
                ];
                // The activity: the latest runs by their last change, from
                // the store (a reload keeps it), refreshed on every start and end.
                let mut activity: Vec<(i64, ExecutionId, String, Option<String>)> = d
                    .recent
                    .iter()
                    .map(|e| {
                        let at = e.finished_at.or(e.started_at).unwrap_or(e.created_at);
                        let text = format!("{} {}", e.agent_name, words(e.status.as_str()));
                        (at, e.id, text, e.error_message.clone())
                    })
                    .collect();
                activity.sort_by_key(|a| std::cmp::Reverse(a.0));
                view! {
                    <section aria-label="Today" class="mb-6 grid grid-cols-2 gap-3 md:grid-cols-4">
                        {tiles.into_iter().map(|(label, when, n)| view! {
                            <div class="rounded-xl border border-slate-200 bg-white p-4 dark:border-slate-800 dark:bg-slate-900" data-testid=format!("today-{}", label.to_lowercase())>
                                <p class="text-xs font-medium uppercase text-slate-500">{label}" "{when}</p>
                                <p class="mt-1 text-2xl font-semibold">{n}</p>
                            </div>
                        }).collect_view()}
                    </section>
                    <div class="grid gap-4 md:grid-cols-3">
                        <section class="rounded-xl border border-slate-200 bg-white p-5 md:col-span-2 dark:border-slate-800 dark:bg-slate-900">
                            <h2 class="text-sm font-semibold text-slate-500 dark:text-slate-400">"Running now"</h2>
                            <div class="mt-4 flex flex-col gap-4">
                                {if d.active.is_empty() {
                                    view! { <EmptyState title="Nothing is running" body="Agent executions appear here, with live progress, as soon as they start." /> }.into_any()
                                } else {
                                    d.active.into_iter().map(|e| {
                                        let id = e.id;
                                        let initial = (e.progress, e.current_step.clone().unwrap_or_default());
                                        let live_progress = Signal::derive(move || progress.with(|m| m.get(&id).map(|p| p.0)).unwrap_or(initial.0));
                                        let step = initial.1.clone();
                                        let live_step = Signal::derive(move || Some(progress.with(|m| m.get(&id).map(|p| p.1.clone())).unwrap_or_else(|| step.clone())));
                                        view! {
                                            <div data-testid="running-execution">
                                                <div class="mb-1 flex items-center justify-between gap-2">
                                                    <a class="font-medium text-indigo-600 hover:underline dark:text-indigo-400" href=format!("/executions/{id}")>{e.agent_name.clone()}</a>
                                                    <StatusBadge status=Signal::stored(e.status) />
                                                </div>
                                                <ProgressBar progress=live_progress step=live_step />
                                            </div>
                                        }
                                    }).collect_view().into_any()
                                }}
                            </div>
                        </section>
                        <section class="rounded-xl border border-slate-200 bg-white p-5 dark:border-slate-800 dark:bg-slate-900">
                            <h2 class="text-sm font-semibold text-slate-500 dark:text-slate-400">"Activity"</h2>
                            <ul class="mt-3 flex flex-col gap-2 text-sm" data-testid="activity-feed">
                                {if activity.is_empty() {
                                    view! { <li class="text-slate-500">"Runs appear here as they start and end."</li> }.into_any()
                                } else {
                                    activity.into_iter().map(|(at, id, text, error)| view! {
                                        <li data-testid="activity">
                                            <a class="hover:underline" href=format!("/executions/{id}")>{text}</a>
                                            <span class="ml-1 text-xs text-slate-500"><Time ms=at /></span>
                                            {error.map(|e| view! { <p class="truncate text-xs text-rose-600 dark:text-rose-400" title=e.clone()>{e.clone()}</p> })}
                                        </li>
                                    }).collect_view().into_any()
                                }}
                            </ul>
                        </section>
                    </div>
                    <RunningWorkflows runs=d.runs />
                    <section class="mt-6">
                        <h2 class="mb-3 text-sm font-semibold text-slate-500 dark:text-slate-400">"Latest executions"</h2>
                        {if d.recent.is_empty() {
                            view! { <p class="text-sm text-slate-500">"No executions yet. Run an agent from the "<a class="text-indigo-600 hover:underline dark:text-indigo-400" href="/agents">"Agents"</a>" page."</p> }.into_any()
                        } else {
                            view! { <ExecutionTable items=d.recent /> }.into_any()
                        }}
                    </section>
                }.into_any()
            })}
        </Transition>
    }
}

/// Workflow runs that have not ended, with how many of their steps have.
#[component]
fn RunningWorkflows(runs: Vec<WorkflowRunSummary>) -> impl IntoView {
    view! {
        <section class="mt-6 rounded-xl border border-slate-200 bg-white p-5 dark:border-slate-800 dark:bg-slate-900">
            <h2 class="text-sm font-semibold text-slate-500 dark:text-slate-400">"Running workflows"</h2>
            {if runs.is_empty() {
                view! {
                    <p class="mt-3 text-sm text-slate-500">
                        "No workflow is running. Start one from "<a class=LINK href="/workflows">"Workflows"</a>" or on an issue."
                    </p>
                }.into_any()
            } else {
                view! {
                    <ul class="mt-4 flex flex-col gap-4">
                        {runs.into_iter().map(|r| {
                            let percent = (r.steps_done * 100).checked_div(r.steps_total).unwrap_or(0).min(100);
                            view! {
                                <li data-testid="running-workflow">
                                    <div class="mb-1 flex flex-wrap items-center justify-between gap-2">
                                        <span class="min-w-0">
                                            <a class=LINK href=format!("/workflow-runs/{}", r.id)>{r.workflow_name.clone()}</a>
                                            {r.issue.clone().map(|i| view! {
                                                <a class="ml-2 text-sm text-slate-600 hover:underline dark:text-slate-400" href=format!("/issues/{}", i.id)>
                                                    {format!("#{} {}", i.number, i.title)}
                                                </a>
                                            })}
                                        </span>
                                        <RunStatusBadge status=Signal::stored(r.status) />
                                    </div>
                                    <div class="flex items-center gap-3">
                                        <div
                                            class="h-2 flex-1 overflow-hidden rounded-full bg-slate-200 dark:bg-slate-800"
                                            role="progressbar"
                                            aria-label="Steps done"
                                            aria-valuemin="0"
                                            aria-valuemax=r.steps_total.to_string()
                                            aria-valuenow=r.steps_done.to_string()
                                        >
                                            <div class="h-2 rounded-full bg-indigo-500" style=format!("width: {percent}%")></div>
                                        </div>
                                        <span class="text-xs text-slate-600 dark:text-slate-400">{format!("{} / {} steps", r.steps_done, r.steps_total)}</span>
                                    </div>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}

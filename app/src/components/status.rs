use leptos::prelude::*;

use crate::model::{ExecutionStatus, IssueState, RunStatus, StepStatus};

/// A coloured pill with the status name.
#[component]
pub fn StatusBadge(#[prop(into)] status: Signal<ExecutionStatus>) -> impl IntoView {
    let class = move || {
        let colour = match status.get() {
            ExecutionStatus::Queued => {
                "bg-slate-100 text-slate-700 dark:bg-slate-800 dark:text-slate-300"
            }
            ExecutionStatus::Running => "bg-sky-100 text-sky-800 dark:bg-sky-950 dark:text-sky-300",
            ExecutionStatus::Paused => {
                "bg-amber-100 text-amber-800 dark:bg-amber-950 dark:text-amber-300"
            }
            ExecutionStatus::Completed => {
                "bg-emerald-100 text-emerald-800 dark:bg-emerald-950 dark:text-emerald-300"
            }
            ExecutionStatus::Failed | ExecutionStatus::TimedOut => {
                "bg-rose-100 text-rose-800 dark:bg-rose-950 dark:text-rose-300"
            }
            ExecutionStatus::Cancelled => {
                "bg-zinc-200 text-zinc-700 dark:bg-zinc-800 dark:text-zinc-300"
            }
        };
        format!("inline-flex items-center rounded-full px-2 py-0.5 text-xs font-medium {colour}")
    };
    view! {
        <span class=class data-testid="status-badge" data-status=move || status.get().as_str()>
            {move || words(status.get().as_str())}
        </span>
    }
}

/// A progress bar 0–100 with its step text.
#[component]
pub fn ProgressBar(
    #[prop(into)] progress: Signal<u8>,
    #[prop(into)] step: Signal<Option<String>>,
) -> impl IntoView {
    view! {
        <div class="w-full">
            <div class="flex justify-between text-xs text-slate-600 dark:text-slate-400">
                <span data-testid="current-step">{move || step.get().unwrap_or_default()}</span>
                <span data-testid="progress-value">{move || format!("{}%", progress.get())}</span>
            </div>
            <div
                class="mt-1 h-2 w-full overflow-hidden rounded-full bg-slate-200 dark:bg-slate-800"
                role="progressbar"
                aria-valuemin="0"
                aria-valuemax="100"
                aria-valuenow=move || progress.get().to_string()
            >
                <div
                    class="h-2 rounded-full bg-indigo-500 transition-all"
                    style=move || format!("width: {}%", progress.get())
                ></div>
            </div>
        </div>
    }
}

const PILL: &str = "inline-flex items-center rounded-full px-2 py-0.5 text-xs font-medium";

fn run_colour(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Running => "bg-sky-100 text-sky-800 dark:bg-sky-950 dark:text-sky-300",
        RunStatus::WaitingApproval => {
            "bg-amber-100 text-amber-800 dark:bg-amber-950 dark:text-amber-300"
        }
        RunStatus::Completed => {
            "bg-emerald-100 text-emerald-800 dark:bg-emerald-950 dark:text-emerald-300"
        }
        RunStatus::Failed => "bg-rose-100 text-rose-800 dark:bg-rose-950 dark:text-rose-300",
        RunStatus::Cancelled | RunStatus::Rejected => {
            "bg-zinc-200 text-zinc-700 dark:bg-zinc-800 dark:text-zinc-300"
        }
    }
}

/// A workflow run's status. `exact` shows the status word as the API
/// spells it (`waiting_approval`), for pages that tests read.
#[component]
pub fn RunStatusBadge(
    #[prop(into)] status: Signal<RunStatus>,
    #[prop(optional)] testid: Option<&'static str>,
    #[prop(optional)] exact: bool,
) -> impl IntoView {
    view! {
        <span
            class=move || format!("{PILL} {}", run_colour(status.get()))
            data-testid=testid.unwrap_or("run-status-badge")
            data-status=move || status.get().as_str()
        >
            {move || {
                let s = status.get().as_str();
                if exact { s.to_string() } else { words(s) }
            }}
        </span>
    }
}

/// The colours of a step's status, shared by badges and the graph legend.
pub fn step_colour(status: StepStatus) -> &'static str {
    match status {
        StepStatus::Pending => "bg-slate-100 text-slate-700 dark:bg-slate-800 dark:text-slate-300",
        StepStatus::WaitingApproval => {
            "bg-amber-100 text-amber-800 dark:bg-amber-950 dark:text-amber-300"
        }
        StepStatus::Running => "bg-sky-100 text-sky-800 dark:bg-sky-950 dark:text-sky-300",
        StepStatus::Completed => {
            "bg-emerald-100 text-emerald-800 dark:bg-emerald-950 dark:text-emerald-300"
        }
        StepStatus::Failed => "bg-rose-100 text-rose-800 dark:bg-rose-950 dark:text-rose-300",
        StepStatus::Cancelled | StepStatus::Skipped | StepStatus::Rejected => {
            "bg-zinc-100 text-zinc-600 dark:bg-zinc-800 dark:text-zinc-400"
        }
    }
}

#[component]
pub fn StepStatusBadge(status: StepStatus) -> impl IntoView {
    view! {
        <span class=format!("{PILL} {}", step_colour(status)) data-status=status.as_str()>
            {words(status.as_str())}
        </span>
    }
}

/// Open (green) or closed (violet), like the forges people know.
#[component]
pub fn IssueStateBadge(state: IssueState) -> impl IntoView {
    let colour = match state {
        IssueState::Open => {
            "bg-emerald-100 text-emerald-800 dark:bg-emerald-950 dark:text-emerald-300"
        }
        IssueState::Closed => {
            "bg-violet-100 text-violet-800 dark:bg-violet-950 dark:text-violet-300"
        }
    };
    view! {
        <span class=format!("{PILL} {colour}") data-testid="issue-state" data-state=state.as_str()>
            {state.as_str()}
        </span>
    }
}

/// A state as the page says it: one name per state, everywhere
/// (`waiting_approval` is "waiting for approval", `timed_out` "timed out").
pub fn words(state: &str) -> String {
    match state {
        "waiting_approval" => "waiting for approval".to_string(),
        other => other.replace('_', " "),
    }
}

use leptos::prelude::*;

use crate::model::ExecutionStatus;

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
            {move || status.get().as_str().replace('_', " ")}
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

use leptos::prelude::*;

use crate::components::empty_state::{EmptyState, PageHeader};
use crate::state::{use_live_connection, LinkStatus};

#[component]
pub fn DashboardPage() -> impl IntoView {
    let live = use_live_connection();
    view! {
        <PageHeader title="Dashboard" subtitle="Running agents, workflows and today's activity, live." />
        <div class="grid gap-4 md:grid-cols-3">
            <section class="rounded-xl border border-slate-200 bg-white p-5 dark:border-slate-800 dark:bg-slate-900 md:col-span-2">
                <h2 class="text-sm font-semibold text-slate-500 dark:text-slate-400">"Running now"</h2>
                <div class="mt-4">
                    <EmptyState
                        title="Nothing is running"
                        body="Agent executions and workflow runs appear here, with live progress, as soon as they start."
                    />
                </div>
            </section>
            <section class="rounded-xl border border-slate-200 bg-white p-5 dark:border-slate-800 dark:bg-slate-900">
                <h2 class="text-sm font-semibold text-slate-500 dark:text-slate-400">"Live link"</h2>
                <p class="mt-4 text-sm">
                    {move || match live.status.get() {
                        LinkStatus::Connected => "This tab receives events as they happen.".to_string(),
                        LinkStatus::SignedOut => "Your session ended. Sign in again to receive events.".to_string(),
                        LinkStatus::Reconnecting { attempt } => format!("The link dropped; reconnecting (attempt {attempt})."),
                        LinkStatus::Connecting => "Opening the live link…".to_string(),
                    }}
                </p>
                <p class="mt-2 break-all font-mono text-xs text-slate-500" data-testid="connection-id">
                    {move || live.connection_id.get().unwrap_or_default()}
                </p>
            </section>
        </div>
    }
}

use leptos::prelude::*;

use crate::state::{use_live_connection, LinkStatus};

/// A dot and a word saying whether live updates are flowing.
#[component]
pub fn ConnectionIndicator() -> impl IntoView {
    let live = use_live_connection();
    let status = live.status;
    let dot = move || match status.get() {
        LinkStatus::Connected => "h-2 w-2 rounded-full bg-emerald-500",
        LinkStatus::Connecting | LinkStatus::Reconnecting { .. } => {
            "h-2 w-2 rounded-full bg-amber-500 animate-pulse"
        }
        LinkStatus::SignedOut => "h-2 w-2 rounded-full bg-rose-500",
    };
    let title = move || match status.get() {
        LinkStatus::Reconnecting { attempt } => {
            format!("Live updates: reconnecting (attempt {attempt})")
        }
        other => format!("Live updates: {}", other.label()),
    };
    view! {
        <span
            class="inline-flex items-center gap-2 rounded-full border border-slate-200 px-2 py-1 text-xs sm:px-3 font-medium text-slate-700 dark:border-slate-700 dark:text-slate-300"
            data-testid="connection-indicator"
            data-connection-id=move || live.connection_id.get().unwrap_or_default()
            data-status=move || match status.get() {
                LinkStatus::Connected => "connected",
                LinkStatus::Connecting => "connecting",
                LinkStatus::Reconnecting { .. } => "reconnecting",
                LinkStatus::SignedOut => "signed-out",
            }
            title=title
            role="status"
            aria-live="polite"
        >
            <span class=dot aria-hidden="true"></span>
            // On a phone the dot says it; the word is for screen readers.
            <span class="sr-only sm:not-sr-only">{move || status.get().label()}</span>
        </span>
    }
}

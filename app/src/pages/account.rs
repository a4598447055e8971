//! Your account: who you are, your password, your sessions. Changing the
//! password or signing out elsewhere ends every session but this
//! browser's (their open connections close too); API keys are on their own
//! page and stay valid. Plain forms: works without JavaScript.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::common::{action_error, FormError, CARD, INPUT, LINK, PRIMARY, SECONDARY};
use crate::api::{ChangePassword, EndOtherSessions};
use crate::components::empty_state::PageHeader;
use crate::state::use_session;

#[component]
pub fn AccountPage() -> impl IntoView {
    let ctx = use_session();
    let change = ServerAction::<ChangePassword>::new();
    let end = ServerAction::<EndOtherSessions>::new();
    let query = use_query_map();
    let change_error = action_error(change);
    let end_error = action_error(end);
    // A plain form post comes back with `?error=`; the hydrated page has
    // the action's own error.
    let query_error = move || {
        query.with(|q| q.get("error")).map(|c| match c.as_str() {
            "invalid" => "The current password is wrong, or the new one is too short (8 characters at least) or typed differently twice.".to_string(),
            "too_many_attempts" => "Too many attempts. Wait a minute and try again.".to_string(),
            _ => "Something went wrong. Try again.".to_string(),
        })
    };
    let done = move || {
        if matches!(change.value().get(), Some(Ok(()))) {
            return Some("password");
        }
        if matches!(end.value().get(), Some(Ok(()))) {
            return Some("sessions");
        }
        match query.with(|q| q.get("done")).as_deref() {
            Some("password") => Some("password"),
            Some("sessions") => Some("sessions"),
            _ => None,
        }
    };
    view! {
        <leptos_meta::Title text="Your account" />
        <PageHeader title="Your account" subtitle="Your password and where you are signed in." />
        {move || done().map(|what| view! {
            <p role="status" data-testid="account-done" class="mb-4 rounded-md border border-emerald-200 bg-emerald-50 px-3 py-2 text-sm text-emerald-900 dark:border-emerald-900 dark:bg-emerald-950 dark:text-emerald-200">
                {match what {
                    "password" => "Your password was changed. Every other session was signed out.",
                    _ => "Every other session was signed out. This browser stays signed in.",
                }}
            </p>
        })}
        <section class=CARD>
            <Transition>
                {move || Suspend::new(async move {
                    ctx.session.await.ok().and_then(|s| s.user).map(|u| view! {
                        <p class="text-sm" data-testid="account-user">
                            "Signed in as "<strong>{u.username}</strong>" ("{u.role.as_str()}")."
                        </p>
                    })
                })}
            </Transition>
            <p class="mt-2 text-sm text-slate-600 dark:text-slate-400">
                "Keys for scripts and clients are on the "<a href="/api-keys" class=LINK>"API keys"</a>" page; a GitHub account to sign in with is linked in "<a href="/settings" class=LINK>"Settings"</a>"."
            </p>
        </section>
        <section class=format!("mt-6 {CARD}")>
            <h2 class="text-base font-semibold">"Change your password"</h2>
            <p class="mt-1 text-sm text-slate-600 dark:text-slate-400">"Signs you out everywhere else."</p>
            <ActionForm action=change attr:class="mt-4 grid max-w-md gap-3">
                <label class="block text-sm font-medium">
                    "Current password"
                    <input class=INPUT type="password" name="current" autocomplete="current-password" required />
                </label>
                <label class="block text-sm font-medium">
                    "New password"
                    <input class=INPUT type="password" name="password" autocomplete="new-password" required minlength="8" />
                </label>
                <label class="block text-sm font-medium">
                    "Repeat the new password"
                    <input class=INPUT type="password" name="confirm" autocomplete="new-password" required minlength="8" />
                </label>
                <div>
                    <button type="submit" class=PRIMARY disabled=move || change.pending().get()>"Change password"</button>
                </div>
            </ActionForm>
            <FormError message=Signal::derive(move || change_error.get().or_else(query_error)) />
        </section>
        <section class=format!("mt-6 {CARD}")>
            <h2 class="text-base font-semibold">"Sessions"</h2>
            <p class="mt-1 text-sm text-slate-600 dark:text-slate-400">"Signed in on another computer, or on one you no longer use? End every session but this one; their open pages lose their connection at once."</p>
            <ActionForm action=end attr:class="mt-4">
                <button type="submit" class=SECONDARY disabled=move || end.pending().get()>"Sign out everywhere else"</button>
            </ActionForm>
            <FormError message=end_error />
        </section>
    }
}

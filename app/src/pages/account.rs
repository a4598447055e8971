//! Your account: who you are, your password, your sessions. Changing the
//! password or signing out elsewhere ends every session but this
//! browser's (their open connections close too); API keys are on their own
//! page and stay valid. Plain forms: works without JavaScript.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::common::{action_error, FormError, CARD, INPUT, LINK, PRIMARY, SECONDARY};
use crate::api::{list_sessions, my_sso, ChangePassword, EndOtherSessions, EndSession, UnlinkSso};
use crate::components::empty_state::PageHeader;
use crate::components::time::Time;
use crate::model::SignedInSession;
use crate::state::use_session;

#[component]
pub fn AccountPage() -> impl IntoView {
    let ctx = use_session();
    let change = ServerAction::<ChangePassword>::new();
    let end = ServerAction::<EndOtherSessions>::new();
    let end_one = ServerAction::<EndSession>::new();
    let unlink = ServerAction::<UnlinkSso>::new();
    // Made before anything is awaited (one serialization id).
    let sessions = Resource::new(
        move || {
            (
                change.version().get(),
                end.version().get(),
                end_one.version().get(),
            )
        },
        |_| list_sessions(),
    );
    let sso = Resource::new(move || unlink.version().get(), |_| my_sso());
    let unlink_error = action_error(unlink);
    let end_one_error = action_error(end_one);
    let query = use_query_map();
    let change_error = action_error(change);
    let end_error = action_error(end);
    // A plain form post comes back with `?error=`; the hydrated page has
    // the action's own error.
    let query_error = move || {
        query.with(|q| q.get("error")).map(|c| match c.as_str() {
            "invalid" => "The current password is wrong, or the new one is too short (8 characters at least) or typed differently twice.".to_string(),
            "too_many_attempts" => "Too many attempts. Wait a minute and try again.".to_string(),
            other if other.starts_with("sso_") => super::auth::error_text(other).to_string(),
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
        if matches!(end_one.value().get(), Some(Ok(()))) {
            return Some("session");
        }
        if matches!(unlink.value().get(), Some(Ok(()))) {
            return Some("unlinked");
        }
        if query.with(|q| q.get("linked")).as_deref() == Some("sso") {
            return Some("linked");
        }
        match query.with(|q| q.get("done")).as_deref() {
            Some("password") => Some("password"),
            Some("sessions") => Some("sessions"),
            Some("session") => Some("session"),
            Some("unlinked") => Some("unlinked"),
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
                    "session" => "That session was signed out.",
                    "linked" => "Your single sign-on account is linked: you can sign in with it.",
                    "unlinked" => "Your single sign-on account is unlinked.",
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
        <Transition>
            {move || Suspend::new(async move {
                sso.await.ok().flatten().map(|link| view! {
                    <section class=format!("mt-6 {CARD}") data-testid="account-sso">
                        <h2 class="text-base font-semibold">"Single sign-on"</h2>
                        {match link.linked_as {
                            Some(who) => view! {
                                <p class="mt-1 text-sm">"Linked to "<strong>{who}</strong>{format!(" at {}.", link.provider)}</p>
                                <ActionForm action=unlink attr:class="mt-3">
                                    <button type="submit" class=SECONDARY disabled=move || unlink.pending().get()>"Unlink"</button>
                                </ActionForm>
                            }.into_any(),
                            None => view! {
                                <p class="mt-1 text-sm text-slate-600 dark:text-slate-400">{format!("Link your {} account to sign in with it.", link.provider)}</p>
                                <form method="post" action="/auth/sso/link" class="mt-3">
                                    <button type="submit" data-testid="sso-link" class=PRIMARY>{format!("Link {}", link.provider)}</button>
                                </form>
                            }.into_any(),
                        }}
                        <FormError message=unlink_error />
                    </section>
                })
            })}
        </Transition>
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
            <p class="mt-1 text-sm text-slate-600 dark:text-slate-400">"Where you are signed in. Signing a session out closes its open pages' connection at once."</p>
            <Transition fallback=|| view! { <p class="mt-3 text-sm text-slate-500">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    sessions.await.ok().map(|list| view! {
                        <ul class="mt-3 divide-y divide-slate-100 dark:divide-slate-800" data-testid="sessions">
                            {list.into_iter().map(|s| view! { <SessionRow session=s end=end_one /> }).collect_view()}
                        </ul>
                    })
                })}
            </Transition>
            <FormError message=end_one_error />
            <ActionForm action=end attr:class="mt-4">
                <button type="submit" class=SECONDARY disabled=move || end.pending().get()>"Sign out everywhere else"</button>
            </ActionForm>
            <FormError message=end_error />
        </section>
    }
}

/// "Firefox on Linux" from a user agent; the raw string when unknown.
fn describe(agent: Option<&str>) -> String {
    let Some(ua) = agent.filter(|a| !a.is_empty()) else {
        return "Unknown client".into();
    };
    let browser = [
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("Chromium/", "Chromium"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
        ("reqwest", "a script"),
        ("node", "Node.js"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    let os = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Mac OS X", "macOS"),
        ("Windows", "Windows"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    match (browser, os) {
        (Some(b), Some(o)) => format!("{b} on {o}"),
        (Some(b), None) => b.to_string(),
        _ => ua.chars().take(60).collect(),
    }
}

#[component]
fn SessionRow(session: SignedInSession, end: ServerAction<EndSession>) -> impl IntoView {
    let id = session.id.clone();
    view! {
        <li class="flex flex-wrap items-center gap-x-4 gap-y-2 py-3 text-sm" data-testid="session" data-current=session.current.to_string()>
            <div class="min-w-0 flex-1">
                <p class="font-medium" title=session.user_agent.clone().unwrap_or_default()>
                    {describe(session.user_agent.as_deref())}
                    {session.current.then(|| view! { <span class="ml-2 rounded bg-emerald-100 px-1.5 py-0.5 text-xs font-normal text-emerald-800 dark:bg-emerald-950 dark:text-emerald-200">"this browser"</span> })}
                </p>
                <p class="text-xs text-slate-500">
                    "signed in "<Time ms=session.created_at />
                    {session.client.clone().map(|c| format!(" from {c}"))}
                </p>
            </div>
            {(!session.current).then(|| view! {
                <ActionForm action=end>
                    <input type="hidden" name="id" value=id />
                    <button type="submit" class=SECONDARY disabled=move || end.pending().get()>"Sign out"</button>
                </ActionForm>
            })}
        </li>
    }
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn user_agents_read_as_people_say_them() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
        assert_eq!(describe(Some(chrome)), "Chrome on Linux");
        let firefox =
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(describe(Some(firefox)), "Firefox on macOS");
        assert_eq!(describe(Some("curl/8.5.0")), "curl");
        assert_eq!(describe(None), "Unknown client");
    }
}

//! The frame around every signed-in page: navigation, the live connection
//! indicator, the notification bell, the theme switch and the account
//! menu. On a phone the navigation folds into a `<details>` menu, which
//! needs no JavaScript.

use leptos::prelude::*;
use leptos_router::components::{Outlet, Redirect, A};

use super::{
    connection::ConnectionIndicator,
    dismiss::{close, close_on_outside},
    notifications::{NotificationBell, Toasts},
    theme::ThemeToggle,
};
use crate::model::User;
use crate::state::{provide_live_connection, use_session};

const NAV: &[(&str, &str)] = &[
    ("/", "Dashboard"),
    ("/agents", "Agents"),
    ("/executions", "Executions"),
    ("/workflows", "Workflows"),
    ("/issues", "Issues"),
    ("/board", "Board"),
    ("/insights", "Insights"),
    ("/runners", "Runners"),
    ("/api-keys", "API keys"),
    ("/people", "People"),
    ("/audit", "Audit log"),
    ("/settings", "Settings"),
    ("/account", "Your account"),
];

#[component]
fn NavLinks() -> impl IntoView {
    view! {
        <ul class="flex flex-col gap-1">
            {NAV
                .iter()
                .map(|(href, label)| {
                    view! {
                        <li>
                            <A
                                href=*href
                                exact=*href == "/"
                                attr:class="nav-link block rounded-md px-3 py-2 text-sm font-medium text-slate-700 hover:bg-slate-100 hover:text-slate-900 dark:text-slate-300 dark:hover:bg-slate-800 dark:hover:text-white"
                            >
                                {*label}
                            </A>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
}

/// Shows the page only to a signed-in user. The server already redirects
/// anonymous requests for pages; this covers navigation in the browser
/// after the session ended.
///
/// The frame and the page are not rendered inside the session's
/// `Suspense`: a `Suspense`'s children may be rendered more than once on
/// the server, and a resource made in such a render takes a new
/// serialization id each time, so the browser would read another
/// resource's data and fail to hydrate. Only what depends on the session
/// waits for it.
#[component]
pub fn ProtectedLayout() -> impl IntoView {
    let ctx = use_session();
    view! {
        <Transition>
            {move || Suspend::new(async move {
                match ctx.session.await {
                    Ok(session) if session.needs_setup => Some(view! { <Redirect path="/setup" /> }.into_any()),
                    Ok(session) if session.user.is_none() => Some(view! { <Redirect path="/login" /> }.into_any()),
                    Ok(_) => None,
                    Err(err) => Some(view! {
                        <div role="alert" class="border-b border-rose-200 bg-rose-50 px-4 py-2 text-sm text-rose-800 dark:border-rose-900 dark:bg-rose-950 dark:text-rose-200">
                            <strong>"Yagura is unreachable: "</strong>{err.to_string()}
                        </div>
                    }.into_any()),
                }
            })}
        </Transition>
        <AppFrame />
    }
}

/// The signed-in user's name and role, in the header.
#[component]
fn CurrentUser() -> impl IntoView {
    let ctx = use_session();
    view! {
        <Transition>
            {move || Suspend::new(async move {
                let user: Option<User> = ctx.session.await.ok().and_then(|s| s.user);
                user.map(|user| view! {
                    <a href="/account" title="Your account" class="hidden rounded-md px-1 text-sm text-slate-600 hover:text-slate-900 sm:inline dark:text-slate-400 dark:hover:text-white" data-testid="current-user">
                        {user.username}
                        <span class="ml-1 rounded bg-slate-100 px-1.5 py-0.5 text-xs dark:bg-slate-800">{user.role.as_str()}</span>
                    </a>
                })
            })}
        </Transition>
    }
}

#[component]
fn AppFrame() -> impl IntoView {
    provide_live_connection();
    super::time::provide_clock();
    let ctx = use_session();
    let menu = NodeRef::<leptos::html::Details>::new();
    close_on_outside(menu);
    // Following a link in the phone menu closes it.
    let location = leptos_router::hooks::use_location();
    Effect::new(move |_| {
        location.pathname.track();
        close(menu);
    });
    view! {
        <div class="min-h-screen md:flex">
            <aside class="hidden md:flex md:w-60 md:shrink-0 md:flex-col md:border-r md:border-slate-200 md:bg-white md:px-3 md:py-5 dark:md:border-slate-800 dark:md:bg-slate-900">
                <a href="/" class="mb-6 flex items-center gap-2 px-3 text-lg font-semibold tracking-tight">
                    <Logo />
                    "Yagura"
                </a>
                <nav aria-label="Main">
                    <NavLinks />
                </nav>
            </aside>
            <div class="min-w-0 flex-1">
                <header class="flex items-center gap-2 border-b sm:gap-3 border-slate-200 bg-white px-4 py-3 dark:border-slate-800 dark:bg-slate-900 md:px-8">
                    <details class="relative md:hidden" data-testid="mobile-menu" node_ref=menu>
                        <summary class="cursor-pointer list-none rounded-md border border-slate-200 px-3 py-1 text-sm font-medium dark:border-slate-700">
                            "Menu"
                        </summary>
                        <nav
                            aria-label="Main"
                            class="absolute left-0 z-20 mt-2 w-56 rounded-lg border border-slate-200 bg-white p-2 shadow-lg dark:border-slate-700 dark:bg-slate-900"
                        >
                            <NavLinks />
                        </nav>
                    </details>
                    <a href="/" class="flex items-center gap-2 font-semibold md:hidden" aria-label="Yagura">
                        <Logo />
                        <span class="hidden sm:inline">"Yagura"</span>
                    </a>
                    <div class="ml-auto flex items-center gap-2 sm:gap-3">
                        <ConnectionIndicator />
                        <NotificationBell />
                        <ThemeToggle />
                        <CurrentUser />
                        <ActionForm action=ctx.logout attr:class="inline">
                            <button
                                type="submit"
                                class="whitespace-nowrap rounded-md px-2 py-1 text-xs font-medium text-slate-700 hover:bg-slate-100 sm:px-3 dark:text-slate-300 dark:hover:bg-slate-800"
                            >
                                "Sign out"
                            </button>
                        </ActionForm>
                    </div>
                </header>
                <main class="mx-auto max-w-6xl px-4 py-6 md:px-8 md:py-8">
                    <Outlet />
                </main>
            </div>
            <Toasts />
        </div>
    }
}

/// The watchtower mark (yagura, 櫓).
#[component]
pub fn Logo() -> impl IntoView {
    view! {
        <svg viewBox="0 0 24 24" class="h-6 w-6 text-indigo-600 dark:text-indigo-400" aria-hidden="true">
            <path fill="currentColor" d="M12 2 3 7h18L12 2Zm-7 6h14v2H5V8Zm2 3h2v9H7v-9Zm8 0h2v9h-2v-9Zm-4 0h2v4h-2v-4ZM4 21h16v1H4v-1Z" />
        </svg>
    }
}

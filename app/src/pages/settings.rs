use leptos::prelude::*;

use crate::components::{empty_state::PageHeader, theme::ThemeToggle};
use crate::state::use_session;

#[component]
pub fn SettingsPage() -> impl IntoView {
    let ctx = use_session();
    view! {
        <PageHeader title="Settings" subtitle="Your account and this browser's preferences." />
        <section class="rounded-xl border border-slate-200 bg-white p-5 dark:border-slate-800 dark:bg-slate-900">
            <h2 class="text-sm font-semibold">"Account"</h2>
            <Transition>
                {move || Suspend::new(async move {
                    ctx.session.await.ok().and_then(|s| s.user).map(|user| view! {
                        <dl class="mt-4 grid grid-cols-3 gap-2 text-sm sm:max-w-md">
                            <dt class="text-slate-500">"Username"</dt>
                            <dd class="col-span-2 font-medium">{user.username}</dd>
                            <dt class="text-slate-500">"Role"</dt>
                            <dd class="col-span-2">{user.role.as_str()}</dd>
                        </dl>
                    })
                })}
            </Transition>
        </section>
        <section class="mt-4 rounded-xl border border-slate-200 bg-white p-5 dark:border-slate-800 dark:bg-slate-900">
            <h2 class="text-sm font-semibold">"Appearance"</h2>
            <p class="mt-2 text-sm text-slate-600 dark:text-slate-400">
                "Light, dark, or the same as your operating system. Remembered in this browser."
            </p>
            <div class="mt-4"><ThemeToggle /></div>
        </section>
    }
}

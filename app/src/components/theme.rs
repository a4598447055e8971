use leptos::prelude::*;

use crate::model::Theme;
use crate::state::{session::current_theme, use_session};

/// Cycles light → dark → system. A plain form, so it works without
/// JavaScript too (the server sets the cookie and sends the page back).
#[component]
pub fn ThemeToggle() -> impl IntoView {
    let ctx = use_session();
    let theme = move || current_theme(ctx);
    let label = move || match theme() {
        Theme::Light => "Light",
        Theme::Dark => "Dark",
        Theme::System => "System",
    };
    // The session is awaited, so that the server renders the saved choice
    // (the frame is not inside the session's `Suspense`).
    view! {
        <Transition>
            {move || Suspend::new(async move {
                let _ = ctx.session.await;
                view! {
                    <ActionForm action=ctx.set_theme attr:class="inline">
                        <input type="hidden" name="theme" value=move || theme().next().as_str() />
                        <button
                            type="submit"
                            class="rounded-md border border-slate-200 px-2 py-1 text-xs sm:px-3 font-medium text-slate-700 hover:bg-slate-100 dark:border-slate-700 dark:text-slate-300 dark:hover:bg-slate-800"
                            title="Switch colour theme"
                            data-testid="theme-toggle"
                        >
                            <span class="sr-only sm:not-sr-only">"Theme: "</span>
                            {label}
                        </button>
                    </ActionForm>
                }
            })}
        </Transition>
    }
}

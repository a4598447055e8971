use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn NotFoundPage() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(options) = use_context::<leptos_axum::ResponseOptions>() {
        options.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found" />
        <main class="flex min-h-screen flex-col items-center justify-center gap-4 px-4 text-center">
            <h1 class="text-2xl font-semibold">"Page not found"</h1>
            <p class="text-sm text-slate-600 dark:text-slate-400">"There is nothing at this address."</p>
            <a href="/" class="text-sm font-medium text-indigo-600 hover:underline dark:text-indigo-400">"Back to the dashboard"</a>
        </main>
    }
}

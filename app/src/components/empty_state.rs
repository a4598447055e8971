use leptos::prelude::*;

/// What a page shows when it has nothing to show yet. Honest: it says what
/// will appear here and how to make it appear, never fake data.
#[component]
pub fn EmptyState(
    title: &'static str,
    body: &'static str,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    view! {
        <div class="rounded-xl border border-dashed border-slate-300 bg-white px-6 py-12 text-center dark:border-slate-700 dark:bg-slate-900">
            <h2 class="text-base font-semibold text-slate-900 dark:text-slate-100">{title}</h2>
            <p class="mx-auto mt-2 max-w-md text-sm text-slate-600 dark:text-slate-400">{body}</p>
            {children.map(|c| view! { <div class="mt-6">{c()}</div> })}
        </div>
    }
}

/// A page heading with an optional line under it.
#[component]
pub fn PageHeader(title: &'static str, #[prop(optional)] subtitle: &'static str) -> impl IntoView {
    view! {
        <leptos_meta::Title text=title />
        <div class="mb-6">
            <h1 class="text-2xl font-semibold tracking-tight">{title}</h1>
            {(!subtitle.is_empty())
                .then(|| view! { <p class="mt-1 text-sm text-slate-600 dark:text-slate-400">{subtitle}</p> })}
        </div>
    }
}

/// What a page shows for an address that names nothing: answered with 404
/// (on the server), a heading, a line saying why, and a way on.
#[component]
pub fn Missing(
    title: &'static str,
    body: &'static str,
    back_href: &'static str,
    back_label: &'static str,
) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(options) = use_context::<leptos_axum::ResponseOptions>() {
        options.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <PageHeader title=title />
        <div data-testid="not-found">
            <EmptyState title=title body=body>
                <a href=back_href class="font-medium text-indigo-600 hover:underline dark:text-indigo-400">{back_label}</a>
                <span class="mx-2 text-slate-400">"·"</span>
                <a href="/" class="font-medium text-indigo-600 hover:underline dark:text-indigo-400">"Dashboard"</a>
            </EmptyState>
        </div>
    }
}

//! Yagura's user interface, shared by the server (which renders it) and the
//! browser (which hydrates it). See `docs/architecture.md`.

#![recursion_limit = "512"]

pub mod api;
pub mod components;
pub mod model;
pub mod pages;
pub mod protocol;
pub mod state;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::{
    components::{ParentRoute, Route, Router, Routes},
    path, SsrMode,
};

use crate::components::layout::ProtectedLayout;
use crate::pages::*;

/// Where the browser finds the built assets. The server fills this in with
/// content-hashed routes so that browsers may cache them forever.
#[derive(Clone, Debug)]
pub struct SiteAssets {
    pub stylesheet: String,
    pub script: String,
    pub wasm: String,
}

impl Default for SiteAssets {
    fn default() -> Self {
        SiteAssets {
            stylesheet: "/pkg/yagura.css".into(),
            script: "/pkg/yagura.js".into(),
            wasm: "/pkg/yagura_bg.wasm".into(),
        }
    }
}

/// Before first paint: with the "system" theme, follow the OS preference.
const THEME_SCRIPT: &str = "(function(){try{var d=document.documentElement;\
if(d.dataset.theme==='system'&&matchMedia('(prefers-color-scheme: dark)').matches)\
{d.classList.add('dark')}}catch(e){}})()";

/// The HTML document around the app; rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let _ = options;
    let assets = use_context::<SiteAssets>().unwrap_or_default();
    let theme = theme_from_request();
    let class = (theme == model::Theme::Dark).then_some("dark");
    let hydrate = format!(
        "import('{js}').then(m=>m.default({{module_or_path:'{wasm}'}}).then(()=>m.hydrate()))",
        js = assets.script,
        wasm = assets.wasm
    );
    view! {
        <!DOCTYPE html>
        <html lang="en" class=class data-theme=theme.as_str()>
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <link rel="stylesheet" href=assets.stylesheet.clone() />
                <link rel="modulepreload" href=assets.script.clone() />
                <link rel="preload" href=assets.wasm.clone() r#as="fetch" r#type="application/wasm" crossorigin="" />
                <script nonce=leptos::nonce::use_nonce()>{THEME_SCRIPT}</script>
                <script type="module" nonce=leptos::nonce::use_nonce()>{hydrate}</script>
                <MetaTags />
            </head>
            <body class="bg-slate-50 text-slate-900 antialiased dark:bg-slate-950 dark:text-slate-100">
                <App />
            </body>
        </html>
    }
}

#[cfg(feature = "ssr")]
fn theme_from_request() -> model::Theme {
    use_context::<http::request::Parts>()
        .and_then(|p| api::cookie_value(&p.headers, api::THEME_COOKIE).and_then(|v| v.parse().ok()))
        .unwrap_or_default()
}

#[cfg(not(feature = "ssr"))]
fn theme_from_request() -> model::Theme {
    model::Theme::default()
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    state::provide_session();

    view! {
        <Title formatter=|title: String| {
            if title.is_empty() { "Yagura".to_string() } else { format!("{title} · Yagura") }
        } />
        // Async SSR: every page is sent whole, resources resolved, so it works
        // without JavaScript (no streamed fragments to swap in).
        <Router>
            <Routes fallback=NotFoundPage>
                <Route path=path!("/setup") view=SetupPage ssr=SsrMode::Async />
                <Route path=path!("/login") view=LoginPage ssr=SsrMode::Async />
                <Route path=path!("/invite/:token") view=InvitePage ssr=SsrMode::Async />
                <ParentRoute path=path!("") view=ProtectedLayout ssr=SsrMode::Async>
                    <Route path=path!("") view=DashboardPage ssr=SsrMode::Async />
                    <Route path=path!("agents") view=AgentsPage ssr=SsrMode::Async />
                    <Route path=path!("agents/new") view=AgentEditPage ssr=SsrMode::Async />
                    <Route path=path!("agents/:id") view=AgentEditPage ssr=SsrMode::Async />
                    <Route path=path!("executions") view=ExecutionsPage ssr=SsrMode::Async />
                    <Route path=path!("executions/:id") view=ExecutionPage ssr=SsrMode::Async />
                    <Route path=path!("executions/:id/changes") view=ExecutionChangesPage ssr=SsrMode::Async />
                    <Route path=path!("workflows") view=WorkflowsPage ssr=SsrMode::Async />
                    <Route path=path!("workflows/new") view=WorkflowEditPage ssr=SsrMode::Async />
                    <Route path=path!("workflows/:id") view=WorkflowEditPage ssr=SsrMode::Async />
                    <Route path=path!("workflow-runs/:id") view=WorkflowRunPage ssr=SsrMode::Async />
                    <Route path=path!("workflow-runs/:id/changes") view=RunChangesPage ssr=SsrMode::Async />
                    <Route path=path!("issues") view=IssuesPage ssr=SsrMode::Async />
                    <Route path=path!("board") view=BoardPage ssr=SsrMode::Async />
                    <Route path=path!("issues/:id") view=IssuePage ssr=SsrMode::Async />
                    <Route path=path!("runners") view=RunnersPage ssr=SsrMode::Async />
                    <Route path=path!("api-keys") view=ApiKeysPage ssr=SsrMode::Async />
                    <Route path=path!("people") view=PeoplePage ssr=SsrMode::Async />
                    <Route path=path!("settings") view=SettingsPage ssr=SsrMode::Async />
                    <Route path=path!("account") view=AccountPage ssr=SsrMode::Async />
                    <Route path=path!("audit") view=AuditLogPage ssr=SsrMode::Async />
                    <Route path=path!("insights") view=InsightsPage ssr=SsrMode::Async />
                </ParentRoute>
            </Routes>
        </Router>
    }
}

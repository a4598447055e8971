//! Pieces the issue and workflow pages share: form classes, label chips,
//! and live "versions" that tell a page when to read its data again.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use serde::de::DeserializeOwned;

use crate::api::ApiError;
use crate::model::split_labels;
use crate::protocol::native::ServerMessage;
use crate::state::use_live_connection;

pub const INPUT: &str = "mt-1 block w-full rounded-md border border-slate-300 bg-white px-3 py-2 text-sm font-normal dark:border-slate-700 dark:bg-slate-950";
pub const PRIMARY: &str = "rounded-md bg-indigo-600 px-3 py-1.5 text-sm font-semibold text-white hover:bg-indigo-500 disabled:opacity-50 dark:bg-indigo-500 dark:hover:bg-indigo-400";
pub const SECONDARY: &str = "rounded-md border border-slate-300 px-3 py-1.5 text-sm font-medium hover:bg-slate-100 disabled:opacity-50 dark:border-slate-700 dark:hover:bg-slate-800";
pub const DANGER: &str = "rounded-md border border-rose-300 px-3 py-1.5 text-sm font-medium text-rose-700 hover:bg-rose-50 disabled:opacity-50 dark:border-rose-800 dark:text-rose-300 dark:hover:bg-rose-950";
pub const CARD: &str =
    "rounded-xl border border-slate-200 bg-white p-5 dark:border-slate-800 dark:bg-slate-900";
pub const LINK: &str = "font-medium text-indigo-600 hover:underline dark:text-indigo-400";

/// Bumps when a workspace event that `wanted` accepts arrives, or after a
/// `resync` (the link was down or lagged: reload). The value that is
/// current when the page mounts is ignored: it is old news.
pub fn workspace_version(wanted: impl Fn(&ServerMessage) -> bool + 'static) -> Signal<u64> {
    let live = use_live_connection();
    let version = RwSignal::new(0u64);
    Effect::new(move |prev: Option<()>| {
        let Some(msg) = live.workspace.get() else {
            return;
        };
        if prev.is_none() {
            return;
        }
        if matches!(msg, ServerMessage::Resync { .. }) || wanted(&msg) {
            version.update(|v| *v += 1);
        }
    });
    version.into()
}

/// A parameter of the page's address, trimmed; `None` when absent or blank.
pub fn query_text(q: &leptos_router::params::ParamsMap, key: &str) -> Option<String> {
    q.get(key)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Any event of any workflow run.
pub fn workflow_version() -> Signal<u64> {
    workspace_version(|m| m.workflow_seq().is_some())
}

/// A label as a small chip that filters the issue list.
#[component]
pub fn LabelChip(label: String) -> impl IntoView {
    let href = format!(
        "/issues?state=all&label={}",
        crate::api::encode_query(&label)
    );
    view! {
        <a
            href=href
            class="inline-flex items-center rounded-full border border-indigo-200 bg-indigo-50 px-2 py-0.5 text-xs font-medium text-indigo-700 hover:bg-indigo-100 dark:border-indigo-900 dark:bg-indigo-950 dark:text-indigo-300 dark:hover:bg-indigo-900"
            data-testid="label-chip"
        >
            {label}
        </a>
    }
}

/// An error line under a form, when there is one.
#[component]
pub fn FormError(#[prop(into)] message: Signal<Option<String>>) -> impl IntoView {
    view! {
        {move || message.get().map(|m| view! {
            <p role="alert" data-testid="form-error" class="mt-2 text-sm text-rose-600 dark:text-rose-400">{m}</p>
        })}
    }
}

/// A submit handler for a form that posts to server function `S`: in the
/// browser it reads the form like `<ActionForm>` does, lets `adjust` tidy
/// the arguments (split a comma-separated field, say), and dispatches
/// `action`. Without JavaScript the browser posts the form itself, to
/// `S::url()`.
pub fn submit_with<S>(
    action: ServerAction<S>,
    adjust: impl Fn(&mut S) + 'static,
) -> impl FnMut(leptos::ev::SubmitEvent) + 'static
where
    S: ServerFn<Error = ApiError> + DeserializeOwned + Clone + Send + Sync + 'static,
    S::Output: Send + Sync + 'static,
{
    move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match S::from_event(&ev) {
            Ok(mut args) => {
                adjust(&mut args);
                action.dispatch(args);
            }
            Err(e) => action
                .value()
                .set(Some(Err(ApiError::Invalid(e.to_string())))),
        }
    }
}

/// The message of a server action's last failure.
pub fn action_error<S>(action: ServerAction<S>) -> Signal<Option<String>>
where
    S: ServerFn<Error = ApiError> + Clone + Send + Sync + 'static,
    S::Output: Send + Sync + 'static,
{
    Signal::derive(move || {
        action.value().with(|v| {
            v.as_ref()
                .and_then(|r| r.as_ref().err())
                .map(ToString::to_string)
        })
    })
}

/// Labels typed as "bug, ready" become separate labels.
pub fn tidy_labels(labels: &[String]) -> Vec<String> {
    labels.iter().flat_map(|l| split_labels(l)).collect()
}

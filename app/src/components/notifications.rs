//! The bell in the header (unread count, latest notifications, "Mark all
//! read") and the toasts that pop up when a notification arrives live.
//!
//! The bell is a `<details>` menu and "Mark all read" a plain form, so both
//! work without JavaScript; toasts exist only in the browser.

use std::time::Duration;

use leptos::prelude::*;

use crate::api::{list_notifications, MarkNotificationsRead};
use crate::model::{NotificationId, Severity};
use crate::protocol::native::ServerMessage;
use crate::state::use_live_connection;

/// How long an info or success toast stays; warnings (an approval waits)
/// and errors stay until they are closed.
const TOAST_MS: u64 = 10_000;

fn dot_class(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "mt-1.5 h-2 w-2 shrink-0 rounded-full bg-sky-500",
        Severity::Success => "mt-1.5 h-2 w-2 shrink-0 rounded-full bg-emerald-500",
        Severity::Warning => "mt-1.5 h-2 w-2 shrink-0 rounded-full bg-amber-500",
        Severity::Error => "mt-1.5 h-2 w-2 shrink-0 rounded-full bg-rose-500",
    }
}

/// Where the choice of desktop notifications is kept (this browser only).
const DESKTOP_KEY: &str = "yagura.desktop-notifications";

/// The browser's `Notification` API, when it has one.
#[cfg(feature = "hydrate")]
fn notification_api() -> Option<wasm_bindgen::JsValue> {
    let window = web_sys::window()?;
    js_sys::Reflect::get(&window, &"Notification".into())
        .ok()
        .filter(|n| !n.is_undefined())
}

#[cfg(feature = "hydrate")]
fn local_storage() -> Option<wasm_bindgen::JsValue> {
    let window = web_sys::window()?;
    js_sys::Reflect::get(&window, &"localStorage".into())
        .ok()
        .filter(|s| !s.is_undefined() && !s.is_null())
}

/// Whether desktop notifications are on: chosen here and allowed by the
/// browser.
fn desktop_on() -> bool {
    #[cfg(feature = "hydrate")]
    {
        let chosen = local_storage()
            .and_then(|s| {
                let get = js_sys::Reflect::get(&s, &"getItem".into()).ok()?;
                let get = wasm_bindgen::JsCast::dyn_into::<js_sys::Function>(get).ok()?;
                get.call1(&s, &DESKTOP_KEY.into()).ok()?.as_string()
            })
            .is_some_and(|v| v == "1");
        let granted = notification_api()
            .and_then(|n| js_sys::Reflect::get(&n, &"permission".into()).ok())
            .and_then(|p| p.as_string())
            .is_some_and(|p| p == "granted");
        chosen && granted
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = DESKTOP_KEY;
        false
    }
}

/// Turns desktop notifications on (asking the browser's permission) or off.
fn set_desktop(on: bool) {
    #[cfg(feature = "hydrate")]
    {
        if let Some(storage) = local_storage() {
            if let Some(set) = js_sys::Reflect::get(&storage, &"setItem".into())
                .ok()
                .and_then(|f| wasm_bindgen::JsCast::dyn_into::<js_sys::Function>(f).ok())
            {
                let _ = set.call2(
                    &storage,
                    &DESKTOP_KEY.into(),
                    &(if on { "1" } else { "0" }).into(),
                );
            }
        }
        if on {
            if let Some(ask) = notification_api()
                .and_then(|n| js_sys::Reflect::get(&n, &"requestPermission".into()).ok())
                .and_then(|f| wasm_bindgen::JsCast::dyn_into::<js_sys::Function>(f).ok())
            {
                let _ = ask.call0(&notification_api().unwrap_or_default());
            }
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = on;
}

/// Shows a notification on the desktop while this tab is in the background.
fn desktop_notify(title: &str, body: &str) {
    #[cfg(feature = "hydrate")]
    {
        let hidden = web_sys::window()
            .and_then(|w| w.document())
            .is_some_and(|d| d.hidden());
        if !hidden || !desktop_on() {
            return;
        }
        let Some(api) = notification_api()
            .and_then(|n| wasm_bindgen::JsCast::dyn_into::<js_sys::Function>(n).ok())
        else {
            return;
        };
        let options = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&options, &"body".into(), &body.into());
        let args = js_sys::Array::of2(&title.into(), &options);
        let _ = js_sys::Reflect::construct(&api, &args);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (title, body);
}

/// Only paths of this UI are followed from a notification.
fn local(url: Option<String>) -> Option<String> {
    url.filter(|u| crate::api::is_local_path(u))
}

#[component]
pub fn NotificationBell() -> impl IntoView {
    let live = use_live_connection();
    let mark = ServerAction::<MarkNotificationsRead>::new();
    let version = RwSignal::new(0u64);
    Effect::new(move |prev: Option<()>| {
        let msg = live.workspace.get();
        if prev.is_none() {
            return;
        }
        if matches!(
            msg,
            Some(ServerMessage::Notification { .. } | ServerMessage::Resync { .. })
        ) {
            version.update(|v| *v += 1);
        }
    });
    let list = Resource::new(
        move || (version.get(), mark.version().get()),
        |_| list_notifications(),
    );
    let menu = NodeRef::<leptos::html::Details>::new();
    super::dismiss::close_on_outside(menu);
    // Read in the browser only (false on the server, as hydration expects).
    let desktop = RwSignal::new(false);
    Effect::new(move |_| desktop.set(desktop_on()));
    // One await for the badge and the list, so that the server renders
    // what hydration finds. The summary is inside too: `<details>` takes
    // its first `<summary>` child, whatever comments come before it.
    view! {
        <details class="relative" data-testid="bell-menu" node_ref=menu>
            <Transition fallback=move || view! {
                <summary class="flex cursor-pointer list-none items-center rounded-md border border-slate-200 px-2 py-1 text-slate-700 dark:border-slate-700 dark:text-slate-300" data-testid="bell" title="Notifications">
                    <span class="text-sm">"Notifications"</span>
                </summary>
            }>
                {move || Suspend::new(async move {
                    let result = list.await;
                    let unread = result.as_ref().map(|l| l.unread).unwrap_or(0);
                    view! {
                        <summary
                            class="relative flex cursor-pointer list-none items-center rounded-md border border-slate-200 px-2 py-1 text-slate-700 hover:bg-slate-100 dark:border-slate-700 dark:text-slate-300 dark:hover:bg-slate-800"
                            data-testid="bell"
                            title="Notifications"
                        >
                            <svg viewBox="0 0 24 24" class="h-4 w-4" aria-hidden="true">
                                <path fill="currentColor" d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6V11a7 7 0 0 0-5.5-6.84V3a1.5 1.5 0 0 0-3 0v1.16A7 7 0 0 0 5 11v5l-2 2v1h18v-1l-2-2Z" />
                            </svg>
                            <span class="sr-only">"Notifications"</span>
                            {(unread > 0).then(|| view! {
                                <span
                                    class="ml-1 rounded-full bg-rose-600 px-1.5 text-xs font-semibold leading-5 text-white"
                                    data-testid="unread-count"
                                    aria-label=format!("{unread} unread")
                                >
                                    {if unread > 99 { "99+".to_string() } else { unread.to_string() }}
                                </span>
                            })}
                        </summary>
                        <div class="absolute right-0 z-30 mt-2 w-80 max-w-[90vw] rounded-lg border border-slate-200 bg-white shadow-lg dark:border-slate-700 dark:bg-slate-900">
                            <div class="flex items-center justify-between border-b border-slate-200 px-3 py-2 dark:border-slate-700">
                                <h2 class="text-sm font-semibold">"Notifications"</h2>
                                <label class="ml-auto mr-3 flex items-center gap-1 text-xs text-slate-600 dark:text-slate-400" title="Also on the desktop while this tab is in the background (the browser asks first)">
                                    <input
                                        type="checkbox"
                                        data-testid="desktop-notifications"
                                        prop:checked=desktop
                                        on:change=move |ev| {
                                            let on = event_target_checked(&ev);
                                            set_desktop(on);
                                            desktop.set(on);
                                        }
                                    />
                                    "Desktop"
                                </label>
                                <ActionForm action=mark attr:class="inline">
                                    <button
                                        type="submit"
                                        class="text-xs font-medium text-indigo-600 hover:underline disabled:opacity-50 dark:text-indigo-400"
                                        data-testid="mark-all-read"
                                    >
                                        "Mark all read"
                                    </button>
                                </ActionForm>
                            </div>
                            {
                                    match result {
                                        Err(e) => view! { <p class="p-3 text-sm text-rose-600">{e.to_string()}</p> }.into_any(),
                                        Ok(l) if l.items.is_empty() => view! {
                                            <p class="p-3 text-sm text-slate-500">"Nothing yet. Finished runs and approvals waiting for you appear here."</p>
                                        }.into_any(),
                                        Ok(l) => view! {
                                            <ul class="max-h-96 divide-y divide-slate-100 overflow-y-auto dark:divide-slate-800">
                                                {l.items.into_iter().map(|n| {
                                                    let weight = if n.read { "font-normal" } else { "font-semibold" };
                                                    let title = n.title.clone();
                                                    view! {
                                                        <li class="flex gap-2 px-3 py-2 text-sm" data-testid="notification" data-severity=n.severity.as_str() data-read=n.read.to_string()>
                                                            <span class=dot_class(n.severity) aria-label=n.severity.as_str()></span>
                                                            <div class="min-w-0">
                                                                {match local(n.action_url.clone()) {
                                                                    Some(url) => view! { <a href=url class=format!("block hover:underline {weight}")>{title}</a> }.into_any(),
                                                                    None => view! { <p class=weight>{title}</p> }.into_any(),
                                                                }}
                                                                <p class="break-words text-xs text-slate-600 dark:text-slate-400">{n.message.clone()}</p>
                                                                <p class="text-xs text-slate-400"><super::time::Time ms=n.created_at /></p>
                                                            </div>
                                                            {(!n.read).then(|| view! {
                                                                <ActionForm action=mark attr:class="ml-auto shrink-0">
                                                                    <input type="hidden" name="id" value=n.id.to_string() />
                                                                    <button
                                                                        type="submit"
                                                                        class="rounded px-1 text-xs text-slate-500 hover:bg-slate-100 hover:text-slate-800 dark:hover:bg-slate-800 dark:hover:text-slate-200"
                                                                        title="Mark read"
                                                                        data-testid="mark-read"
                                                                    >
                                                                        "Mark read"
                                                                    </button>
                                                                </ActionForm>
                                                            })}
                                                        </li>
                                                    }
                                                }).collect_view()}
                                            </ul>
                                        }.into_any(),
                                    }
                            }
                        </div>

                    }
                })}
            </Transition>
        </details>
    }
}

/// One toast on screen.
#[derive(Clone, Debug, PartialEq)]
struct Toast {
    id: NotificationId,
    severity: Severity,
    title: String,
    message: String,
    url: Option<String>,
}

fn toast_class(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "pointer-events-auto w-80 max-w-full rounded-lg border-l-4 border-sky-500 bg-white p-3 text-sm shadow-lg dark:bg-slate-900",
        Severity::Success => "pointer-events-auto w-80 max-w-full rounded-lg border-l-4 border-emerald-500 bg-white p-3 text-sm shadow-lg dark:bg-slate-900",
        Severity::Warning => "pointer-events-auto w-80 max-w-full rounded-lg border-l-4 border-amber-500 bg-white p-3 text-sm shadow-lg dark:bg-slate-900",
        Severity::Error => "pointer-events-auto w-80 max-w-full rounded-lg border-l-4 border-rose-500 bg-white p-3 text-sm shadow-lg dark:bg-slate-900",
    }
}

/// Shows each notification that arrives live for a few seconds, bottom
/// right. The server renders the empty container only.
#[component]
pub fn Toasts() -> impl IntoView {
    let live = use_live_connection();
    let toasts = RwSignal::new(Vec::<Toast>::new());
    // Closed or expired ones, so that a re-run of the effect does not bring
    // them back.
    let gone = StoredValue::new(Vec::<NotificationId>::new());
    // Those already shown on the desktop.
    let announced = StoredValue::new(Vec::<NotificationId>::new());
    // The page being looked at needs no toast about itself (it shows it,
    // and a toast would cover it); arriving on a toast's page ends it.
    let pathname = leptos_router::hooks::use_location().pathname;
    Effect::new(move |_| {
        let here = pathname.get();
        let shown: Vec<NotificationId> = toasts.with_untracked(|t| {
            t.iter()
                .filter(|x| x.url.as_deref() == Some(here.as_str()))
                .map(|x| x.id)
                .collect()
        });
        if !shown.is_empty() {
            gone.update_value(|g| g.extend(shown.iter().copied()));
            toasts.update(|t| t.retain(|x| !shown.contains(&x.id)));
        }
    });
    Effect::new(move |_| {
        let recent = live.notifications.get();
        // The address bar itself: the router's copy may lag a navigation.
        #[cfg(feature = "hydrate")]
        let here = web_sys::window()
            .and_then(|w| w.location().pathname().ok())
            .unwrap_or_else(|| pathname.get_untracked());
        #[cfg(not(feature = "hydrate"))]
        let here = pathname.get_untracked();
        #[cfg(feature = "hydrate")]
        let now = js_sys::Date::now();
        #[cfg(not(feature = "hydrate"))]
        let now = 0.0;
        for (arrived, msg) in recent {
            let ServerMessage::Notification {
                id,
                severity,
                title,
                message,
                action_url,
                ..
            } = msg
            else {
                continue;
            };
            let url = local(action_url);
            // The desktop (only while this tab is in the background) first:
            // a hidden tab on that very page still wants to be told.
            let fresh = !gone.with_value(|g| g.contains(&id))
                && !toasts.with_untracked(|t| t.iter().any(|x| x.id == id))
                && (now - arrived) < TOAST_MS as f64;
            if fresh && !announced.with_value(|a| a.contains(&id)) {
                announced.update_value(|a| a.push(id));
                desktop_notify(&title, &message);
            }
            if url.as_deref() == Some(here.as_str()) {
                gone.update_value(|g| g.push(id));
                continue;
            }
            let sticky = matches!(severity, Severity::Warning | Severity::Error);
            let left = TOAST_MS as f64 - (now - arrived);
            if (!sticky && left <= 0.0)
                || gone.with_value(|g| g.contains(&id))
                || toasts.with_untracked(|t| t.iter().any(|x| x.id == id))
            {
                continue;
            }
            toasts.update(|t| {
                t.push(Toast {
                    id,
                    severity,
                    title,
                    message,
                    url,
                });
                // A burst must not cover the page.
                if t.len() > 4 {
                    t.remove(0);
                }
            });
            if !sticky {
                set_timeout(
                    move || {
                        gone.update_value(|g| g.push(id));
                        toasts.try_update(|t| t.retain(|x| x.id != id));
                    },
                    Duration::from_millis(left as u64),
                );
            }
        }
    });
    view! {
        <div
            class="pointer-events-none fixed bottom-4 right-4 z-50 flex flex-col items-end gap-2"
            aria-live="polite"
            role="status"
        >
            <For each=move || toasts.get() key=|t| t.id let:toast>
                {
                    let id = toast.id;
                    view! {
                        <div class=toast_class(toast.severity) data-testid="toast" data-severity=toast.severity.as_str()>
                            <div class="flex items-start gap-2">
                                <div class="min-w-0 flex-1">
                                    <p class="font-semibold">{toast.title.clone()}</p>
                                    <p class="mt-0.5 break-words text-slate-600 dark:text-slate-400">{toast.message.clone()}</p>
                                    {toast.url.clone().map(|url| view! {
                                        <a href=url class="mt-1 inline-block text-xs font-medium text-indigo-600 hover:underline dark:text-indigo-400">"Open"</a>
                                    })}
                                </div>
                                <button
                                    type="button"
                                    class="rounded px-1 text-slate-500 hover:bg-slate-100 dark:hover:bg-slate-800"
                                    aria-label="Close"
                                    on:click=move |_| {
                                        gone.update_value(|g| g.push(id));
                                        toasts.update(|t| t.retain(|x| x.id != id));
                                    }
                                >
                                    "×"
                                </button>
                            </div>
                        </div>
                    }
                }
            </For>
        </div>
    }
}

//! Copying to the clipboard: a small button beside a command or a token,
//! that says "Copied" for a moment. Without JavaScript (or a clipboard)
//! the text stays selectable as it is.

use std::time::Duration;

use leptos::prelude::*;

/// Puts `text` on the clipboard; false where the browser has none.
pub fn copy_text(text: &str) -> bool {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::{JsCast, JsValue};
        let Some(window) = web_sys::window() else {
            return false;
        };
        let get = |target: &JsValue, key: &str| {
            js_sys::Reflect::get(target, &JsValue::from_str(key)).ok()
        };
        let Some(clipboard) = get(&window, "navigator")
            .and_then(|n| get(&n, "clipboard"))
            .filter(|c| !c.is_undefined())
        else {
            return false;
        };
        let Some(write) =
            get(&clipboard, "writeText").and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        else {
            return false;
        };
        write.call1(&clipboard, &JsValue::from_str(text)).is_ok()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = text;
        false
    }
}

/// A "Copy" button for `text`.
#[component]
pub fn CopyButton(
    #[prop(into)] text: Signal<String>,
    /// What is copied, for screen readers ("Copy the command").
    #[prop(into)]
    label: String,
    #[prop(optional, into)] testid: String,
) -> impl IntoView {
    let copied = RwSignal::new(false);
    view! {
        <button
            type="button"
            class="shrink-0 rounded-md border border-slate-300 px-2 py-1 text-xs font-medium hover:bg-slate-100 dark:border-slate-700 dark:hover:bg-slate-800"
            aria-label=label
            data-testid=testid
            on:click=move |_| {
                if copy_text(&text.get_untracked()) {
                    copied.set(true);
                    set_timeout(move || copied.set(false), Duration::from_secs(2));
                }
            }
        >
            {move || if copied.get() { "Copied" } else { "Copy" }}
        </button>
    }
}

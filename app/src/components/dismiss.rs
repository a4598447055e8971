//! Menus built on `<details>` (the bell, the phone navigation) close the
//! way menus do: a click or tap outside them, or Escape. Without
//! JavaScript they still open and close from their own summary.

use leptos::html::Details;
use leptos::prelude::*;

/// Closes `menu` on a click or tap outside it and on Escape.
pub fn close_on_outside(menu: NodeRef<Details>) {
    #[cfg(feature = "hydrate")]
    {
        use leptos::wasm_bindgen::JsCast;
        let click = window_event_listener(leptos::ev::click, move |ev| {
            let Some(el) = menu.get_untracked() else {
                return;
            };
            let inside = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::Node>().ok())
                .is_some_and(|n| el.contains(Some(&n)));
            if !inside && el.open() {
                el.set_open(false);
            }
        });
        let key = window_event_listener(leptos::ev::keydown, move |ev| {
            if ev.key() == "Escape" {
                if let Some(el) = menu.get_untracked().filter(|el| el.open()) {
                    el.set_open(false);
                    // Back to the menu's button, for keyboard users.
                    if let Some(summary) = el
                        .query_selector("summary")
                        .ok()
                        .flatten()
                        .and_then(|s| s.dyn_into::<web_sys::HtmlElement>().ok())
                    {
                        let _ = summary.focus();
                    }
                }
            }
        });
        on_cleanup(move || {
            click.remove();
            key.remove();
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = menu;
}

/// Closes `menu`, as after following one of its links.
pub fn close(menu: NodeRef<Details>) {
    #[cfg(feature = "hydrate")]
    if let Some(el) = menu.get_untracked() {
        el.set_open(false);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = menu;
}

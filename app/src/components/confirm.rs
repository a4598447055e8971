//! Asking before what cannot be undone (delete, revoke, reject, cancel).
//! With JavaScript the browser's own dialog asks; without it the buttons
//! are plain form submissions, as every page works without JavaScript.

/// True when the person agrees (always, outside the browser).
pub fn confirmed(message: &str) -> bool {
    #[cfg(feature = "hydrate")]
    {
        web_sys::window()
            .and_then(|w| w.confirm_with_message(message).ok())
            .unwrap_or(true)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = message;
        true
    }
}

/// A click handler for a submit button: the form goes only if the person
/// agrees.
pub fn confirm_click(message: &'static str) -> impl Fn(leptos::ev::MouseEvent) + Clone + 'static {
    move |ev| {
        if !confirmed(message) {
            ev.prevent_default();
        }
    }
}

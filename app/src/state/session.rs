use leptos::prelude::*;

use crate::api::{get_session, AcceptInvitation, ApiError, Login, Logout, SetTheme, Setup};
use crate::model::{Session, Theme};

/// The session and the actions that change it, shared by every page.
#[derive(Clone, Copy)]
pub struct SessionContext {
    pub session: Resource<Result<Session, ApiError>>,
    pub login: ServerAction<Login>,
    pub logout: ServerAction<Logout>,
    pub setup: ServerAction<Setup>,
    /// Joining with an invitation link signs the new person in.
    pub accept: ServerAction<AcceptInvitation>,
    pub set_theme: ServerAction<SetTheme>,
}

/// Creates the session context. The session is read again whenever one of
/// the actions that change it has run.
pub fn provide_session() -> SessionContext {
    let login = ServerAction::<Login>::new();
    let logout = ServerAction::<Logout>::new();
    let setup = ServerAction::<Setup>::new();
    let accept = ServerAction::<AcceptInvitation>::new();
    let set_theme = ServerAction::<SetTheme>::new();
    let session = Resource::new(
        move || {
            (
                login.version().get(),
                logout.version().get(),
                setup.version().get(),
                accept.version().get(),
            )
        },
        |_| get_session(),
    );
    let ctx = SessionContext {
        session,
        login,
        logout,
        setup,
        accept,
        set_theme,
    };
    provide_context(ctx);

    // The server renders `<html class="dark">` from the cookie; after a
    // switch in the browser the class is updated here, without a reload.
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if let Some(Ok(theme)) = set_theme.value().get() {
            apply_theme(theme);
        }
    });
    ctx
}

pub fn use_session() -> SessionContext {
    expect_context::<SessionContext>()
}

/// Sets or clears the `dark` class on `<html>` for the chosen theme.
#[cfg(feature = "hydrate")]
pub fn apply_theme(theme: Theme) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let dark = match theme {
        Theme::Dark => true,
        Theme::Light => false,
        Theme::System => window
            .match_media("(prefers-color-scheme: dark)")
            .ok()
            .flatten()
            .is_some_and(|m| m.matches()),
    };
    if let Some(root) = window.document().and_then(|d| d.document_element()) {
        let _ = root.class_list().toggle_with_force("dark", dark);
        let _ = root.set_attribute("data-theme", theme.as_str());
    }
}

/// The theme to show before any action ran: the one the session reported.
pub fn current_theme(ctx: SessionContext) -> Theme {
    if let Some(Ok(theme)) = ctx.set_theme.value().get() {
        return theme;
    }
    ctx.session
        .get()
        .and_then(|s| s.ok())
        .map(|s| s.theme)
        .unwrap_or_default()
}

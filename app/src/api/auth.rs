//! Accounts: first-run setup, sign-in, sign-out, and the theme cookie.
//!
//! These work both from the hydrated app (JSON, client-side redirect) and
//! from a browser without JavaScript (plain form posts answered with a
//! redirect, errors carried in `?error=` to the page that shows them).

use leptos::prelude::*;

use super::ApiError;
use crate::model::{InvitationPreview, Session, Theme};

/// Who is signed in, whether setup is pending, and the theme. Public: it is
/// what the login and setup pages need to know.
#[server(endpoint = "session")]
pub async fn get_session() -> Result<Session, ApiError> {
    let parts = super::request_parts()?;
    super::backend()?.session(&parts).await
}

/// Creates the first admin and signs them in. Public, but only while no
/// user exists: the backend refuses it afterwards.
#[server(endpoint = "setup")]
pub async fn setup(
    username: String,
    password: String,
    confirm: String,
    setup_code: Option<String>,
) -> Result<(), ApiError> {
    let parts = super::request_parts()?;
    let backend = super::backend()?;
    let result = async {
        if password != confirm {
            return Err(ApiError::Invalid("the two passwords differ".into()));
        }
        let user = backend
            .setup_admin(&parts, &username, &password, setup_code.as_deref())
            .await?;
        backend.issue_token(&parts, &user).await
    }
    .await;
    let cookie = result.as_ref().ok().map(|t| backend.session_cookie(t));
    server::finish(&parts, result.map(|_| ()), cookie, "/", "/setup")
}

/// Signs in with a password. Public by nature; throttled by the backend.
#[server(endpoint = "login")]
pub async fn login(
    username: String,
    password: String,
    next: Option<String>,
) -> Result<(), ApiError> {
    let parts = super::request_parts()?;
    let backend = super::backend()?;
    let result = backend.login(&parts, &username, &password).await;
    let cookie = result.as_ref().ok().map(|(_, t)| backend.session_cookie(t));
    let target = next.as_deref().filter(|n| is_local_path(n)).unwrap_or("/");
    // After a failed attempt the login page still knows where to go next.
    let retry = match next.as_deref().filter(|n| is_local_path(n)) {
        Some(n) => format!("/login?next={}", encode_query(n)),
        None => "/login".to_string(),
    };
    server::finish(&parts, result.map(|_| ()), cookie, target, &retry)
}

/// Signs out of this browser.
#[server(endpoint = "logout")]
pub async fn logout() -> Result<(), ApiError> {
    let parts = super::request_parts()?;
    let backend = super::backend()?;
    let ended = backend.end_session(&parts).await;
    let cookie = backend.clear_session_cookie();
    server::finish(&parts, ended, Some(cookie), "/login", "/login")
}

/// What an invitation link offers. Public: the link is the credential.
#[server(endpoint = "invitation")]
pub async fn preview_invitation(token: String) -> Result<InvitationPreview, ApiError> {
    super::backend()?.invitation_preview(token).await
}

/// Joins with an invitation link: makes the account and signs it in.
#[server(endpoint = "invitation/accept")]
pub async fn accept_invitation(
    token: String,
    username: String,
    password: String,
    confirm: String,
) -> Result<(), ApiError> {
    let parts = super::request_parts()?;
    let backend = super::backend()?;
    let result = if password != confirm {
        Err(ApiError::Invalid("the two passwords differ".into()))
    } else {
        backend
            .accept_invitation(&parts, token.clone(), username, password)
            .await
    };
    let cookie = result.as_ref().ok().map(|t| backend.session_cookie(t));
    let retry = format!("/invite/{}", encode_query(&token));
    server::finish(&parts, result.map(|_| ()), cookie, "/", &retry)
}

/// Changes your password (the current one is asked for). Your other
/// sessions end; this browser gets a new one.
#[server(endpoint = "account/password")]
pub async fn change_password(
    current: String,
    password: String,
    confirm: String,
) -> Result<(), ApiError> {
    let parts = super::request_parts()?;
    let backend = super::backend()?;
    let result = if password != confirm {
        Err(ApiError::Invalid("the two new passwords differ".into()))
    } else {
        backend.change_password(&parts, current, password).await
    };
    let cookie = result.as_ref().ok().map(|t| backend.session_cookie(t));
    server::finish(
        &parts,
        result.map(|_| ()),
        cookie,
        "/account?done=password",
        "/account",
    )
}

/// Where you are signed in.
#[server(endpoint = "account/sessions")]
pub async fn list_sessions() -> Result<Vec<crate::model::SignedInSession>, ApiError> {
    super::backend()?.sessions(&super::request_parts()?).await
}

/// Signs one of your sessions out (its open pages lose their connection).
#[server(endpoint = "account/sessions/end-one")]
pub async fn end_session(id: String) -> Result<(), ApiError> {
    let parts = super::request_parts()?;
    let backend = super::backend()?;
    let result = backend.end_one_session(&parts, id).await;
    server::finish(&parts, result, None, "/account?done=session", "/account")
}

/// Signs you out everywhere but in this browser.
#[server(endpoint = "account/sessions/end")]
pub async fn end_other_sessions() -> Result<(), ApiError> {
    let parts = super::request_parts()?;
    let backend = super::backend()?;
    let result = backend.end_other_sessions(&parts).await;
    let cookie = result.as_ref().ok().map(|t| backend.session_cookie(t));
    server::finish(
        &parts,
        result.map(|_| ()),
        cookie,
        "/account?done=sessions",
        "/account",
    )
}

/// How people may sign in here: password, GitHub, single sign-on.
#[server(endpoint = "auth/options")]
pub async fn sign_in_options() -> Result<crate::model::SignInOptions, ApiError> {
    super::backend()?.sign_in_options().await
}

/// Your single sign-on link (None: the server has no provider).
#[server(endpoint = "account/sso")]
pub async fn my_sso() -> Result<Option<crate::model::SsoLink>, ApiError> {
    super::backend()?.my_sso(&super::request_parts()?).await
}

/// Unlinks your single sign-on account (you sign in with your password
/// or GitHub then).
#[server(endpoint = "account/sso/unlink")]
pub async fn unlink_sso() -> Result<(), ApiError> {
    let parts = super::request_parts()?;
    let result = super::backend()?.unlink_sso(&parts).await;
    server::finish(&parts, result, None, "/account?done=unlinked", "/account")
}

/// Remembers the colour theme in a cookie, so the server renders the page
/// in it from the first byte (no flash of the wrong theme).
#[server(endpoint = "theme")]
pub async fn set_theme(theme: Theme) -> Result<Theme, ApiError> {
    let backend = super::backend()?;
    let options = expect_context::<leptos_axum::ResponseOptions>();
    if let Ok(value) = http::HeaderValue::from_str(&backend.theme_cookie(theme)) {
        options.append_header(http::header::SET_COOKIE, value);
    }
    // A plain form post is sent back to the page it came from by leptos_axum.
    Ok(theme)
}

/// Only same-site paths may be redirected to after sign-in, never
/// `//evil.example`, `https://…`, or anything a browser would first clean
/// up into one (`/\t/evil.example`, `/\\evil.example`): a path is `/`
/// and visible ASCII without backslashes, and not `//`.
pub fn is_local_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && path.len() <= 2048
        && path.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
}

/// Percent-encodes a value for a query string (keeping `/` readable).
pub fn encode_query(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(feature = "ssr")]
mod server {
    use super::ApiError;
    use http::{header, request::Parts, HeaderValue, StatusCode};
    use leptos::prelude::*;

    /// Ends a form-backed server function: sets the cookie, then redirects
    /// to `ok_path`, or reports the error (as a redirect to
    /// `err_path?error=code` for a browser without JavaScript, as a JSON
    /// error with the right status otherwise).
    pub fn finish(
        parts: &Parts,
        result: Result<(), ApiError>,
        cookie: Option<String>,
        ok_path: &str,
        err_path: &str,
    ) -> Result<(), ApiError> {
        let options = expect_context::<leptos_axum::ResponseOptions>();
        match result {
            Ok(()) => {
                if let Some(value) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
                    options.append_header(header::SET_COOKIE, value);
                }
                leptos_axum::redirect(ok_path);
                Ok(())
            }
            Err(err) => {
                if crate::api::is_plain_form_post(parts) {
                    let sep = if err_path.contains('?') { '&' } else { '?' };
                    leptos_axum::redirect(&format!("{err_path}{sep}error={}", err.code()));
                } else {
                    options.set_status(
                        StatusCode::from_u16(err.status())
                            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                    );
                }
                Err(err)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{encode_query, is_local_path};

    #[test]
    fn next_parameter_is_encoded() {
        assert_eq!(
            encode_query("/executions?x=1&y=2"),
            "/executions%3Fx%3D1%26y%3D2"
        );
    }

    /// M3: nothing a browser could turn into another site's address.
    #[test]
    fn local_paths_only() {
        for ok in ["/", "/executions/1?tab=log", "/a%20b#x"] {
            assert!(is_local_path(ok), "{ok}");
        }
        for bad in [
            "",
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "https://evil.example",
            "/ /evil.example",
            "/\u{7f}x",
            "/caf\u{e9}",
            "/\r\nSet-Cookie: x",
        ] {
            assert!(!is_local_path(bad), "{bad:?}");
        }
    }
}

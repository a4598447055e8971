//! The pages a person sees before signing in: first-run setup and login.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{
    components::Redirect,
    hooks::{use_params_map, use_query_map},
};

use crate::api::ApiError;
use crate::components::layout::Logo;
use crate::components::time::Time;
use crate::model::SignInOptions;
use crate::state::use_session;

const INPUT: &str = "mt-1 block w-full rounded-md border border-slate-300 bg-white px-3 py-2 text-sm shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/30 dark:border-slate-700 dark:bg-slate-950";
const BUTTON: &str = "w-full rounded-md bg-indigo-600 px-4 py-2 text-sm font-semibold text-white shadow-sm hover:bg-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/50 disabled:opacity-60 dark:bg-indigo-500 dark:hover:bg-indigo-400";

/// The message for an error code carried in `?error=` (browser without
/// JavaScript) or for an error returned to the hydrated form.
pub(crate) fn error_text(code: &str) -> &'static str {
    match code {
        "invalid_credentials" => "Invalid username or password.",
        "too_many_attempts" => "Too many failed attempts. Wait a minute and try again.",
        "conflict" => "Yagura is already set up. Sign in instead.",
        "github_not_configured" => "Sign in with GitHub is not set up on this server.",
        "github_state" => "The GitHub sign-in expired or did not come from this browser. Try again.",
        "github_failed" => "GitHub did not confirm who you are. Try again.",
        "github_signed_in" => "You are signed in as someone else in this browser: sign out first, then open the invitation link again.",
        "github_deactivated" => "The account linked to that GitHub account is deactivated: ask an admin to reactivate it.",
        "github_taken" => "That GitHub account has a Yagura account already: sign in with it.",
        "github_invitation" => "The invitation could not be used with GitHub: it was used, revoked or expired meanwhile, or that GitHub account has a Yagura account already.",
        "github_unlinked" => "No Yagura account is linked to that GitHub account. Sign in with your password, then link GitHub on the Settings page.",
        "sso_not_configured" => "Single sign-on is not set up on this server.",
        "sso_provider" => "The identity provider could not be reached or answered something unexpected. Try again; if it goes on, tell an admin (the server log says more).",
        "sso_state" => "The sign-in expired or did not start in this browser. Try again.",
        "sso_denied" => "The identity provider did not sign you in.",
        "sso_token" => "The identity provider's answer did not pass the checks, so you were not signed in. Tell an admin (the server log says why).",
        "sso_no_account" => "No Yagura account is linked to that single sign-on account. If you have one, sign in with your password and link it on Your account; if not, ask an admin for an invitation and join from its link.",
        "sso_not_set_up" => "Yagura is not set up yet: its first admin is made on the setup page.",
        "sso_deactivated" => "This account is deactivated: ask an admin to reactivate it.",
        "sso_taken" => "That single sign-on account is linked to another Yagura account.",
        "sso_invitation" => "The link could not be used: it was used, revoked or expired meanwhile, or that single sign-on account has a Yagura account already (sign in with it).",
        "internal" => "Something went wrong on the server. Try again.",
        "invalid" => "Check the fields: a username of 3–32 letters, digits, '.', '-' or '_', and a password of at least 8 characters, typed the same twice.",
        _ => "Something went wrong. Try again.",
    }
}

/// The error to show: the last failed submission, else `?error=`.
fn form_error(last: Signal<Option<Result<(), ApiError>>>) -> impl Fn() -> Option<String> {
    let query = use_query_map();
    move || match last.get() {
        Some(Err(ApiError::Invalid(msg) | ApiError::Conflict(msg))) => Some(msg),
        Some(Err(err)) => Some(error_text(err.code()).to_string()),
        Some(Ok(())) => None,
        None => query
            .with(|q| q.get("error"))
            .map(|c| error_text(&c).to_string()),
    }
}

#[component]
fn AuthCard(title: &'static str, subtitle: &'static str, children: Children) -> impl IntoView {
    view! {
        <Title text=title />
        <main class="flex min-h-screen items-center justify-center px-4 py-12">
            <div class="w-full max-w-sm">
                <div class="mb-8 flex items-center justify-center gap-2 text-2xl font-semibold tracking-tight">
                    <Logo />
                    "Yagura"
                </div>
                <div class="rounded-xl border border-slate-200 bg-white p-6 shadow-sm dark:border-slate-800 dark:bg-slate-900">
                    <h1 class="text-lg font-semibold">{title}</h1>
                    <p class="mt-1 text-sm text-slate-600 dark:text-slate-400">{subtitle}</p>
                    <div class="mt-6">{children()}</div>
                </div>
            </div>
        </main>
    }
}

#[component]
fn ErrorBox(message: impl Fn() -> Option<String> + Send + Sync + 'static) -> impl IntoView {
    view! {
        {move || message().map(|m| view! {
            <p role="alert" data-testid="form-error" class="mb-4 rounded-md border border-rose-200 bg-rose-50 px-3 py-2 text-sm text-rose-800 dark:border-rose-900 dark:bg-rose-950 dark:text-rose-200">
                {m}
            </p>
        })}
    }
}

/// The secondary look of the other ways to sign in.
const OTHER_WAY: &str = "mt-3 block w-full rounded-md border border-slate-300 px-4 py-2 text-center text-sm font-semibold hover:bg-slate-100 dark:border-slate-700 dark:hover:bg-slate-800";

#[component]
pub fn LoginPage() -> impl IntoView {
    let ctx = use_session();
    let query = use_query_map();
    let next = move || query.with(|q| q.get("next")).unwrap_or_default();
    let error = form_error(ctx.login.value().into());
    let pending = ctx.login.pending();
    // Made before anything is awaited (one serialization id).
    let options = Resource::new(|| (), |_| crate::api::sign_in_options());
    view! {
        <AuthCard title="Sign in" subtitle="Welcome back. Sign in to watch and drive your agents.">
            <ErrorBox message=error />
            <Suspense fallback=|| view! { <p class="text-sm text-slate-500">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let o = options.await.unwrap_or(SignInOptions { password: true, ..Default::default() });
                    let sso = o.sso.clone().map(|name| {
                        let next = next();
                        let href = if next.is_empty() { "/auth/sso".to_string() } else { format!("/auth/sso?next={}", crate::api::encode_query(&next)) };
                        view! {
                            <a href=href rel="external" data-testid="sso-sign-in" class=format!("block text-center {BUTTON}")>
                                {format!("Sign in with {name}")}
                            </a>
                        }
                    });
                    let divider = (o.sso.is_some() && o.password).then(|| view! {
                        <div class="my-4 flex items-center gap-3 text-xs uppercase tracking-wide text-slate-500">
                            <span class="h-px flex-1 bg-slate-200 dark:bg-slate-800"></span>
                            "or"
                            <span class="h-px flex-1 bg-slate-200 dark:bg-slate-800"></span>
                        </div>
                    });
                    let password = o.password.then(|| view! {
                        <ActionForm action=ctx.login>
                            <input type="hidden" name="next" value=next />
                            <label class="block text-sm font-medium">
                                "Username"
                                <input class=INPUT name="username" autocomplete="username" required autofocus=o.sso.is_none() />
                            </label>
                            <label class="mt-4 block text-sm font-medium">
                                "Password"
                                <input class=INPUT type="password" name="password" autocomplete="current-password" required />
                            </label>
                            <button type="submit" class=format!("mt-6 {BUTTON}") disabled=pending>
                                {move || if pending.get() { "Signing in…" } else { "Sign in" }}
                            </button>
                        </ActionForm>
                    });
                    let github = o.github.then(|| view! {
                        <a href="/auth/github" rel="external" data-testid="github-sign-in" class=OTHER_WAY>
                            "Sign in with GitHub"
                        </a>
                    });
                    view! { {sso} {divider} {password} {github} }
                })}
            </Suspense>
        </AuthCard>
    }
}

#[component]
pub fn SetupPage() -> impl IntoView {
    let ctx = use_session();
    let error = form_error(ctx.setup.value().into());
    let pending = ctx.setup.pending();
    // Once an admin exists this page has nothing to offer.
    let done = move || {
        ctx.session
            .get()
            .and_then(|s| s.ok())
            .is_some_and(|s| !s.needs_setup)
            && ctx.setup.value().get().is_none()
    };
    view! {
        <Transition>
            {move || done().then(|| view! { <Redirect path="/login" /> })}
        </Transition>
        <AuthCard title="Set up Yagura" subtitle="Create the first administrator account. This page is shown only once.">
            <ErrorBox message=error />
            <ActionForm action=ctx.setup>
                <label class="block text-sm font-medium">
                    "Username"
                    <input class=INPUT name="username" autocomplete="username" required minlength="3" maxlength="32" pattern="[A-Za-z0-9._\\-]+" autofocus />
                </label>
                <label class="mt-4 block text-sm font-medium">
                    "Password"
                    <input class=INPUT type="password" name="password" autocomplete="new-password" required minlength="8" />
                </label>
                <label class="mt-4 block text-sm font-medium">
                    "Repeat password"
                    <input class=INPUT type="password" name="confirm" autocomplete="new-password" required minlength="8" />
                </label>
                <label class="mt-4 block text-sm font-medium">
                    "Setup code"
                    <input class=format!("{INPUT} font-mono") name="setup_code" autocomplete="off" spellcheck="false" placeholder="only from another machine" />
                    <span class="mt-1 block text-xs font-normal text-slate-500">"From another machine, enter the code the server printed when it started (also in its data directory's "<code>"setup-code"</code>" file)."</span>
                </label>
                <button type="submit" class=format!("mt-6 {BUTTON}") disabled=pending>
                    {move || if pending.get() { "Creating…" } else { "Create admin account" }}
                </button>
            </ActionForm>
        </AuthCard>
    }
}

/// Where an invitation link leads: who invited you and with which role,
/// then a username and password to join with. Works without JavaScript.
#[component]
pub fn InvitePage() -> impl IntoView {
    let ctx = use_session();
    let params = use_params_map();
    let query = use_query_map();
    let token = move || params.with(|p| p.get("token")).unwrap_or_default();
    let preview = Resource::new(token, crate::api::preview_invitation);
    let options = Resource::new(|| (), |_| crate::api::sign_in_options());
    let last = ctx.accept.value();
    let pending = ctx.accept.pending();
    let error = move || match last.get() {
        Some(Err(ApiError::Invalid(msg) | ApiError::Conflict(msg))) => Some(msg),
        Some(Err(err)) => Some(error_text(err.code()).to_string()),
        Some(Ok(())) => None,
        None => query.with(|q| q.get("error")).map(|c| match c.as_str() {
            "conflict" => {
                "That username is taken, or the invitation was used meanwhile.".to_string()
            }
            other => error_text(other).to_string(),
        }),
    };
    view! {
        <AuthCard title="Join Yagura" subtitle="You were invited to a Yagura workspace.">
            <Transition fallback=|| view! { <p class="text-sm text-slate-500">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match preview.await {
                        Ok(p) => {
                            let o = options.await.unwrap_or(SignInOptions { password: true, ..Default::default() });
                            let reset_for = p.reset_for.clone();
                            let reset = reset_for.is_some();
                            let sso = o.sso.clone().filter(|_| !reset || !o.password).map(|name| view! {
                                <a href=format!("/auth/sso?invite={}", crate::api::encode_query(&token())) rel="external" data-testid="sso-join" class=format!("block text-center {BUTTON}")>
                                    {if reset { format!("Sign in with {name}") } else { format!("Join with {name}") }}
                                </a>
                            });
                            let github = (o.github && !reset).then(|| view! {
                                <a href=format!("/auth/github?invite={}", crate::api::encode_query(&token())) rel="external" data-testid="github-join" class=OTHER_WAY>
                                    "Join with GitHub"
                                </a>
                            });
                            let divider = (o.password && !reset && (o.sso.is_some() || o.github)).then(|| view! {
                                <div class="my-4 flex items-center gap-3 text-xs uppercase tracking-wide text-slate-500">
                                    <span class="h-px flex-1 bg-slate-200 dark:bg-slate-800"></span>
                                    "or choose a password"
                                    <span class="h-px flex-1 bg-slate-200 dark:bg-slate-800"></span>
                                </div>
                            });
                            let password = o.password;
                            view! {
                                <p class="mb-4 text-sm" data-testid="invitation-offer">
                                    {match p.reset_for.clone() {
                                        Some(name) => view! { "Choose a new password for "<strong>{name}</strong>". Your other sessions will be signed out. The link expires "<Time ms=p.expires_at />"." }.into_any(),
                                        None => view! { <strong>{p.invited_by}</strong>" invites you to join as "<strong>{p.role.as_str()}</strong>". The link expires "<Time ms=p.expires_at />"." }.into_any(),
                                    }}
                                </p>
                                <ErrorBox message=error />
                                {sso}
                                {github}
                                {divider}
                                {(!password && reset).then(|| view! {
                                    <p class="mt-3 text-sm text-slate-600 dark:text-slate-400">"Password sign-in is turned off on this server: the provider account you sign in with becomes this account's way in."</p>
                                })}
                                <ActionForm action=ctx.accept attr:hidden=!password>
                                    <input type="hidden" name="token" value=token />
                                    {match reset_for {
                                        Some(name) => view! { <input type="hidden" name="username" autocomplete="username" value=name /> }.into_any(),
                                        None => view! {
                                            <label class="mb-4 block text-sm font-medium">
                                                "Choose a username"
                                                <input class=INPUT name="username" autocomplete="username" required minlength="3" maxlength="32" pattern="[A-Za-z0-9._\\-]+" autofocus />
                                            </label>
                                        }.into_any(),
                                    }}
                                    <label class="block text-sm font-medium">
                                        {if reset { "New password" } else { "Password" }}
                                        <input class=INPUT type="password" name="password" autocomplete="new-password" required minlength="8" />
                                    </label>
                                    <label class="mt-4 block text-sm font-medium">
                                        "Repeat password"
                                        <input class=INPUT type="password" name="confirm" autocomplete="new-password" required minlength="8" />
                                    </label>
                                    <button type="submit" class=format!("mt-6 {BUTTON}") disabled=pending>
                                        {move || match (pending.get(), reset) {
                                            (true, _) => "Saving…",
                                            (false, true) => "Set password",
                                            (false, false) => "Join",
                                        }}
                                    </button>
                                </ActionForm>
                            }.into_any()
                        }
                        Err(e) => {
                            let message = match e {
                                ApiError::NotFound => "This invitation link is not valid. Check that it was copied whole.".to_string(),
                                ApiError::Conflict(m) => format!("{}{}", m[..1].to_uppercase(), &m[1..]),
                                other => other.to_string(),
                            };
                            view! {
                                <p role="alert" data-testid="form-error" class="rounded-md border border-rose-200 bg-rose-50 px-3 py-2 text-sm text-rose-800 dark:border-rose-900 dark:bg-rose-950 dark:text-rose-200">{message}</p>
                                <a href="/login" class="mt-4 block text-center text-sm font-medium text-indigo-600 hover:underline dark:text-indigo-400">"Sign in instead"</a>
                            }.into_any()
                        }
                    }
                })}
            </Transition>
        </AuthCard>
    }
}

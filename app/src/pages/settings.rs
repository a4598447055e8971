//! Settings: the account (and its GitHub link), appearance, and GitHub:
//! connected repositories (status, test connection, sync, disk use,
//! worktrees) and, for admins, the webhook, links, status labels and
//! sign-in with GitHub. Secrets are write-only here: the page shows
//! whether one is set, never its value.

use leptos::prelude::*;

use super::common::{action_error, FormError, CARD, INPUT, LINK, PRIMARY, SECONDARY};
use super::executions::time_text;
use crate::api::{
    get_github_overview, ConnectGithubRepository, SaveGithubSettings, SetKeepWorktrees,
    SyncGithubRepository, TestGithubConnection, UnlinkGithub,
};
use crate::components::{empty_state::PageHeader, theme::ThemeToggle};
use crate::model::{GithubOverview, GithubSettings, Repository};
use crate::state::use_session;

const HINT: &str = "mt-1 block text-xs font-normal text-slate-500";

pub fn bytes_text(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[component]
pub fn SettingsPage() -> impl IntoView {
    let ctx = use_session();
    let save = ServerAction::<SaveGithubSettings>::new();
    let connect = ServerAction::<ConnectGithubRepository>::new();
    let sync = ServerAction::<SyncGithubRepository>::new();
    let keep = ServerAction::<SetKeepWorktrees>::new();
    let unlink = ServerAction::<UnlinkGithub>::new();
    let test = ServerAction::<TestGithubConnection>::new();
    let overview = Resource::new(
        move || {
            (
                save.version().get(),
                connect.version().get(),
                sync.version().get(),
                keep.version().get(),
                unlink.version().get(),
            )
        },
        |_| get_github_overview(),
    );
    view! {
        <leptos_meta::Title text="Settings" />
        <PageHeader title="Settings" subtitle="Your account, this browser's preferences, and GitHub." />
        <Transition fallback=|| view! { <p class="text-sm text-slate-500">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let session = ctx.session.await;
                let overview = overview.await;
                let user = session.ok().and_then(|s| s.user);
                match overview {
                    Err(e) => view! { <p role="alert" class="text-sm text-rose-600">{e.to_string()}</p> }.into_any(),
                    Ok(o) => view! {
                        <div class="grid gap-4">
                            <section class=CARD>
                                <h2 class="text-sm font-semibold">"Account"</h2>
                                {user.map(|user| view! {
                                    <dl class="mt-4 grid grid-cols-3 gap-2 text-sm sm:max-w-md">
                                        <dt class="text-slate-500">"Username"</dt>
                                        <dd class="col-span-2 font-medium">{user.username}</dd>
                                        <dt class="text-slate-500">"Role"</dt>
                                        <dd class="col-span-2">{user.role.as_str()}</dd>
                                        <dt class="text-slate-500">"GitHub"</dt>
                                        <dd class="col-span-2" data-testid="github-login">{o.github_login.clone().unwrap_or_else(|| "not linked".into())}</dd>
                                    </dl>
                                })}
                                <AccountGithub overview=o.clone() unlink=unlink />
                            </section>
                            <section class=CARD>
                                <h2 class="text-sm font-semibold">"Appearance"</h2>
                                <p class="mt-2 text-sm text-slate-600 dark:text-slate-400">
                                    "Light, dark, or the same as your operating system. Remembered in this browser."
                                </p>
                                <div class="mt-4"><ThemeToggle /></div>
                            </section>
                            <Repositories overview=o.clone() connect=connect sync=sync keep=keep test=test />
                            {o.settings.clone().map(|s| view! { <GithubForm settings=s save=save /> })}
                        </div>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn AccountGithub(overview: GithubOverview, unlink: ServerAction<UnlinkGithub>) -> impl IntoView {
    let linked = overview.github_login.is_some();
    view! {
        <div class="mt-3 flex flex-wrap gap-2">
            {(overview.sign_in_enabled && !linked).then(|| view! {
                <a href="/auth/github" rel="external" class=SECONDARY>"Link your GitHub account"</a>
            })}
            {linked.then(|| view! {
                <ActionForm action=unlink>
                    <button type="submit" class=SECONDARY>"Unlink GitHub"</button>
                </ActionForm>
            })}
        </div>
        {(!overview.sign_in_enabled && !linked).then(|| view! {
            <p class=HINT>"Sign in with GitHub becomes available when an admin configures an OAuth app below."</p>
        })}
    }
}

#[component]
fn Repositories(
    overview: GithubOverview,
    connect: ServerAction<ConnectGithubRepository>,
    sync: ServerAction<SyncGithubRepository>,
    keep: ServerAction<SetKeepWorktrees>,
    test: ServerAction<TestGithubConnection>,
) -> impl IntoView {
    let admin = overview.admin;
    let repositories = overview.repositories;
    let sync_error = action_error(sync);
    let test_result = move || test.value().get();
    view! {
        <section class=CARD data-testid="repositories">
            <h2 class="text-sm font-semibold">"Repositories"</h2>
            <p class="mt-1 text-sm text-slate-600 dark:text-slate-400">
                "A repository connected to GitHub imports its open issues, follows them by webhook (or polling), and gets comments, labels and pull requests back from workflow runs. Agents work in their own git worktree of its clone."
            </p>
            {move || sync.value().get().map(|r| match r {
                Ok(r) => view! {
                    <p class="mt-3 text-sm text-emerald-700 dark:text-emerald-300" data-testid="sync-result">
                        {if r.not_modified { "Up to date: GitHub reports no changes.".to_string() } else { format!("Synced: {} new, {} updated.", r.created, r.updated) }}
                    </p>
                }.into_any(),
                Err(_) => ().into_any(),
            })}
            <FormError message=sync_error />
            {move || test_result().map(|r| match r {
                Ok(check) => {
                    let class = if check.ok { "mt-3 rounded-md border border-emerald-300 bg-emerald-50 px-3 py-2 text-sm text-emerald-800 dark:border-emerald-800 dark:bg-emerald-950 dark:text-emerald-200" } else { "mt-3 rounded-md border border-rose-300 bg-rose-50 px-3 py-2 text-sm text-rose-800 dark:border-rose-800 dark:bg-rose-950 dark:text-rose-200" };
                    let details = [
                        check.full_name.clone(),
                        check.default_branch.as_ref().map(|b| format!("default branch {b}")),
                        check.private.map(|p| if p { "private".to_string() } else { "public".to_string() }),
                        check.can_push.map(|p| if p { "can push".to_string() } else { "read only".to_string() }),
                    ].into_iter().flatten().collect::<Vec<_>>().join(" · ");
                    view! { <p class=class role="status" data-testid="test-result">{format!("{} {}", check.message, if details.is_empty() { String::new() } else { format!("({details})") })}</p> }.into_any()
                }
                Err(e) => view! { <p role="alert" class="mt-3 text-sm text-rose-600">{e.to_string()}</p> }.into_any(),
            })}
            {if repositories.is_empty() {
                view! { <p class="mt-3 text-sm text-slate-500">"No repositories yet."</p> }.into_any()
            } else {
                view! {
                    <ul class="mt-3 divide-y divide-slate-100 dark:divide-slate-800">
                        {repositories.into_iter().map(|r| view! { <RepositoryRow repo=r admin=admin sync=sync keep=keep test=test /> }).collect_view()}
                    </ul>
                }.into_any()
            }}
            {admin.then(|| view! { <ConnectForm connect=connect /> })}
        </section>
    }
}

#[component]
fn RepositoryRow(
    repo: Repository,
    admin: bool,
    sync: ServerAction<SyncGithubRepository>,
    keep: ServerAction<SetKeepWorktrees>,
    test: ServerAction<TestGithubConnection>,
) -> impl IntoView {
    let id = repo.id.to_string();
    let status = if repo.connected {
        format!(
            "GitHub {} via {}",
            repo.github.clone().unwrap_or_default(),
            if repo.github_auth.as_deref() == Some("app") {
                "App installation"
            } else {
                "token"
            }
        )
    } else if let Some(g) = &repo.github {
        format!("GitHub {g} (not connected)")
    } else {
        "local only".to_string()
    };
    let id_test = id.clone();
    let id_sync = id.clone();
    view! {
        <li class="py-3" data-testid="repository" data-name=repo.name.clone()>
            <div class="flex flex-wrap items-baseline gap-x-3 gap-y-1">
                <span class="font-medium">{repo.name.clone()}</span>
                <span class="text-xs text-slate-500" data-testid="repository-status">{status}</span>
                {repo.local_path.clone().map(|p| view! { <span class="font-mono text-xs text-slate-500">{p}</span> })}
            </div>
            <dl class="mt-1 flex flex-wrap gap-x-4 gap-y-1 text-xs text-slate-600 dark:text-slate-400">
                {repo.default_branch.clone().map(|b| view! { <div><dt class="inline">"Default branch "</dt><dd class="inline font-mono">{b}</dd></div> })}
                {repo.connected.then(|| view! {
                    <div><dt class="inline">"Last sync "</dt><dd class="inline">{repo.synced_at.map(time_text).unwrap_or_else(|| "not yet".into())}</dd></div>
                })}
                {repo.disk_bytes.map(|b| view! { <div><dt class="inline">"Disk "</dt><dd class="inline" data-testid="disk-use">{bytes_text(b)}</dd></div> })}
                <div><dt class="inline">"Open issues "</dt><dd class="inline">{repo.open_issues}</dd></div>
            </dl>
            {repo.sync_error.clone().map(|e| view! { <p role="alert" class="mt-1 text-xs text-rose-600">{format!("Last sync failed: {e}")}</p> })}
            <div class="mt-2 flex flex-wrap items-center gap-2">
                {(repo.connected && admin).then(|| view! {
                    <button type="button" class=SECONDARY data-testid="test-connection" disabled=move || test.pending().get()
                        on:click=move |_| { if let Ok(id) = id_test.parse() { test.dispatch(TestGithubConnection { id }); } }>
                        "Test connection"
                    </button>
                })}
                {repo.connected.then(|| view! {
                    <ActionForm action=sync>
                        <input type="hidden" name="id" value=id_sync />
                        <button type="submit" class=SECONDARY disabled=move || sync.pending().get()>"Sync now"</button>
                    </ActionForm>
                })}
                {(admin && (repo.connected || repo.local_path.is_some())).then(|| view! {
                    <ActionForm action=keep attr:class="flex items-center gap-2">
                        <input type="hidden" name="id" value=id />
                        <label class="flex items-center gap-1 text-xs">
                            <input type="checkbox" name="keep" checked=repo.keep_worktrees />
                            "Keep worktrees after runs"
                        </label>
                        <button type="submit" class=SECONDARY>"Save"</button>
                    </ActionForm>
                })}
            </div>
        </li>
    }
}

#[component]
fn ConnectForm(connect: ServerAction<ConnectGithubRepository>) -> impl IntoView {
    let error = action_error(connect);
    view! {
        <details class="mt-4 rounded-md border border-slate-200 p-3 dark:border-slate-800">
            <summary class="cursor-pointer text-sm font-medium">"Connect a GitHub repository"</summary>
            <ActionForm action=connect attr:class="mt-3 grid gap-3 md:grid-cols-2" attr:data-testid="connect-form">
                <label class="block text-sm font-medium">"Owner"<input name="form[owner]" class=INPUT required placeholder="acme" /></label>
                <label class="block text-sm font-medium">"Repository"<input name="form[repo]" class=INPUT required placeholder="widgets" /></label>
                <label class="block text-sm font-medium">"Name in Yagura (optional)"<input name="form[name]" class=INPUT maxlength="100" placeholder="the repository's name" /></label>
                <label class="block text-sm font-medium">"API base URL (optional)"<input name="form[api_base_url]" class=INPUT placeholder="https://api.github.com" />
                    <span class=HINT>"GitHub Enterprise: https://HOST/api/v3"</span>
                </label>
                <label class="block text-sm font-medium md:col-span-2">"Personal access token"
                    <input name="form[token]" type="password" autocomplete="off" class=INPUT placeholder="github_pat_… or ghp_…" />
                    <span class=HINT>"Fine-grained (Issues, Pull requests and Contents: read and write) or classic (repo). Stored encrypted; never shown again."</span>
                </label>
                <p class="text-xs text-slate-500 md:col-span-2">"Or a GitHub App installation instead of a token:"</p>
                <label class="block text-sm font-medium">"App id"<input name="form[app_id]" inputmode="numeric" class=INPUT /></label>
                <label class="block text-sm font-medium">"Installation id"<input name="form[installation_id]" inputmode="numeric" class=INPUT /></label>
                <label class="block text-sm font-medium md:col-span-2">"App private key (PEM)"
                    <textarea name="form[private_key]" rows="3" class=INPUT placeholder="-----BEGIN RSA PRIVATE KEY-----"></textarea>
                </label>
                <div class="md:col-span-2">
                    <button type="submit" class=PRIMARY disabled=move || connect.pending().get()>"Connect and import issues"</button>
                </div>
            </ActionForm>
            <FormError message=error />
        </details>
    }
}

#[component]
fn GithubForm(settings: GithubSettings, save: ServerAction<SaveGithubSettings>) -> impl IntoView {
    let error = action_error(save);
    let saved = move || save.value().get().is_some_and(|r| r.is_ok());
    let secret_state = if settings.webhook_secret_from_env {
        "set by YAGURA_GITHUB_WEBHOOK_SECRET"
    } else if settings.webhook_secret_set {
        "set"
    } else {
        "not set: webhooks are refused"
    };
    view! {
        <section class=CARD>
            <h2 class="text-sm font-semibold">"GitHub"</h2>
            <ActionForm action=save attr:class="mt-3 grid gap-4 md:grid-cols-2" attr:data-testid="github-settings">
                <div class="md:col-span-2 text-sm">
                    <p class="font-medium">"Webhook"</p>
                    <p class="mt-1 text-slate-600 dark:text-slate-400">
                        "In the repository's settings on GitHub, add a webhook to "
                        <code class="rounded bg-slate-100 px-1 font-mono text-xs dark:bg-slate-800" data-testid="webhook-url">{settings.webhook_url.clone()}</code>
                        " with content type application/json, the secret below, and the Issues and Issue comments events."
                    </p>
                </div>
                <label class="block text-sm font-medium">
                    "Webhook secret"
                    <input name="form[webhook_secret]" type="password" autocomplete="off" class=INPUT disabled=settings.webhook_secret_from_env placeholder="leave empty to keep" />
                    <span class=HINT data-testid="webhook-secret-state">{format!("Currently {secret_state}.")}</span>
                </label>
                <label class="flex items-center gap-2 self-center text-sm">
                    <input type="checkbox" name="form[clear_webhook_secret]" disabled=settings.webhook_secret_from_env />
                    "Remove the stored secret"
                </label>
                <label class="block text-sm font-medium md:col-span-2">
                    "Public URL"
                    <input name="form[public_url]" class=INPUT value=settings.public_url.clone() />
                    <span class=HINT>"Where people reach Yagura: links in GitHub comments and the sign-in callback use it."</span>
                </label>
                <fieldset class="grid gap-3 md:col-span-2 md:grid-cols-3">
                    <legend class="mb-1 text-sm font-medium">"Labels set on GitHub issues"</legend>
                    <label class="block text-xs">"While a workflow runs"<input name="form[label_in_progress]" class=INPUT required maxlength="50" value=settings.labels.in_progress.clone() /></label>
                    <label class="block text-xs">"When it completed"<input name="form[label_done]" class=INPUT required maxlength="50" value=settings.labels.done.clone() /></label>
                    <label class="block text-xs">"When it failed"<input name="form[label_failed]" class=INPUT required maxlength="50" value=settings.labels.failed.clone() /></label>
                </fieldset>
                <fieldset class="grid gap-3 md:col-span-2 md:grid-cols-3">
                    <legend class="mb-1 text-sm font-medium">"Sign in with GitHub (an OAuth app; callback "<code class="font-mono text-xs">{format!("{}/auth/github/callback", settings.public_url)}</code>")"</legend>
                    <label class="block text-xs">"Client id"<input name="form[oauth_client_id]" class=INPUT value=settings.oauth_client_id.clone().unwrap_or_default() placeholder="empty: off" /></label>
                    <label class="block text-xs">"Client secret"<input name="form[oauth_client_secret]" type="password" autocomplete="off" class=INPUT placeholder=if settings.oauth_secret_set { "set; leave empty to keep" } else { "not set" } /></label>
                    <label class="block text-xs">"GitHub web URL"<input name="form[oauth_web_url]" class=INPUT value=settings.oauth_web_url.clone() /></label>
                </fieldset>
                <p class="text-xs text-slate-500 md:col-span-2">
                    {if settings.poll_secs == 0 { "Polling is off (--github-poll-secs 0): issues arrive by webhook only.".to_string() } else { format!("Connected repositories are also polled every {} s with conditional requests, for changes no webhook delivered.", settings.poll_secs) }}
                </p>
                <div class="flex items-center gap-3 md:col-span-2">
                    <button type="submit" class=PRIMARY disabled=move || save.pending().get()>"Save GitHub settings"</button>
                    {move || saved().then(|| view! { <span class="text-sm text-emerald-700 dark:text-emerald-300" role="status">"Saved."</span> })}
                    <a class=LINK href="https://docs.github.com/webhooks" rel="external noopener" target="_blank">"About webhooks"</a>
                </div>
            </ActionForm>
            <FormError message=error />
        </section>
    }
}

//! Runners: machines that dial in over `/ws/ktcp` and run agents. The list
//! follows runners coming and going live; admins create and revoke tokens
//! here, and the page shows the command line that starts a runner.

use crate::components::time::Time;
use leptos::prelude::*;

use crate::components::copy::CopyButton;

use super::common::{action_error, workspace_version, FormError, CARD, DANGER, INPUT, PRIMARY};
use crate::api::{get_runners, CreateRunnerToken, RevokeRunnerToken};
use crate::components::empty_state::{EmptyState, PageHeader};
use crate::model::{Runner, RunnerToken, RunnersOverview};
use crate::protocol::native::ServerMessage;

#[component]
pub fn RunnersPage() -> impl IntoView {
    let create = ServerAction::<CreateRunnerToken>::new();
    let revoke = ServerAction::<RevokeRunnerToken>::new();
    let changed = workspace_version(|m| matches!(m, ServerMessage::RunnerUpdated { .. }));
    let overview = Resource::new(
        move || {
            (
                changed.get(),
                create.version().get(),
                revoke.version().get(),
            )
        },
        |_| get_runners(),
    );
    view! {
        <leptos_meta::Title text="Runners" />
        <PageHeader title="Runners" subtitle="Machines that dial in to run agents. Agents that need a capability (docker, gpu…) run only on a runner that offers it." />
        <Transition fallback=|| view! { <p class="text-sm text-slate-500">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match overview.await {
                    Err(e) => view! { <p role="alert" class="text-sm text-rose-600">{e.to_string()}</p> }.into_any(),
                    Ok(o) => view! { <Overview overview=o create=create revoke=revoke /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Overview(
    overview: RunnersOverview,
    create: ServerAction<CreateRunnerToken>,
    revoke: ServerAction<RevokeRunnerToken>,
) -> impl IntoView {
    let RunnersOverview {
        runners,
        tokens,
        admin,
        lease_secs,
        server_url,
    } = overview;
    // The token just created goes into the command; until then a
    // placeholder says where it goes.
    let command = Signal::derive(move || {
        let token = create
            .value()
            .get()
            .and_then(|r| r.ok())
            .map(|t| t.token)
            .unwrap_or_else(|| "<TOKEN>".to_string());
        format!(
            "yagura runner --server {server_url} --token {token} --name {} --capabilities local --concurrency 2",
            "$(hostname)"
        )
    });
    view! {
        <div class="grid gap-6">
            <section>
                {if runners.is_empty() {
                    view! { <EmptyState title="No runners yet" body="Executions run on this server. Start a runner with the command below to run them on other machines." /> }.into_any()
                } else {
                    view! {
                        <ul class="grid gap-3 md:grid-cols-2" data-testid="runner-list">
                            {runners.into_iter().map(|r| view! { <RunnerCard runner=r lease_secs=lease_secs /> }).collect_view()}
                        </ul>
                    }.into_any()
                }}
            </section>
            <section class=CARD>
                <h2 class="font-semibold">"Start a runner"</h2>
                <p class="mt-1 text-sm text-slate-600 dark:text-slate-400">
                    "On the machine that should run agents, with this same "<code>"yagura"</code>" binary:"
                </p>
                <div class="mt-2 flex items-start gap-2">
                    <pre class="min-w-0 flex-1 overflow-x-auto rounded-md bg-slate-100 p-3 text-xs dark:bg-slate-950" data-testid="runner-command">{command}</pre>
                    <CopyButton text=command label="Copy the command" testid="copy-command" />
                </div>
                {move || (admin && create.value().get().is_none_or(|r| r.is_err())).then(|| view! {
                    <p class="mt-1 text-xs text-slate-500">"Create a runner token below: it takes the place of "<code>"<TOKEN>"</code>"."</p>
                })}
                <p class="mt-2 text-xs text-slate-500">
                    {format!("A runner that sends no heartbeat for {lease_secs} s loses its running executions (they fail with RUNNER_LOST). It keeps its reports while the link is down and sends them again when it reconnects.")}
                </p>
            </section>
            {admin.then(|| view! { <Tokens tokens=tokens create=create revoke=revoke /> })}
        </div>
    }
}

#[component]
fn RunnerCard(runner: Runner, lease_secs: u64) -> impl IntoView {
    let status = if runner.online { "online" } else { "offline" };
    let badge = if runner.online {
        "rounded-full bg-emerald-100 px-2 py-0.5 text-xs font-medium text-emerald-800 dark:bg-emerald-900 dark:text-emerald-200"
    } else {
        "rounded-full bg-slate-200 px-2 py-0.5 text-xs font-medium text-slate-700 dark:bg-slate-800 dark:text-slate-300"
    };
    let _ = lease_secs;
    view! {
        <li class=CARD data-testid="runner" data-name=runner.name.clone() data-online=runner.online.to_string()>
            <div class="flex items-center justify-between gap-2">
                <h3 class="truncate font-semibold">{runner.name.clone()}</h3>
                <span class=badge data-testid="runner-status">{status}</span>
            </div>
            <dl class="mt-3 grid grid-cols-2 gap-x-4 gap-y-1 text-sm">
                <dt class="text-slate-500">"Running"</dt>
                <dd data-testid="runner-load">{format!("{} of {}", runner.running_tasks, runner.concurrency)}</dd>
                <dt class="text-slate-500">"Capabilities"</dt>
                <dd class="flex flex-wrap gap-1">
                    {runner.capabilities.iter().map(|c| view! {
                        <span class="rounded bg-slate-100 px-1.5 py-0.5 font-mono text-xs dark:bg-slate-800">{c.clone()}</span>
                    }).collect_view()}
                </dd>
                <dt class="text-slate-500">"Version"</dt>
                <dd>{runner.version.clone()}</dd>
                <dt class="text-slate-500">"Last heartbeat"</dt>
                <dd>{match runner.last_heartbeat_at { Some(at) => view! { <Time ms=at /> }.into_any(), None => "never".into_any() }}</dd>
                <dt class="text-slate-500">"Token"</dt>
                <dd>{runner.token_name.clone()}</dd>
            </dl>
        </li>
    }
}

#[component]
fn Tokens(
    tokens: Vec<RunnerToken>,
    create: ServerAction<CreateRunnerToken>,
    revoke: ServerAction<RevokeRunnerToken>,
) -> impl IntoView {
    let created = move || create.value().get().and_then(|r| r.ok());
    let create_error = action_error(create);
    let revoke_error = action_error(revoke);
    view! {
        <section class=CARD>
            <h2 class="font-semibold">"Runner tokens"</h2>
            <p class="mt-1 text-sm text-slate-600 dark:text-slate-400">"A runner proves who it is with a token. Yagura keeps only a hash: a token is shown once, when it is made. Revoking one disconnects its runners at once."</p>
            <ActionForm action=create attr:class="mt-3 flex flex-wrap items-end gap-2">
                <label class="block text-sm font-medium">
                    "Token name"
                    <input name="name" class=INPUT required maxlength="64" placeholder="build-box" />
                </label>
                <button type="submit" class=PRIMARY disabled=move || create.pending().get()>"Create token"</button>
            </ActionForm>
            <FormError message=create_error />
            {move || created().map(|t| view! {
                <div class="mt-3 rounded-md border border-amber-300 bg-amber-50 p-3 text-sm dark:border-amber-700 dark:bg-amber-950">
                    <p>{format!("Token {:?} — copy it now; it will not be shown again:", t.info.name)}</p>
                    <div class="mt-1 flex items-start gap-2">
                        <code class="min-w-0 flex-1 break-all font-mono text-xs" data-testid="new-token">{t.token.clone()}</code>
                        <CopyButton text=t.token label="Copy the token" testid="copy-token" />
                    </div>
                </div>
            })}
            <FormError message=revoke_error />
            <ul class="mt-4 divide-y divide-slate-100 text-sm dark:divide-slate-800">
                {tokens.into_iter().map(|t| {
                    let revoked = t.revoked_at.is_some();
                    view! {
                        <li class="flex flex-wrap items-center gap-x-3 gap-y-1 py-2" data-testid="runner-token">
                            <span class="font-medium">{t.name.clone()}</span>
                            <span class="text-xs text-slate-500">"created "<Time ms=t.created_at /></span>
                            <span class="text-xs text-slate-500">{match t.last_used_at { Some(u) => view! { "last used "<Time ms=u /> }.into_any(), None => "never used".into_any() }}</span>
                            {if revoked {
                                view! { <span class="ml-auto text-xs font-medium text-rose-600">"revoked"</span> }.into_any()
                            } else {
                                view! {
                                    <ActionForm action=revoke attr:class="ml-auto">
                                        <input type="hidden" name="id" value=t.id.clone() />
                                        <button type="submit" class=DANGER on:click=crate::components::confirm::confirm_click("Revoke this runner token? Runners using it are disconnected.")>"Revoke"</button>
                                    </ActionForm>
                                }.into_any()
                            }}
                        </li>
                    }
                }).collect_view()}
            </ul>
        </section>
    }
}

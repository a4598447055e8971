//! API keys: for scripts and tools that speak to Yagura as a user (REST
//! with `X-API-Key` or `Authorization: Bearer`, CC-Anywhere clients). A key
//! is shown once, when it is made; Yagura keeps only its hash.

use crate::components::time::Time;
use leptos::prelude::*;

use super::common::{action_error, FormError, CARD, DANGER, INPUT, LINK, PRIMARY};
use crate::api::{get_api_keys, CreateApiKey, RevokeApiKey};
use crate::components::empty_state::PageHeader;
use crate::model::{ApiKey, ApiKeysOverview};

#[component]
pub fn ApiKeysPage() -> impl IntoView {
    let create = ServerAction::<CreateApiKey>::new();
    let revoke = ServerAction::<RevokeApiKey>::new();
    let overview = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| get_api_keys(),
    );
    view! {
        <leptos_meta::Title text="API keys" />
        <PageHeader title="API keys" subtitle="Keys let scripts and other clients act as you: the REST API (X-API-Key or Authorization: Bearer), and the WebSocket dialects that sign in with a key." />
        <p class="-mt-2 mb-4 text-sm text-slate-600 dark:text-slate-400">
            "Every REST operation is described in the "
            <a href="/api/v1/reference" rel="external" class=LINK data-testid="api-reference">"API reference"</a>
            ", generated from the server's handlers; tools read the same description as OpenAPI 3.1 from "
            <a href="/api/v1/openapi.json" rel="external" class=LINK>"/api/v1/openapi.json"</a>
            "."
        </p>
        <Transition fallback=|| view! { <p class="text-sm text-slate-500">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match overview.await {
                    Err(e) => view! { <p role="alert" class="text-sm text-rose-600">{e.to_string()}</p> }.into_any(),
                    Ok(o) => view! { <Keys overview=o create=create revoke=revoke /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Keys(
    overview: ApiKeysOverview,
    create: ServerAction<CreateApiKey>,
    revoke: ServerAction<RevokeApiKey>,
) -> impl IntoView {
    let ApiKeysOverview { keys, all_users } = overview;
    let created = move || create.value().get().and_then(|r| r.ok());
    let create_error = action_error(create);
    let revoke_error = action_error(revoke);
    let empty = keys.is_empty();
    view! {
        <div class="grid gap-6">
            <section class=CARD>
                <h2 class="font-semibold">"New key"</h2>
                <ActionForm action=create attr:class="mt-3 flex flex-wrap items-end gap-2">
                    <label class="block text-sm font-medium">
                        "Name"
                        <input name="name" class=INPUT required maxlength="64" placeholder="ci-bot" data-testid="api-key-name" />
                    </label>
                    <button type="submit" class=PRIMARY disabled=move || create.pending().get()>"Create key"</button>
                </ActionForm>
                <FormError message=create_error />
                {move || created().map(|k| view! {
                    <div class="mt-3 rounded-md border border-amber-300 bg-amber-50 p-3 text-sm dark:border-amber-700 dark:bg-amber-950">
                        <p>{format!("Key {:?}: copy it now, it will not be shown again.", k.info.name)}</p>
                        <code class="mt-1 block break-all font-mono text-xs" data-testid="new-api-key">{k.key}</code>
                    </div>
                })}
            </section>
            <section class=CARD>
                <h2 class="font-semibold">{if all_users { "Everyone's keys" } else { "Your keys" }}</h2>
                <p class="mt-1 text-sm text-slate-600 dark:text-slate-400">"A key acts with its owner's role. Revoking one refuses it at once and closes the connections it opened."</p>
                <FormError message=revoke_error />
                {if empty {
                    view! { <p class="mt-3 text-sm text-slate-500" data-testid="api-keys-empty">"No keys yet."</p> }.into_any()
                } else {
                    view! {
                        <ul class="mt-3 divide-y divide-slate-100 text-sm dark:divide-slate-800" data-testid="api-key-list">
                            {keys.into_iter().map(|k| view! { <KeyRow key_info=k all_users=all_users revoke=revoke /> }).collect_view()}
                        </ul>
                    }.into_any()
                }}
            </section>
        </div>
    }
}

#[component]
fn KeyRow(key_info: ApiKey, all_users: bool, revoke: ServerAction<RevokeApiKey>) -> impl IntoView {
    let revoked = key_info.revoked_at.is_some();
    view! {
        <li class="flex flex-wrap items-center gap-x-3 gap-y-1 py-2" data-testid="api-key" data-name=key_info.name.clone() data-revoked=revoked.to_string()>
            <span class="font-medium">{key_info.name.clone()}</span>
            <code class="rounded bg-slate-100 px-1.5 py-0.5 font-mono text-xs dark:bg-slate-800">{format!("{}…", key_info.prefix)}</code>
            {all_users.then(|| view! { <span class="text-xs text-slate-500">{format!("owner {}", key_info.username)}</span> })}
            <span class="text-xs text-slate-500">"created "<Time ms=key_info.created_at /></span>
            <span class="text-xs text-slate-500">{match key_info.last_used_at { Some(u) => view! { "last used "<Time ms=u /> }.into_any(), None => "never used".into_any() }}</span>
            {if revoked {
                view! { <span class="ml-auto text-xs font-medium text-rose-600">"revoked"</span> }.into_any()
            } else {
                view! {
                    <ActionForm action=revoke attr:class="ml-auto">
                        <input type="hidden" name="id" value=key_info.id.clone() />
                        <button type="submit" class=DANGER on:click=crate::components::confirm::confirm_click("Revoke this API key? Scripts and clients using it stop at once.")>"Revoke"</button>
                    </ActionForm>
                }.into_any()
            }}
        </li>
    }
}

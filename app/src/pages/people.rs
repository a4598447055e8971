//! People (admins): everyone with an account, their role, whether they
//! may sign in and when they last did. Changing a role or deactivating
//! someone takes effect on their next request; a deactivated person's
//! sessions, API keys and open connections end at once. Plain forms, so it
//! works without JavaScript too.

use leptos::prelude::*;

use super::common::{action_error, FormError, CARD, DANGER, SECONDARY};
use crate::api::{list_people, ApiError, ChangePerson};
use crate::components::empty_state::PageHeader;
use crate::components::time::Time;
use crate::model::{Person, Role};

const ROLES: [(Role, &str); 3] = [
    (
        Role::Admin,
        "Admin: everything, people and settings included",
    ),
    (
        Role::Member,
        "Member: runs agents and workflows, manages issues",
    ),
    (Role::Viewer, "Viewer: reads, follows runs"),
];

#[component]
pub fn PeoplePage() -> impl IntoView {
    let change = ServerAction::<ChangePerson>::new();
    let people = Resource::new(move || change.version().get(), |_| list_people());
    let error = action_error(change);
    view! {
        <leptos_meta::Title text="People" />
        <PageHeader title="People" subtitle="Who has an account, with which role. Deactivating someone ends their sessions, API keys and connections at once; their runs and history stay." />
        <FormError message=error />
        <Transition fallback=|| view! { <p class="text-sm text-slate-500">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match people.await {
                    Err(ApiError::Forbidden) => view! {
                        <p role="alert" class="text-sm text-slate-600 dark:text-slate-400">"Only admins see and manage people."</p>
                    }.into_any(),
                    Err(e) => view! { <p role="alert" class="text-sm text-rose-600">{e.to_string()}</p> }.into_any(),
                    Ok(list) => view! {
                        <section class=CARD>
                            <ul class="divide-y divide-slate-100 dark:divide-slate-800" data-testid="people">
                                {list.into_iter().map(|p| view! { <PersonRow person=p change=change /> }).collect_view()}
                            </ul>
                        </section>
                        <p class="mt-4 text-sm text-slate-600 dark:text-slate-400">
                            "New accounts are made on the server: "<code class="font-mono text-xs">"yagura user create --username NAME --role member --password-stdin"</code>"."
                        </p>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn PersonRow(person: Person, change: ServerAction<ChangePerson>) -> impl IntoView {
    let role_id = person.id.to_string();
    let active_id = role_id.clone();
    let role_label = format!("Role of {}", person.username);
    let current = person.role;
    let active = person.active;
    let confirm = format!(
        "Deactivate {}? They are signed out everywhere, their API keys are revoked and their connections close.",
        person.username
    );
    view! {
        <li class="flex flex-wrap items-center gap-x-4 gap-y-2 py-3 text-sm" data-testid="person" data-name=person.username.clone() data-active=active.to_string()>
            <div class="min-w-0 flex-1">
                <p class="font-medium">
                    {person.username.clone()}
                    {(!active).then(|| view! { <span class="ml-2 rounded bg-slate-200 px-1.5 py-0.5 text-xs font-normal text-slate-700 dark:bg-slate-800 dark:text-slate-300">"deactivated"</span> })}
                </p>
                <p class="text-xs text-slate-500">
                    {match person.last_sign_in_at {
                        Some(at) => view! { "last signed in "<Time ms=at /> }.into_any(),
                        None => "never signed in".into_any(),
                    }}
                    {person.github_login.clone().map(|l| format!(" · GitHub @{l}"))}
                </p>
            </div>
            <ActionForm action=change attr:class="flex items-center gap-2">
                <input type="hidden" name="id" value=role_id />
                <select name="role" aria-label=role_label class="rounded-md border border-slate-300 bg-white px-2 py-1.5 text-sm dark:border-slate-700 dark:bg-slate-950">
                    {ROLES.iter().map(|(role, title)| view! {
                        <option value=role.as_str() title=*title selected=*role == current>{role.as_str()}</option>
                    }).collect_view()}
                </select>
                <button type="submit" class=SECONDARY disabled=move || change.pending().get()>"Save role"</button>
            </ActionForm>
            <ActionForm action=change>
                <input type="hidden" name="id" value=active_id />
                <input type="hidden" name="active" value=(!active).to_string() />
                {if active {
                    view! {
                        <button type="submit" class=DANGER disabled=move || change.pending().get() on:click=move |ev: leptos::ev::MouseEvent| if !crate::components::confirm::confirmed(&confirm) { ev.prevent_default() }>"Deactivate"</button>
                    }.into_any()
                } else {
                    view! { <button type="submit" class=SECONDARY disabled=move || change.pending().get()>"Reactivate"</button> }.into_any()
                }}
            </ActionForm>
        </li>
    }
}

//! People (admins): everyone with an account, their role, whether they
//! may sign in and when they last did. Changing a role or deactivating
//! someone takes effect on their next request; a deactivated person's
//! sessions, API keys and open connections end at once. Plain forms, so it
//! works without JavaScript too.

use leptos::prelude::*;

use super::common::{action_error, FormError, CARD, DANGER, INPUT, PRIMARY, SECONDARY};
use crate::api::{
    list_invitations, list_people, ApiError, ChangePerson, DeletePerson, Invite, ResetLink,
    RevokeInvitation,
};
use crate::components::empty_state::PageHeader;
use crate::components::time::Time;
use crate::model::{Invitation, InvitationStatus, Person, Role};

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
    let invite = ServerAction::<Invite>::new();
    let revoke = ServerAction::<RevokeInvitation>::new();
    let reset = ServerAction::<ResetLink>::new();
    let delete = ServerAction::<DeletePerson>::new();
    // Made before anything is awaited (see the hydration rule in
    // `state`): one serialization id each, whatever the server renders.
    let people = Resource::new(
        move || {
            (
                change.version().get(),
                invite.version().get(),
                delete.version().get(),
            )
        },
        |_| list_people(),
    );
    let invitations = Resource::new(
        move || {
            (
                invite.version().get(),
                revoke.version().get(),
                reset.version().get(),
            )
        },
        |_| list_invitations(),
    );
    let (change_error, reset_error, revoke_error, delete_error) = (
        action_error(change),
        action_error(reset),
        action_error(revoke),
        action_error(delete),
    );
    let error = Signal::derive(move || {
        change_error
            .get()
            .or_else(|| reset_error.get())
            .or_else(|| revoke_error.get())
            .or_else(|| delete_error.get())
    });
    let reset_made = move || reset.value().get().and_then(|r| r.ok());
    view! {
        <leptos_meta::Title text="People" />
        <PageHeader title="People" subtitle="Who has an account, with which role. Deactivating someone ends their sessions, API keys and connections at once; their runs and history stay. A deactivated account can then be deleted." />
        <FormError message=error />
        {move || reset_made().map(|made| view! {
            <div class="mb-4 rounded-md border border-emerald-200 bg-emerald-50 p-3 text-sm dark:border-emerald-900 dark:bg-emerald-950">
                <p class="font-medium text-emerald-900 dark:text-emerald-200">
                    {format!("A link that sets {}'s password, for a day. Send it privately; it is shown only now.", made.invitation.reset_for.clone().unwrap_or_default())}
                </p>
                <input readonly data-testid="reset-link" aria-label="Password reset link" class=format!("{INPUT} font-mono text-xs") value=made.url />
            </div>
        })}
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
                                {list.into_iter().map(|p| view! { <PersonRow person=p change=change reset=reset delete=delete /> }).collect_view()}
                            </ul>
                        </section>
                        <InviteForm invite=invite />
                    }.into_any(),
                }
            })}
        </Transition>
        <Transition>
            {move || Suspend::new(async move {
                invitations.await.ok().filter(|l| !l.is_empty()).map(|list| view! {
                    <section class=format!("mt-6 {CARD}")>
                        <h2 class="text-base font-semibold">"Invitations"</h2>
                        <ul class="mt-2 divide-y divide-slate-100 dark:divide-slate-800" data-testid="invitations">
                            {list.into_iter().map(|i| view! { <InvitationRow invitation=i revoke=revoke /> }).collect_view()}
                        </ul>
                    </section>
                })
            })}
        </Transition>
    }
}

/// Makes an invitation and shows its link once. Without JavaScript the
/// invitation is made and listed, but its link cannot be shown: revoke it
/// and make one with JavaScript on, or use `yagura user invite`.
#[component]
fn InviteForm(invite: ServerAction<Invite>) -> impl IntoView {
    let error = action_error(invite);
    let link = move || invite.value().get().and_then(|r| r.ok()).map(|n| n.url);
    view! {
        <section class=format!("mt-6 {CARD}")>
            <h2 class="text-base font-semibold">"Invite someone"</h2>
            <p class="mt-1 text-sm text-slate-600 dark:text-slate-400">"Makes a link that works once: whoever opens it chooses a username and password and joins with the role you pick. Send it privately."</p>
            <ActionForm action=invite attr:class="mt-4 grid gap-3 sm:grid-cols-[10rem_1fr_10rem_auto] sm:items-end">
                <label class="block text-sm font-medium">
                    "Role"
                    <select name="role" class=INPUT>
                        {ROLES.iter().map(|(role, title)| view! {
                            <option value=role.as_str() title=*title selected=*role == Role::Member>{role.as_str()}</option>
                        }).collect_view()}
                    </select>
                </label>
                <label class="block text-sm font-medium">
                    "Email (a note for you, optional)"
                    <input type="email" name="email" class=INPUT autocomplete="off" placeholder="ada@example.com" />
                </label>
                <label class="block text-sm font-medium">
                    "Link works for"
                    <select name="expires_in_hours" class=INPUT>
                        <option value="24">"1 day"</option>
                        <option value="168" selected=true>"7 days"</option>
                        <option value="720">"30 days"</option>
                    </select>
                </label>
                <button type="submit" class=PRIMARY disabled=move || invite.pending().get()>"Make link"</button>
            </ActionForm>
            <FormError message=error />
            {move || link().map(|url| view! {
                <div class="mt-4 rounded-md border border-emerald-200 bg-emerald-50 p-3 text-sm dark:border-emerald-900 dark:bg-emerald-950">
                    <p class="font-medium text-emerald-900 dark:text-emerald-200">"Send this link. It is shown only now."</p>
                    <input readonly data-testid="invite-link" aria-label="Invitation link" class=format!("{INPUT} font-mono text-xs") value=url.clone() />
                </div>
            })}
        </section>
    }
}

#[component]
fn InvitationRow(invitation: Invitation, revoke: ServerAction<RevokeInvitation>) -> impl IntoView {
    let id = invitation.id.clone();
    let status = invitation.status;
    let whom = match &invitation.reset_for {
        Some(name) => format!("password reset for {name}"),
        None => format!(
            "{} · {}",
            invitation
                .email
                .as_deref()
                .unwrap_or("anyone with the link"),
            invitation.role.as_str()
        ),
    };
    let chip = match status {
        InvitationStatus::Pending => {
            "bg-amber-100 text-amber-800 dark:bg-amber-950 dark:text-amber-200"
        }
        InvitationStatus::Accepted => {
            "bg-emerald-100 text-emerald-800 dark:bg-emerald-950 dark:text-emerald-200"
        }
        _ => "bg-slate-200 text-slate-700 dark:bg-slate-800 dark:text-slate-300",
    };
    view! {
        <li class="flex flex-wrap items-center gap-x-4 gap-y-2 py-3 text-sm" data-testid="invitation" data-status=status.as_str()>
            <div class="min-w-0 flex-1">
                <p class="font-medium">
                    {whom}
                    <span class=format!("ml-2 rounded px-1.5 py-0.5 text-xs font-normal {chip}")>{status.as_str()}</span>
                </p>
                <p class="text-xs text-slate-500">
                    "by "{invitation.invited_by.clone()}" "<Time ms=invitation.created_at />
                    {match (status, invitation.accepted_by.clone()) {
                        (InvitationStatus::Accepted, Some(name)) if invitation.reset_for.is_some() => view! { " · used by "{name} }.into_any(),
                        (InvitationStatus::Accepted, Some(name)) => view! { " · joined as "{name} }.into_any(),
                        (InvitationStatus::Pending, _) => view! { " · expires "<Time ms=invitation.expires_at /> }.into_any(),
                        _ => ().into_any(),
                    }}
                </p>
            </div>
            {(status == InvitationStatus::Pending).then(|| view! {
                <ActionForm action=revoke>
                    <input type="hidden" name="id" value=id />
                    <button type="submit" class=DANGER disabled=move || revoke.pending().get()>"Revoke"</button>
                </ActionForm>
            })}
        </li>
    }
}

#[component]
fn PersonRow(
    person: Person,
    change: ServerAction<ChangePerson>,
    reset: ServerAction<ResetLink>,
    delete: ServerAction<DeletePerson>,
) -> impl IntoView {
    let role_id = person.id.to_string();
    let reset_id = role_id.clone();
    let active_id = role_id.clone();
    let delete_id = role_id.clone();
    let delete_confirm = format!(
        "Delete {}'s account for good? Their password, linked accounts, API keys and notifications are removed. What they made (agents, workflows, issues, runs) stays under their name, and nobody can take that name again.",
        person.username
    );
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
                    {person.sso_login.clone().map(|l| format!(" · single sign-on as {l}"))}
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
            {active.then(|| view! {
                <ActionForm action=reset>
                    <input type="hidden" name="id" value=reset_id />
                    <button type="submit" class=SECONDARY disabled=move || reset.pending().get()>"Reset password"</button>
                </ActionForm>
            })}
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
            {(!active).then(|| view! {
                <ActionForm action=delete>
                    <input type="hidden" name="id" value=delete_id />
                    <button type="submit" class=DANGER disabled=move || delete.pending().get() on:click=move |ev: leptos::ev::MouseEvent| if !crate::components::confirm::confirmed(&delete_confirm) { ev.prevent_default() }>"Delete"</button>
                </ActionForm>
            })}
        </li>
    }
}

//! People, for admins: everyone's account, roles, deactivation (the
//! backend checks the role, and keeps an active admin), and invitations.

use leptos::prelude::*;

use super::ApiError;
use crate::model::{Invitation, NewInvitation, Person, Role};

#[server(endpoint = "people/list")]
pub async fn list_people() -> Result<Vec<Person>, ApiError> {
    super::backend()?.people(&super::request_parts()?).await
}

/// Changes a person's role, or whether they are active (a plain form
/// sends either).
#[server(endpoint = "people/change")]
pub async fn change_person(
    id: String,
    role: Option<Role>,
    active: Option<bool>,
) -> Result<Person, ApiError> {
    super::backend()?
        .change_person(
            &super::request_parts()?,
            id,
            crate::model::PersonChange { role, active },
        )
        .await
}

/// Deletes a deactivated account; what they made stays under their name.
#[server(endpoint = "people/delete")]
pub async fn delete_person(id: String) -> Result<(), ApiError> {
    super::backend()?
        .delete_person(&super::request_parts()?, id)
        .await
}

/// Makes an invitation; the answer holds its link, shown only now.
#[server(endpoint = "people/invite")]
pub async fn invite(
    role: Role,
    email: Option<String>,
    expires_in_hours: Option<u32>,
) -> Result<NewInvitation, ApiError> {
    super::backend()?
        .invite(
            &super::request_parts()?,
            crate::model::InvitationInput {
                role,
                email,
                expires_in_hours,
            },
        )
        .await
}

/// Makes a one-time link that sets person `id`'s password (for a day).
#[server(endpoint = "people/reset")]
pub async fn reset_link(id: String) -> Result<NewInvitation, ApiError> {
    super::backend()?
        .reset_link(&super::request_parts()?, id)
        .await
}

#[server(endpoint = "people/invitations")]
pub async fn list_invitations() -> Result<Vec<Invitation>, ApiError> {
    super::backend()?
        .invitations(&super::request_parts()?)
        .await
}

#[server(endpoint = "people/invitations/revoke")]
pub async fn revoke_invitation(id: String) -> Result<Invitation, ApiError> {
    super::backend()?
        .revoke_invitation(&super::request_parts()?, id)
        .await
}

/// A page of the audit log (admins), newest first.
#[server(endpoint = "audit/list")]
pub async fn list_audit(
    query: crate::model::AuditQuery,
) -> Result<crate::model::AuditPage, ApiError> {
    super::backend()?
        .audit(&super::request_parts()?, query)
        .await
}

/// The Insights page's figures for the last `days` days (1–90).
#[server(endpoint = "insights")]
pub async fn insights(days: u32) -> Result<crate::model::Insights, ApiError> {
    super::backend()?
        .insights(&super::request_parts()?, days)
        .await
}

/// The load right now: runs queued and running, event rates, the host.
#[server(endpoint = "insights/now")]
pub async fn insights_now() -> Result<crate::model::LiveLoad, ApiError> {
    super::backend()?
        .insights_now(&super::request_parts()?)
        .await
}

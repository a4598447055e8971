//! People, for admins: everyone's account, roles, deactivation (the
//! backend checks the role, and keeps an active admin).

use leptos::prelude::*;

use super::ApiError;
use crate::model::{Person, Role};

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

//! Admins managing people: everyone's account, roles, deactivation. A
//! deactivated user cannot sign in; their sessions, API keys and open
//! sockets end at once. There is always an active admin left.

use app::api::ApiError;
use app::model::{Person, PersonChange, Role, User, UserId};

use super::Auth;
use crate::db::{self, people, Db};
use crate::error::OrInternal;

fn to_person(row: people::PersonRow) -> Result<Person, ApiError> {
    Ok(Person {
        id: row.id.parse().or_internal("stored user id")?,
        username: row.username,
        role: row.role,
        active: row.deactivated_at.is_none(),
        created_at: row.created_at,
        last_sign_in_at: row.last_sign_in_at,
        github_login: row.github_login,
        sso_login: row.sso_login,
    })
}

pub async fn list(db: &Db) -> Result<Vec<Person>, ApiError> {
    people::list(db)
        .await
        .or_internal("listing people")?
        .into_iter()
        .map(to_person)
        .collect()
}

async fn find(db: &Db, id: &str) -> Result<Person, ApiError> {
    people::find(db, id)
        .await
        .or_internal("finding a person")?
        .ok_or(ApiError::NotFound)
        .and_then(to_person)
}

/// Applies `change` to the person `id` (whether they are active first,
/// then their role) on behalf of `actor`, an admin; answers them as they
/// are now.
pub async fn change(
    auth: &Auth,
    db: &Db,
    actor: &User,
    id: &str,
    change: PersonChange,
) -> Result<Person, ApiError> {
    let id = id
        .parse::<UserId>()
        .map_err(|_| ApiError::NotFound)?
        .to_string();
    let before = find(db, &id).await?;
    // Whether they are active first: a refusal there changes nothing (a
    // role given to someone just deactivated is never refused).
    match change.active {
        Some(false) if before.active => {
            let now = db::now_ms();
            if !people::deactivate(db, &id, now)
                .await
                .or_internal("deactivating")?
            {
                // Deactivated meanwhile by someone else, or the last admin.
                if find(db, &id).await?.active {
                    return Err(ApiError::Conflict(
                        "the last active admin cannot be deactivated: make someone else an admin first"
                            .into(),
                    ));
                }
            }
            let keys = people::revoke_api_keys(db, &id, now)
                .await
                .or_internal("revoking API keys")?;
            let sockets = auth.connections.end_user(before.id);
            db::invitations::revoke_made_by(db, &id, now)
                .await
                .or_internal("revoking their links")?;
            tracing::info!(actor = %actor.username, user = %before.username, api_keys = keys.len(), sockets, "deactivated");
        }
        Some(true) if !before.active => {
            people::reactivate(db, &id)
                .await
                .or_internal("reactivating")?;
            tracing::info!(actor = %actor.username, user = %before.username, "reactivated");
        }
        _ => {}
    }
    if let Some(role) = change.role.filter(|r| *r != before.role) {
        if !people::set_role(db, &id, role)
            .await
            .or_internal("changing a role")?
        {
            return Err(ApiError::Conflict(
                "the last active admin cannot be demoted: make someone else an admin first".into(),
            ));
        }
        if before.role == Role::Admin {
            db::invitations::revoke_made_by(db, &id, db::now_ms())
                .await
                .or_internal("revoking their links")?;
        }
        tracing::info!(actor = %actor.username, user = %before.username, role = role.as_str(), "role changed");
    }
    find(db, &id).await
}

/// Deletes the account `id` on behalf of `actor`, an admin. The rule: only
/// a deactivated account can be deleted (so the last admin never can, and
/// their sessions, keys and sockets have ended already); what they made
/// for the team stays under their name, which nobody can take after them;
/// what let them in or was theirs alone goes (see `db::people::delete`).
pub async fn delete(db: &Db, actor: &User, id: &str) -> Result<(), ApiError> {
    let id = id
        .parse::<UserId>()
        .map_err(|_| ApiError::NotFound)?
        .to_string();
    if id == actor.id.to_string() {
        return Err(ApiError::Conflict(
            "you cannot delete your own account".into(),
        ));
    }
    let before = find(db, &id).await?;
    if before.active {
        return Err(ApiError::Conflict(format!(
            "deactivate {} first: only a deactivated account can be deleted",
            before.username
        )));
    }
    let Some(gone) = people::delete(db, &id, db::now_ms())
        .await
        .or_internal("deleting an account")?
    else {
        // Reactivated or deleted meanwhile.
        return match find(db, &id).await {
            Ok(_) => Err(ApiError::Conflict(format!(
                "{} was reactivated meanwhile: deactivate them first",
                before.username
            ))),
            Err(e) => Err(e),
        };
    };
    tracing::info!(
        actor = %actor.username,
        user = %before.username,
        api_keys = gone.api_keys,
        sessions = gone.sessions,
        notifications = gone.notifications,
        links = gone.links,
        flows = gone.flows,
        "account deleted"
    );
    Ok(())
}

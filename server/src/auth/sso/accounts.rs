//! Who a provider account is here. A person is matched by the issuer and
//! the provider's subject, never by email. Someone the provider vouches
//! for who has no account yet gets one only by an invitation, or by the
//! configured rule: a role for everyone (`--oidc-new-users`) or one given
//! by their groups (`--oidc-role-group`), the highest that matches.

use app::model::{Role, User};

use super::{Confirmed, Identity, Purpose, Sso, SsoError};
use crate::auth::accounts::to_user;
use crate::db::{self, sso as store, users, Db};
use crate::error::internal;

/// What a confirmed sign-in did.
#[derive(Debug)]
pub enum Outcome {
    /// Signed in to this account (made now if `joined`).
    SignedIn { user: User, joined: bool },
    /// The signed-in person's provider account is linked to them now.
    Linked,
}

/// The role someone new gets: the highest their groups map to, else the
/// one for everyone, else none (refused).
pub fn role_for(sso: &Sso, identity: &Identity) -> Option<Role> {
    let config = sso.config();
    let by_group = config
        .role_groups
        .iter()
        .filter(|(_, group)| identity.groups.iter().any(|g| g == group))
        .map(|(role, _)| *role)
        .max_by_key(|r| match r {
            Role::Admin => 2,
            Role::Member => 1,
            Role::Viewer => 0,
        });
    by_group.or(config.new_user_role)
}

/// A name for someone new, from what the provider says (their preferred
/// username, their email's local part, their name), made to fit the
/// username rule; the first one free.
async fn free_username(db: &Db, identity: &Identity) -> Result<String, SsoError> {
    let fit = |raw: &str| -> Option<String> {
        let cleaned: String = raw
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let cleaned = cleaned.trim_matches(|c| c == '-' || c == '.').to_string();
        let cut: String = cleaned.chars().take(28).collect();
        (cut.len() >= 3).then_some(cut)
    };
    let bases = [
        identity.preferred_username.as_deref(),
        identity.email.as_deref().and_then(|e| e.split('@').next()),
        identity.name.as_deref(),
    ]
    .into_iter()
    .flatten()
    .filter_map(fit)
    .chain(std::iter::once("user".to_string()))
    .collect::<Vec<_>>();
    for base in &bases {
        for n in 1..=9 {
            let name = if n == 1 {
                base.clone()
            } else {
                format!("{base}-{n}")
            };
            let taken = users::find_by_username(db, &name)
                .await
                .map_err(|e| SsoError::Api(internal("finding a user", e)))?
                .is_some();
            if !taken {
                return Ok(name);
            }
        }
    }
    Ok(format!(
        "user-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ))
}

/// A new account's row: no password (it signs in through the provider;
/// an admin's reset link can give it one).
async fn new_row(db: &Db, identity: &Identity, role: Role) -> Result<users::UserRow, SsoError> {
    Ok(users::UserRow {
        id: uuid::Uuid::new_v4().to_string(),
        username: free_username(db, identity).await?,
        password_hash: "!sso".into(),
        role,
        created_at: db::now_ms(),
        deactivated_at: None,
        sessions_valid_from: None,
    })
}

/// Acts on a confirmed sign-in. `current` is who the browser is signed in
/// as already, if anyone.
pub async fn finish_sign_in(
    sso: &Sso,
    db: &Db,
    confirmed: &Confirmed,
    current: Option<&User>,
) -> Result<Outcome, SsoError> {
    let issuer = sso.issuer();
    let identity = &confirmed.identity;
    let subject = identity.subject.as_str();
    let email = identity.email.as_deref();
    let owner = store::user_of(db, issuer, subject)
        .await
        .map_err(|e| SsoError::Api(internal("finding a linked account", e)))?;
    match &confirmed.purpose {
        Purpose::Link { user_id } => {
            // Only the person who started it, still signed in.
            if current.map(|u| u.id.to_string()).as_deref() != Some(user_id.as_str()) {
                return Err(SsoError::State);
            }
            match owner {
                Some(row) if &row.id == user_id => return Ok(Outcome::Linked),
                Some(_) => return Err(SsoError::Taken),
                None => {}
            }
            store::unlink(db, issuer, user_id)
                .await
                .map_err(|e| SsoError::Api(internal("unlinking", e)))?;
            match store::link(db, issuer, subject, user_id, email, db::now_ms()).await {
                Ok(()) => Ok(Outcome::Linked),
                Err(e) if db::is_unique_violation(&e) => Err(SsoError::Taken),
                Err(e) => Err(SsoError::Api(internal("linking", e))),
            }
        }
        Purpose::Invite { invitation_hash } => {
            if owner.is_some() {
                return Err(SsoError::Api(app::api::ApiError::Conflict(
                    "this single sign-on account has a Yagura account already: sign in with it"
                        .into(),
                )));
            }
            let row = new_row(db, identity, Role::Viewer).await?;
            let user = crate::auth::invitations::join_by_identity(
                db,
                invitation_hash,
                row,
                issuer,
                identity,
            )
            .await?;
            signed_in(db, &user).await;
            Ok(Outcome::SignedIn { user, joined: true })
        }
        Purpose::SignIn => match owner {
            Some(row) if row.deactivated_at.is_some() => Err(SsoError::Deactivated),
            Some(row) => {
                if let Err(e) = store::seen(db, issuer, subject, email).await {
                    tracing::warn!(error = %e, "provider email not recorded");
                }
                let user = to_user(row)?;
                signed_in(db, &user).await;
                Ok(Outcome::SignedIn {
                    user,
                    joined: false,
                })
            }
            None => {
                let role = role_for(sso, identity).ok_or(SsoError::NoAccount)?;
                let row = new_row(db, identity, role).await?;
                let mut tx = db
                    .begin()
                    .await
                    .map_err(|e| SsoError::Api(internal("making an account", e)))?;
                let made = async {
                    users::create_in(&mut tx, &row).await?;
                    store::link_in(&mut tx, issuer, subject, &row.id, email, row.created_at).await
                }
                .await;
                match made {
                    Ok(()) => {}
                    // The same person twice at once: the other one won.
                    Err(e) if db::is_unique_violation(&e) => return Err(SsoError::State),
                    Err(e) => return Err(SsoError::Api(internal("making an account", e))),
                }
                tx.commit()
                    .await
                    .map_err(|e| SsoError::Api(internal("making an account", e)))?;
                tracing::info!(username = %row.username, role = role.as_str(), "account made at first single sign-on");
                let user = to_user(row)?;
                signed_in(db, &user).await;
                Ok(Outcome::SignedIn { user, joined: true })
            }
        },
    }
}

async fn signed_in(db: &Db, user: &User) {
    if let Err(e) = db::people::signed_in(db, &user.id.to_string(), db::now_ms()).await {
        tracing::warn!(error = %e, "last sign-in not recorded");
    }
}

/// Unlinks `user_id`'s provider account; answers whether there was one.
pub async fn unlink(sso: &Sso, db: &Db, user_id: &str) -> Result<bool, SsoError> {
    store::unlink(db, sso.issuer(), user_id)
        .await
        .map(|n| n > 0)
        .map_err(|e| SsoError::Api(internal("unlinking", e)))
}

/// What `user_id` is linked as at the provider (email or subject).
pub async fn linked_as(sso: &Sso, db: &Db, user_id: &str) -> Result<Option<String>, SsoError> {
    store::linked_as(db, sso.issuer(), user_id)
        .await
        .map_err(|e| SsoError::Api(internal("reading a link", e)))
}

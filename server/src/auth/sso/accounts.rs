//! Who a provider account is here. A person is matched by the issuer and
//! the provider's subject, never by email. Someone the provider vouches
//! for who has no account yet gets one only by an invitation, or by the
//! configured rule: a role for everyone (`--oidc-new-users`) or one given
//! by their groups (`--oidc-role-group`), the highest that matches.

use app::model::{Role, User};

use super::{Confirmed, Identity, Purpose, Sso, SsoError};
use crate::auth::accounts::to_user;
use crate::db::{self, sso as store, users, Db};

/// What a confirmed sign-in did.
#[derive(Debug)]
pub enum Outcome {
    /// Signed in to this account (made now if `joined`; `ended_others`:
    /// a reset link was used, so its older sessions ended and their
    /// sockets are the caller's to close).
    SignedIn {
        user: User,
        joined: bool,
        ended_others: bool,
    },
    /// The signed-in person's provider account is linked to them now.
    Linked,
}

/// The role someone new gets: the highest their groups map to, else the
/// one for everyone, else none (refused).
pub fn role_for(sso: &Sso, identity: &Identity) -> Option<Role> {
    let config = sso.config();
    // Only people of these email domains (a verified address) are let in
    // by the rule; invitations are not bound by it.
    if !config.email_domains.is_empty() {
        let domain = identity
            .email
            .as_deref()
            .filter(|_| identity.email_verified)
            .and_then(|e| e.rsplit_once('@'))
            .map(|(_, d)| d.to_ascii_lowercase());
        if !domain.is_some_and(|d| {
            config
                .email_domains
                .iter()
                .any(|a| a.eq_ignore_ascii_case(&d))
        }) {
            return None;
        }
    }
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
pub(crate) async fn free_username(db: &Db, identity: &Identity) -> Result<String, SsoError> {
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
            let taken = users::name_taken(db, &name)
                .await
                .map_err(|e| SsoError::Internal(format!("finding a user: {e}")))?;
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
pub(crate) async fn new_row(
    db: &Db,
    identity: &Identity,
    role: Role,
) -> Result<users::UserRow, SsoError> {
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
    let owner = owner_of(db, issuer, subject).await?;
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
            match store::relink(db, issuer, subject, user_id, email, db::now_ms()).await {
                Ok(()) => Ok(Outcome::Linked),
                Err(e) if db::is_unique_violation(&e) => Err(SsoError::Taken),
                Err(e) => Err(SsoError::Internal(format!("linking: {e}"))),
            }
        }
        Purpose::Invite { invitation_hash } => {
            let invitation = crate::auth::invitations::usable_hash(db, invitation_hash).await?;
            let reset = invitation.user_id.is_some();
            let user = if reset {
                // A reset link: this provider account becomes the way in.
                if owner.is_some_and(|o| Some(&o.id) != invitation.user_id.as_ref()) {
                    return Err(SsoError::Taken);
                }
                crate::auth::invitations::recover_with_sso(db, invitation_hash, issuer, identity)
                    .await?
            } else {
                if owner.is_some() {
                    return Err(SsoError::Api(app::api::ApiError::Conflict(
                        "this single sign-on account has a Yagura account already: sign in with it"
                            .into(),
                    )));
                }
                let row = new_row(db, identity, Role::Viewer).await?;
                crate::auth::invitations::join_vouched(
                    db,
                    invitation_hash,
                    row,
                    crate::auth::invitations::Vouched::Sso { issuer, identity },
                )
                .await?
            };
            signed_in(db, &user).await;
            Ok(Outcome::SignedIn {
                user,
                joined: !reset,
                ended_others: reset,
            })
        }
        Purpose::SignIn => match owner {
            Some(row) => sign_in_as(db, issuer, identity, row).await,
            None => {
                // Nobody may become someone before the first admin exists
                // (setup needs an empty installation).
                if crate::auth::accounts::needs_setup(db).await? {
                    return Err(SsoError::NotSetUp);
                }
                let role = role_for(sso, identity).ok_or(SsoError::NoAccount)?;
                // A name taken meanwhile: the next one; the same person
                // signing in twice at once: the account the other made.
                for _ in 0..3 {
                    let row = new_row(db, identity, role).await?;
                    match make_account(db, issuer, identity, &row).await {
                        Ok(()) => {
                            tracing::info!(username = %row.username, role = role.as_str(), "account made at first single sign-on");
                            let user = to_user(row)?;
                            signed_in(db, &user).await;
                            return Ok(Outcome::SignedIn {
                                user,
                                joined: true,
                                ended_others: false,
                            });
                        }
                        Err(e) if db::is_unique_violation(&e) => {
                            if let Some(row) = owner_of(db, issuer, subject).await? {
                                return sign_in_as(db, issuer, identity, row).await;
                            }
                        }
                        Err(e) => {
                            return Err(SsoError::Internal(format!("making an account: {e}")))
                        }
                    }
                }
                Err(SsoError::Internal("no free username".into()))
            }
        },
    }
}

async fn owner_of(
    db: &Db,
    issuer: &str,
    subject: &str,
) -> Result<Option<users::UserRow>, SsoError> {
    store::user_of(db, issuer, subject)
        .await
        .map_err(|e| SsoError::Internal(format!("finding a linked account: {e}")))
}

/// Signs in the account a provider account is linked to, if it is active
/// (a deleted one is deactivated too).
async fn sign_in_as(
    db: &Db,
    issuer: &str,
    identity: &Identity,
    row: users::UserRow,
) -> Result<Outcome, SsoError> {
    if row.deactivated_at.is_some() {
        return Err(SsoError::Deactivated);
    }
    if let Err(e) = store::seen(db, issuer, &identity.subject, identity.email.as_deref()).await {
        tracing::warn!(error = %e, "provider email not recorded");
    }
    let user = to_user(row)?;
    signed_in(db, &user).await;
    Ok(Outcome::SignedIn {
        user,
        joined: false,
        ended_others: false,
    })
}

/// The account and its link, in one transaction.
async fn make_account(
    db: &Db,
    issuer: &str,
    identity: &Identity,
    row: &users::UserRow,
) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    users::create_in(&mut tx, row).await?;
    store::link_in(
        &mut tx,
        issuer,
        &identity.subject,
        &row.id,
        identity.email.as_deref(),
        row.created_at,
    )
    .await?;
    tx.commit().await
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
        .map_err(|e| SsoError::Internal(format!("unlinking: {e}")))
}

/// What `user_id` is linked as at the provider (email or subject).
pub async fn linked_as(sso: &Sso, db: &Db, user_id: &str) -> Result<Option<String>, SsoError> {
    store::linked_as(db, sso.issuer(), user_id)
        .await
        .map_err(|e| SsoError::Internal(format!("reading a link: {e}")))
}

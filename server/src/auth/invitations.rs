//! Invitations: an admin makes a one-time link with a role; whoever opens
//! it chooses a username and password and joins with that role. The link
//! carries 256 random bits (`yai_` and 64 hex digits), stored only as a
//! SHA-256 hash. It works once, until it expires or an admin revokes it.
//! A password reset link is the same kind of link, made for one existing
//! person: whoever opens it sets that account's password (its sessions
//! end), for a day.

use app::api::ApiError;
use app::model::{
    Invitation, InvitationInput, InvitationPreview, InvitationStatus, NewInvitation, User,
};
use rand::RngCore;

use crate::db::{self, invitations as store, users, Db};
use crate::error::{internal, OrInternal};

/// What every invitation secret starts with.
pub const PREFIX: &str = "yai_";
/// How long a link works unless the admin says otherwise: a week.
pub const DEFAULT_HOURS: u32 = 168;
/// The longest an admin may choose: 30 days.
pub const MAX_HOURS: u32 = 720;
/// How long a password reset link works.
pub const RESET_HOURS: u32 = 24;
/// How many invitations the list shows.
const LIST_LIMIT: i64 = 100;

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{PREFIX}{}", hex::encode(bytes))
}

fn status(row: &store::InvitationRow, now: i64) -> InvitationStatus {
    if row.accepted_at.is_some() {
        InvitationStatus::Accepted
    } else if row.revoked_at.is_some() {
        InvitationStatus::Revoked
    } else if row.expires_at <= now {
        InvitationStatus::Expired
    } else {
        InvitationStatus::Pending
    }
}

fn to_invitation(row: store::InvitationRow, now: i64) -> Invitation {
    Invitation {
        status: status(&row, now),
        id: row.id,
        role: row.role,
        email: row.email,
        invited_by: row.created_by_name,
        created_at: row.created_at,
        expires_at: row.expires_at,
        accepted_by: row.accepted_by_name,
        reset_for: row.for_username,
    }
}

fn check_input(input: &InvitationInput) -> Result<(Option<String>, u32), ApiError> {
    let email = input
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty());
    if let Some(e) = email {
        let plausible = e.len() <= 254
            && e.split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty())
            && !e.chars().any(|c| c.is_whitespace() || c.is_control());
        if !plausible {
            return Err(ApiError::Invalid(format!("{e:?} is not an email address")));
        }
    }
    let hours = input.expires_in_hours.unwrap_or(DEFAULT_HOURS);
    if !(1..=MAX_HOURS).contains(&hours) {
        return Err(ApiError::Invalid(format!(
            "an invitation lasts 1–{MAX_HOURS} hours"
        )));
    }
    Ok((email.map(str::to_string), hours))
}

/// Makes an invitation on behalf of `admin`; the answer carries the link,
/// shown only now. `public_url` is where the server is reached from.
pub async fn create(
    db: &Db,
    admin: &User,
    input: &InvitationInput,
    public_url: &str,
) -> Result<NewInvitation, ApiError> {
    let (email, hours) = check_input(input)?;
    let token = new_token();
    let now = db::now_ms();
    let id = uuid::Uuid::new_v4().to_string();
    store::insert(
        db,
        &store::NewInvitation {
            id: &id,
            token_hash: &super::api_keys::hash(&token),
            role: input.role,
            email: email.as_deref(),
            created_by: &admin.id.to_string(),
            created_at: now,
            expires_at: now + i64::from(hours) * 3_600_000,
            user_id: None,
        },
    )
    .await
    .or_internal("creating an invitation")?;
    tracing::info!(admin = %admin.username, role = input.role.as_str(), hours, "invitation created");
    made(db, &id, token, public_url, now).await
}

/// The invitation `id` just made, with its link.
async fn made(
    db: &Db,
    id: &str,
    token: String,
    public_url: &str,
    now: i64,
) -> Result<NewInvitation, ApiError> {
    let row = store::find(db, id)
        .await
        .or_internal("reading an invitation")?
        .ok_or(ApiError::Internal)?;
    Ok(NewInvitation {
        invitation: to_invitation(row, now),
        url: format!("{}/invite/{token}", public_url.trim_end_matches('/')),
        token,
    })
}

/// Makes an invitation from the server's shell, on behalf of the admin
/// called `by` (default: the longest-standing active admin).
pub async fn create_from_shell(
    db: &Db,
    by: Option<&str>,
    input: &InvitationInput,
    public_url: &str,
) -> Result<NewInvitation, ApiError> {
    let admin = match by {
        Some(name) => users::find_by_username(db, name)
            .await
            .or_internal("finding a user")?
            .filter(|r| r.deactivated_at.is_none() && r.role == app::model::Role::Admin)
            .ok_or_else(|| {
                ApiError::Invalid(format!("there is no active admin called {name:?}"))
            })?,
        None => users::first_admin(db)
            .await
            .or_internal("finding an admin")?
            .ok_or_else(|| {
                ApiError::Invalid("there is no admin yet: finish first-run setup first".into())
            })?,
    };
    let admin = super::accounts::to_user(admin)?;
    create(db, &admin, input, public_url).await
}

/// Makes a password reset link for the person `user_id` on behalf of
/// `admin`: it works once, for [`RESET_HOURS`].
pub async fn create_reset(
    db: &Db,
    admin: &User,
    user_id: &str,
    public_url: &str,
) -> Result<NewInvitation, ApiError> {
    let person = users::find_by_id(db, user_id)
        .await
        .or_internal("finding a user")?
        .ok_or(ApiError::NotFound)?;
    if person.deactivated_at.is_some() {
        return Err(ApiError::Conflict(
            "this account is deactivated: reactivate it first".into(),
        ));
    }
    let token = new_token();
    let now = db::now_ms();
    let id = uuid::Uuid::new_v4().to_string();
    store::insert(
        db,
        &store::NewInvitation {
            id: &id,
            token_hash: &super::api_keys::hash(&token),
            role: person.role,
            email: None,
            created_by: &admin.id.to_string(),
            created_at: now,
            expires_at: now + i64::from(RESET_HOURS) * 3_600_000,
            user_id: Some(&person.id),
        },
    )
    .await
    .or_internal("creating a reset link")?;
    tracing::info!(admin = %admin.username, user = %person.username, "password reset link made");
    made(db, &id, token, public_url, now).await
}

/// A password reset link for `username`, made from the server's shell on
/// behalf of the longest-standing active admin.
pub async fn reset_from_shell(
    db: &Db,
    username: &str,
    public_url: &str,
) -> Result<NewInvitation, ApiError> {
    let person = users::find_by_username(db, username)
        .await
        .or_internal("finding a user")?
        .ok_or_else(|| ApiError::Invalid(format!("there is no user called {username:?}")))?;
    let admin = users::first_admin(db)
        .await
        .or_internal("finding an admin")?
        .ok_or_else(|| ApiError::Invalid("there is no active admin".into()))?;
    let admin = super::accounts::to_user(admin)?;
    create_reset(db, &admin, &person.id, public_url).await
}

/// The newest invitations, in every state.
pub async fn list(db: &Db) -> Result<Vec<Invitation>, ApiError> {
    let now = db::now_ms();
    Ok(store::list(db, LIST_LIMIT)
        .await
        .or_internal("listing invitations")?
        .into_iter()
        .map(|r| to_invitation(r, now))
        .collect())
}

/// Revokes an invitation nobody has used yet.
pub async fn revoke(db: &Db, id: &str) -> Result<Invitation, ApiError> {
    let now = db::now_ms();
    if !store::revoke(db, id, now)
        .await
        .or_internal("revoking an invitation")?
    {
        let row = store::find(db, id)
            .await
            .or_internal("finding an invitation")?
            .ok_or(ApiError::NotFound)?;
        if row.accepted_at.is_some() {
            return Err(ApiError::Conflict(
                "this invitation has been used: deactivate the person instead".into(),
            ));
        }
    }
    store::find(db, id)
        .await
        .or_internal("finding an invitation")?
        .map(|r| to_invitation(r, now))
        .ok_or(ApiError::NotFound)
}

/// The invitation a link's secret opens, if it can still be used.
async fn usable(db: &Db, token: &str) -> Result<store::InvitationRow, ApiError> {
    let token = token.trim();
    if !token.starts_with(PREFIX) || token.len() > 128 {
        return Err(ApiError::NotFound);
    }
    usable_hash(db, &super::api_keys::hash(token)).await
}

/// [`usable`] by the hash of the secret (a single sign-on kept only that).
pub async fn usable_hash(db: &Db, hash: &str) -> Result<store::InvitationRow, ApiError> {
    let row = store::find_by_hash(db, hash)
        .await
        .or_internal("finding an invitation")?
        .ok_or(ApiError::NotFound)?;
    match status(&row, db::now_ms()) {
        InvitationStatus::Pending => Ok(row),
        InvitationStatus::Accepted => {
            Err(ApiError::Conflict("this link has already been used".into()))
        }
        InvitationStatus::Revoked => Err(ApiError::Conflict("this link was revoked".into())),
        InvitationStatus::Expired => Err(ApiError::Conflict(
            "this link has expired: ask for a new one".into(),
        )),
    }
}

/// What the link's page shows before the person joins.
pub async fn preview(db: &Db, token: &str) -> Result<InvitationPreview, ApiError> {
    let row = usable(db, token).await?;
    Ok(InvitationPreview {
        role: row.role,
        invited_by: row.created_by_name,
        expires_at: row.expires_at,
        reset_for: row.for_username,
    })
}

/// Sets a new password with a reset link; the account's other sessions
/// end.
async fn reset(db: &Db, token: &str, password: &str) -> Result<User, ApiError> {
    super::accounts::validate_password(password)?;
    let hash = super::password::hash(password.to_owned())
        .await
        .or_internal("hashing")?;
    let user = store::claim_reset(
        db,
        &super::api_keys::hash(token.trim()),
        &hash,
        db::now_ms(),
    )
    .await
    .or_internal("resetting a password")?;
    let Some(user) = user else {
        return Err(usable(db, token)
            .await
            .err()
            .unwrap_or(ApiError::Conflict("this account is deactivated".into())));
    };
    let row = users::find_by_id(db, &user)
        .await
        .or_internal("finding a user")?
        .ok_or(ApiError::NotFound)?;
    tracing::info!(user = %row.username, "password set with a reset link");
    super::accounts::to_user(row)
}

/// Joins with an invitation: makes the account and uses the link up, in
/// one transaction (a taken username leaves the link usable; of two
/// browsers racing one link, one joins).
pub async fn accept(
    auth: &super::Auth,
    db: &Db,
    token: &str,
    username: &str,
    password: &str,
) -> Result<User, ApiError> {
    let user = use_link(auth, db, token, username, password).await?;
    // They are signed in by it, as by a password.
    if let Err(e) = crate::db::people::signed_in(db, &user.id.to_string(), db::now_ms()).await {
        tracing::warn!(error = %e, "last sign-in not recorded");
    }
    Ok(user)
}

async fn use_link(
    auth: &super::Auth,
    db: &Db,
    token: &str,
    username: &str,
    password: &str,
) -> Result<User, ApiError> {
    auth.allow_passwords()?;
    let invitation = usable(db, token).await?;
    if invitation.user_id.is_some() {
        // A reset: the account's sessions ended, so do their sockets.
        let user = reset(db, token, password).await?;
        auth.connections.end_user(user.id);
        return Ok(user);
    }
    let row = super::accounts::new_row(username, password, invitation.role).await?;
    let mut tx = db.begin().await.or_internal("accepting an invitation")?;
    match users::create_in(&mut tx, &row).await {
        Ok(()) => {}
        Err(e) if db::is_unique_violation(&e) => {
            return Err(ApiError::Conflict(format!(
                "the username {username:?} is taken"
            )))
        }
        Err(e) => return Err(internal("accepting an invitation", e)),
    }
    let claimed = store::claim(
        &mut tx,
        &super::api_keys::hash(token.trim()),
        &row.id,
        db::now_ms(),
    )
    .await
    .or_internal("accepting an invitation")?;
    if claimed.is_none() {
        // Used, revoked or expired since it was looked at.
        drop(tx);
        return Err(usable(db, token)
            .await
            .err()
            .unwrap_or(ApiError::Conflict("this link has already been used".into())));
    }
    tx.commit().await.or_internal("accepting an invitation")?;
    tracing::info!(username, role = row.role.as_str(), invited_by = %invitation.created_by_name, "joined by invitation");
    super::accounts::to_user(row)
}

/// Who vouches for someone joining without a password.
pub enum Vouched<'a> {
    /// The single sign-on provider `issuer`.
    Sso {
        issuer: &'a str,
        identity: &'a super::sso::Identity,
    },
    /// GitHub, for the account with this numeric id and login.
    GitHub { id: i64, login: &'a str },
}

/// Joins with the invitation whose secret hashes to `hash`, as the account
/// `row` (its role is the invitation's), linked to whoever vouched for
/// them: the account, the link and the claim are one transaction.
pub async fn join_vouched(
    db: &Db,
    hash: &str,
    mut row: users::UserRow,
    by: Vouched<'_>,
) -> Result<User, ApiError> {
    let invitation = usable_hash(db, hash).await?;
    if invitation.user_id.is_some() {
        return Err(ApiError::Conflict(
            "a password reset link sets a password: open it and choose one".into(),
        ));
    }
    row.role = invitation.role;
    let now = db::now_ms();
    let mut tx = db.begin().await.or_internal("accepting an invitation")?;
    match users::create_in(&mut tx, &row).await {
        Ok(()) => {}
        Err(e) if db::is_unique_violation(&e) => {
            return Err(ApiError::Conflict(format!(
                "the username {:?} is taken",
                row.username
            )))
        }
        Err(e) => return Err(internal("accepting an invitation", e)),
    }
    let linked = match &by {
        Vouched::Sso { issuer, identity } => {
            db::sso::link_in(
                &mut tx,
                issuer,
                &identity.subject,
                &row.id,
                identity.email.as_deref(),
                now,
            )
            .await
        }
        Vouched::GitHub { id, login } => {
            users::set_github_account_in(&mut tx, &row.id, Some((*id, login))).await
        }
    };
    match linked {
        Ok(()) => {}
        Err(e) if db::is_unique_violation(&e) => {
            return Err(ApiError::Conflict(
                "that account has a Yagura account already: sign in with it".into(),
            ))
        }
        Err(e) => return Err(internal("accepting an invitation", e)),
    }
    if store::claim(&mut tx, hash, &row.id, now)
        .await
        .or_internal("accepting an invitation")?
        .is_none()
    {
        drop(tx);
        return Err(usable_hash(db, hash)
            .await
            .err()
            .unwrap_or(ApiError::Conflict("this link has already been used".into())));
    }
    tx.commit().await.or_internal("accepting an invitation")?;
    let via = match by {
        Vouched::Sso { .. } => "single sign-on",
        Vouched::GitHub { .. } => "GitHub",
    };
    tracing::info!(username = %row.username, role = row.role.as_str(), invited_by = %invitation.created_by_name, via, "joined by invitation");
    super::accounts::to_user(row)
}

/// Uses a password reset link to link `identity` at `issuer` to the
/// link's account instead of setting a password (how someone gets back in
/// when password sign-in is off): the claim, the end of their older
/// sessions and the link are one transaction.
pub async fn recover_with_sso(
    db: &Db,
    hash: &str,
    issuer: &str,
    identity: &super::sso::Identity,
) -> Result<User, ApiError> {
    let now = db::now_ms();
    let mut tx = db.begin().await.or_internal("using a reset link")?;
    let Some(user_id) = store::claim_reset_in(&mut tx, hash, now)
        .await
        .or_internal("using a reset link")?
    else {
        drop(tx);
        return Err(usable_hash(db, hash)
            .await
            .err()
            .unwrap_or(ApiError::Conflict("this link has already been used".into())));
    };
    let active = users::end_sessions_before_in(&mut tx, &user_id, now)
        .await
        .or_internal("ending sessions")?;
    if !active {
        return Err(ApiError::Conflict("this account is deactivated".into()));
    }
    match db::sso::replace_in(
        &mut tx,
        issuer,
        &identity.subject,
        &user_id,
        identity.email.as_deref(),
        now,
    )
    .await
    {
        Ok(()) => {}
        Err(e) if db::is_unique_violation(&e) => {
            return Err(ApiError::Conflict(
                "that single sign-on account belongs to another Yagura account".into(),
            ))
        }
        Err(e) => return Err(internal("using a reset link", e)),
    }
    tx.commit().await.or_internal("using a reset link")?;
    let row = users::find_by_id(db, &user_id)
        .await
        .or_internal("finding a user")?
        .ok_or(ApiError::NotFound)?;
    tracing::info!(user = %row.username, "single sign-on linked with a reset link");
    super::accounts::to_user(row)
}

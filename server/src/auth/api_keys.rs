//! API keys: `yak_` and 64 hex digits (256 random bits), shown once,
//! stored as a SHA-256 hash (a fast hash suffices for a secret this
//! random). A key acts as its user, with that user's role. A member
//! manages their own keys, an admin everyone's. Revoking a key closes the
//! sockets it opened (see [`super::connections`]).

use app::api::ApiError;
use app::model::{ApiKey, NewApiKey, Role, User};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::db::{self, api_keys as store, users, Db};
use crate::error::OrInternal;

/// What every API key starts with (a JWT never does).
pub const PREFIX: &str = "yak_";

pub fn is_api_key(token: &str) -> bool {
    token.starts_with(PREFIX)
}

pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn new_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{PREFIX}{}", hex::encode(bytes))
}

fn to_api_key(row: store::ApiKeyRow) -> Result<ApiKey, ApiError> {
    Ok(ApiKey {
        user_id: row.user_id.parse().or_internal("stored user id")?,
        id: row.id,
        name: row.name,
        prefix: row.prefix,
        username: row.username,
        created_at: row.created_at,
        last_used_at: row.last_used_at,
        revoked_at: row.revoked_at,
    })
}

/// Makes a key for `owner`; the answer holds the key, shown only now.
pub async fn create(db: &Db, owner: &User, name: &str) -> Result<NewApiKey, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(ApiError::Invalid(
            "an API key's name must be 1–64 characters".into(),
        ));
    }
    let key = new_key();
    let row = store::ApiKeyRow {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: owner.id.to_string(),
        username: owner.username.clone(),
        name: name.to_string(),
        key_hash: hash(&key),
        prefix: key[..PREFIX.len() + 8].to_string(),
        created_at: db::now_ms(),
        last_used_at: None,
        revoked_at: None,
    };
    store::insert(db, &row)
        .await
        .or_internal("creating an API key")?;
    Ok(NewApiKey {
        info: to_api_key(row)?,
        key,
    })
}

/// Makes a key for the user called `username` (the command line).
pub async fn create_for(db: &Db, username: &str, name: &str) -> Result<NewApiKey, ApiError> {
    let row = users::find_by_username(db, username)
        .await
        .or_internal("finding a user")?
        .ok_or_else(|| ApiError::Invalid(format!("there is no user called {username:?}")))?;
    if row.deactivated_at.is_some() {
        return Err(ApiError::Invalid(format!(
            "{username:?} is deactivated: reactivate them first"
        )));
    }
    let owner = User {
        id: row.id.parse().or_internal("stored user id")?,
        username: row.username,
        role: row.role,
    };
    create(db, &owner, name).await
}

/// `viewer`'s keys, or everyone's for an admin.
pub async fn list(db: &Db, viewer: &User) -> Result<Vec<ApiKey>, ApiError> {
    let mine = viewer.id.to_string();
    let rows = if viewer.role.at_least(Role::Admin) {
        store::list(db, None).await
    } else {
        store::list(db, Some(&mine)).await
    }
    .or_internal("listing API keys")?;
    rows.into_iter().map(to_api_key).collect()
}

/// Revokes key `id` if `viewer` may (its owner, or an admin). Answers the
/// key's id, for closing its sockets.
pub async fn revoke(db: &Db, viewer: &User, id: &str) -> Result<(), ApiError> {
    let row = store::find(db, id)
        .await
        .or_internal("reading an API key")?
        .ok_or(ApiError::NotFound)?;
    if row.user_id != viewer.id.to_string() && !viewer.role.at_least(Role::Admin) {
        // Someone else's key is not theirs to see either.
        return Err(ApiError::NotFound);
    }
    if !store::revoke(db, id, db::now_ms())
        .await
        .or_internal("revoking an API key")?
    {
        return Err(ApiError::Conflict("the key was revoked already".into()));
    }
    Ok(())
}

/// The key's row, when `key` is a valid, unrevoked API key.
pub async fn check(db: &Db, key: &str) -> Option<store::ApiKeyRow> {
    let row = store::find_by_hash(db, &hash(key)).await.ok()??;
    if row.revoked_at.is_some() {
        return None;
    }
    let _ = store::touch(db, &row.id, db::now_ms()).await;
    Some(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_recognisable() {
        let a = new_key();
        let b = new_key();
        assert_ne!(a, b);
        assert!(is_api_key(&a));
        assert_eq!(a.len(), PREFIX.len() + 64);
        assert!(!is_api_key("eyJhbGciOiJIUzI1NiJ9.x.y"));
        assert_eq!(hash(&a).len(), 64);
    }
}

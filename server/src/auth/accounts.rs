//! Accounts: validation, creation, first-run setup and password sign-in.

use crate::error::{internal, OrInternal};
use std::time::Instant;

use app::api::ApiError;
use app::model::{Role, User, UserId};

use super::{password, throttle::LoginThrottle};
use crate::db::{self, users, Db};

pub const MAX_PASSWORD_BYTES: usize = 1024;

/// 3–32 characters from `A–Z a–z 0–9 . _ -`.
pub fn validate_username(name: &str) -> Result<(), ApiError> {
    let ok_len = (3..=32).contains(&name.chars().count());
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok_len && ok_chars {
        Ok(())
    } else {
        Err(ApiError::Invalid(
            "a username has 3–32 characters: letters, digits, '.', '_' or '-'".into(),
        ))
    }
}

pub fn validate_password(password: &str) -> Result<(), ApiError> {
    if password.chars().count() < 8 {
        return Err(ApiError::Invalid(
            "a password has at least 8 characters".into(),
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::Invalid(format!(
            "a password has at most {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    Ok(())
}

fn to_user(row: users::UserRow) -> Result<User, ApiError> {
    let id = row.id.parse::<UserId>().or_internal("stored user id")?;
    let role = row.role;
    Ok(User {
        id,
        username: row.username,
        role,
    })
}

async fn new_row(username: &str, password: &str, role: Role) -> Result<users::UserRow, ApiError> {
    validate_username(username)?;
    validate_password(password)?;
    let password_hash = password::hash(password.to_owned())
        .await
        .or_internal("hashing")?;
    Ok(users::UserRow {
        id: uuid::Uuid::new_v4().to_string(),
        username: username.to_owned(),
        password_hash,
        role,
        created_at: db::now_ms(),
    })
}

pub async fn create_user(
    db: &Db,
    username: &str,
    password: &str,
    role: Role,
) -> Result<User, ApiError> {
    let row = new_row(username, password, role).await?;
    match users::create(db, &row).await {
        Ok(()) => to_user(row),
        Err(e) if db::is_unique_violation(&e) => Err(ApiError::Conflict(format!(
            "the username {username:?} is taken"
        ))),
        Err(e) => Err(internal("creating a user", e)),
    }
}

/// Creates the first admin, only while there is no user at all.
pub async fn setup_admin(db: &Db, username: &str, password: &str) -> Result<User, ApiError> {
    if needs_setup(db).await? {
        let row = new_row(username, password, Role::Admin).await?;
        if users::create_if_none(db, &row)
            .await
            .or_internal("first admin")?
        {
            tracing::info!(username, "first admin created");
            return to_user(row);
        }
    }
    Err(ApiError::Conflict("Yagura is already set up".into()))
}

pub async fn needs_setup(db: &Db) -> Result<bool, ApiError> {
    Ok(users::count(db).await.or_internal("counting users")? == 0)
}

pub async fn find_user(db: &Db, id: &str) -> Result<Option<User>, ApiError> {
    match users::find_by_id(db, id)
        .await
        .or_internal("finding a user")?
    {
        Some(row) => to_user(row).map(Some),
        None => Ok(None),
    }
}

/// Checks a username and password. Wrong name and wrong password give the
/// same error after the same work; repeated failures are throttled.
pub async fn login(
    db: &Db,
    throttle: &LoginThrottle,
    client: &str,
    username: &str,
    password: &str,
) -> Result<User, ApiError> {
    if let Err(wait) = throttle.check(client, username, Instant::now()) {
        return Err(ApiError::TooManyAttempts {
            retry_after_secs: wait.as_secs().max(1),
        });
    }
    let row = if username.len() <= 64 && password.len() <= MAX_PASSWORD_BYTES {
        users::find_by_username(db, username)
            .await
            .or_internal("finding a user")?
    } else {
        None
    };
    let stored = row.as_ref().map(|r| r.password_hash.clone());
    if password::verify(stored, password.to_owned()).await {
        throttle.record_success(client, username);
        // `verify` is true only with a stored hash, so the row exists.
        row.map(to_user)
            .unwrap_or(Err(ApiError::InvalidCredentials))
    } else {
        throttle.record_failure(client, username, Instant::now());
        tracing::info!(client, "failed sign-in");
        Err(ApiError::InvalidCredentials)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_and_passwords_are_checked() {
        assert!(validate_username("ada").is_ok());
        assert!(validate_username("a.b-c_d").is_ok());
        assert!(validate_username("ab").is_err());
        assert!(validate_username("has space").is_err());
        assert!(validate_username(&"x".repeat(33)).is_err());
        assert!(validate_password("1234567").is_err());
        assert!(validate_password("12345678").is_ok());
        assert!(validate_password(&"x".repeat(MAX_PASSWORD_BYTES + 1)).is_err());
    }
}

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

pub(super) fn to_user(row: users::UserRow) -> Result<User, ApiError> {
    let id = row.id.parse::<UserId>().or_internal("stored user id")?;
    let role = row.role;
    Ok(User {
        id,
        username: row.username,
        role,
    })
}

pub(super) async fn new_row(
    username: &str,
    password: &str,
    role: Role,
) -> Result<users::UserRow, ApiError> {
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
        deactivated_at: None,
        sessions_valid_from: None,
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
/// What first-run setup needs besides a name and password: nothing from
/// this machine (whoever can reach the loopback can read the data dir);
/// from anywhere else, the one-time code printed at start-up and written
/// to `<data dir>/setup-code`, so nobody on the network can race the
/// owner to the first admin.
pub fn check_setup_code(
    from_loopback: bool,
    given: Option<&str>,
    expected: &str,
) -> Result<(), ApiError> {
    use subtle::ConstantTimeEq;
    if from_loopback {
        return Ok(());
    }
    let given = given.map(str::trim).unwrap_or("");
    if !given.is_empty() && bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::Invalid(
            "setting up from another machine needs the setup code printed in the server's log \
             (also in the data dir's setup-code file)"
                .into(),
        ))
    }
}

/// A fresh installation's setup code: `YAGURA_SETUP_CODE`, else random.
/// While setup is pending it is written to `<data dir>/setup-code` (0600)
/// and logged; once an admin exists the file is removed.
pub async fn prepare_setup_code(db: &Db, data_dir: &std::path::Path) -> anyhow::Result<String> {
    let code = std::env::var("YAGURA_SETUP_CODE")
        .ok()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| {
            let raw = uuid::Uuid::new_v4().simple().to_string();
            format!("{}-{}-{}", &raw[..4], &raw[4..8], &raw[8..12])
        });
    let file = data_dir.join("setup-code");
    if needs_setup(db).await.map_err(|e| anyhow::anyhow!("{e}"))? {
        crate::auth::secret::write_private(&file, code.as_bytes())?;
        tracing::warn!(
            "first-run setup is open: from this machine at /setup, or from elsewhere with the setup code {code} (also in {})",
            file.display()
        );
    } else {
        let _ = std::fs::remove_file(&file);
    }
    Ok(code)
}

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

/// The user with this id, if there is one and it is active (a
/// deactivated account speaks for no one).
pub async fn find_user(db: &Db, id: &str) -> Result<Option<User>, ApiError> {
    Ok(find_active(db, id).await?.map(|(user, _)| user))
}

/// An active user and the time (ms) before which their session tokens do
/// not count (0: all count).
pub async fn find_active(db: &Db, id: &str) -> Result<Option<(User, i64)>, ApiError> {
    match users::find_by_id(db, id)
        .await
        .or_internal("finding a user")?
    {
        Some(row) if row.deactivated_at.is_none() => {
            let from = row.sessions_valid_from.unwrap_or(0);
            to_user(row).map(|u| Some((u, from)))
        }
        _ => Ok(None),
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
    // Counted before the password is hashed: a parallel burst is counted
    // whole, and a locked key costs no hash.
    if let Err(wait) = throttle.attempt(client, username, Instant::now()) {
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
    let verified = password::verify(stored, password.to_owned())
        .await
        .map_err(|password::Busy| ApiError::TooManyAttempts {
            retry_after_secs: 2,
        })?;
    if verified {
        throttle.record_success(client, username);
        // `verify` is true only with a stored hash, so the row exists.
        let row = row.ok_or(ApiError::InvalidCredentials)?;
        if row.deactivated_at.is_some() {
            tracing::info!(client, "sign-in of a deactivated account");
            return Err(ApiError::Conflict(
                "this account is deactivated: ask an admin to reactivate it".into(),
            ));
        }
        if let Err(e) = crate::db::people::signed_in(db, &row.id, db::now_ms()).await {
            tracing::warn!(error = %e, "last sign-in not recorded");
        }
        to_user(row)
    } else {
        tracing::info!(client, "failed sign-in");
        Err(ApiError::InvalidCredentials)
    }
}

/// Changes `user`'s password after checking the current one (throttled
/// like a sign-in). Sessions issued before now end; the caller signs a new
/// token for the browser that asked.
pub async fn change_password(
    db: &Db,
    throttle: &LoginThrottle,
    client: &str,
    user: &User,
    current: &str,
    new: &str,
) -> Result<(), ApiError> {
    validate_password(new)?;
    if let Err(wait) = throttle.attempt(client, &user.username, Instant::now()) {
        return Err(ApiError::TooManyAttempts {
            retry_after_secs: wait.as_secs().max(1),
        });
    }
    let row = users::find_by_id(db, &user.id.to_string())
        .await
        .or_internal("finding a user")?
        .ok_or(ApiError::Unauthorized)?;
    let ok = current.len() <= MAX_PASSWORD_BYTES
        && password::verify(Some(row.password_hash), current.to_owned())
            .await
            .map_err(|password::Busy| ApiError::TooManyAttempts {
                retry_after_secs: 2,
            })?;
    if !ok {
        tracing::info!(client, user = %user.username, "password change with a wrong current password");
        return Err(ApiError::Invalid("the current password is wrong".into()));
    }
    throttle.record_success(client, &user.username);
    let hash = password::hash(new.to_owned())
        .await
        .or_internal("hashing")?;
    users::set_password(db, &user.id.to_string(), &hash, db::now_ms())
        .await
        .or_internal("changing a password")?;
    tracing::info!(user = %user.username, "password changed; other sessions ended");
    Ok(())
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

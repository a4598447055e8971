//! Runner tokens: `yrt_` and 64 hex digits, shown once, stored only as a
//! SHA-256 hash. Revoking a token disconnects every runner using it.

use app::api::ApiError;
use app::model::{NewRunnerToken, RunnerToken};
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::Runners;
use crate::db::{self, runners as store, Db};
use crate::error::OrInternal;

/// `yrt_` and 64 hex digits (32 random bytes).
fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("yrt_{}", hex::encode(bytes))
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn to_token(row: store::TokenRow) -> RunnerToken {
    RunnerToken {
        id: row.id,
        name: row.name,
        created_by: row.created_by,
        created_at: row.created_at,
        revoked_at: row.revoked_at,
        last_used_at: row.last_used_at,
    }
}

/// Creates a token straight in the store (for `yagura runner-token create`).
pub async fn create_token(
    db: &Db,
    name: &str,
    created_by: Option<&str>,
) -> Result<NewRunnerToken, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(ApiError::Invalid(
            "a token name must be 1–64 characters".into(),
        ));
    }
    let token = new_token();
    let row = store::TokenRow {
        id: uuid::Uuid::new_v4().to_string(),
        name: name.to_string(),
        token_hash: hash_token(&token),
        created_by: created_by.map(str::to_string),
        created_at: db::now_ms(),
        revoked_at: None,
        last_used_at: None,
    };
    store::insert_token(db, &row)
        .await
        .or_internal("creating a runner token")?;
    Ok(NewRunnerToken {
        info: to_token(row),
        token,
    })
}

impl Runners {
    /// The token row for a presented token, if it is valid (not revoked).
    pub async fn check_token(&self, token: &str) -> Result<store::TokenRow, ApiError> {
        let row = store::find_token_by_hash(&self.inner.db, &hash_token(token))
            .await
            .or_internal("reading runner tokens")?
            .ok_or(ApiError::Unauthorized)?;
        if row.revoked_at.is_some() {
            return Err(ApiError::Unauthorized);
        }
        let _ = store::touch_token(&self.inner.db, &row.id, db::now_ms()).await;
        Ok(row)
    }

    pub async fn create_token(
        &self,
        name: &str,
        created_by: &str,
    ) -> Result<NewRunnerToken, ApiError> {
        create_token(&self.inner.db, name, Some(created_by)).await
    }

    pub async fn tokens(&self) -> Result<Vec<RunnerToken>, ApiError> {
        Ok(store::list_tokens(&self.inner.db)
            .await
            .or_internal("listing runner tokens")?
            .into_iter()
            .map(to_token)
            .collect())
    }

    /// Revokes a token and disconnects every runner using it.
    pub async fn revoke_token(&self, id: &str) -> Result<(), ApiError> {
        let revoked = store::revoke_token(&self.inner.db, id, db::now_ms())
            .await
            .or_internal("revoking a runner token")?;
        if !revoked {
            return Err(ApiError::NotFound);
        }
        if let Ok(connected) = self.inner.connected.lock() {
            for runner in connected.values().filter(|r| r.token_id == id) {
                runner
                    .kick
                    .kick(app::protocol::close::UNAUTHORIZED, "runner token revoked");
            }
        }
        Ok(())
    }
}

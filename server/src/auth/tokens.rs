//! Session tokens: HS256 JWTs with a required expiry and a checked issuer.
//! The same token is the browser's cookie, the API's bearer token and the
//! WebSocket's `?token=`.

use std::time::Duration;

use app::api::IssuedToken;
use app::model::User;
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

pub const ISSUER: &str = "yagura";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// The username at signing time (informational; the store is the truth).
    pub name: String,
    pub iss: String,
    pub iat: i64,
    /// When it was issued, in milliseconds (tokens from before it existed
    /// have 0: their `iat` in seconds counts).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub iat_ms: i64,
    pub exp: i64,
    /// The token's id, by which signing out ends it (tokens signed before
    /// ids existed have none, and live out their 12 hours).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub jti: String,
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl TokenKeys {
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 5;
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    pub fn sign(&self, user: &User) -> jsonwebtoken::errors::Result<IssuedToken> {
        let now = Utc::now();
        let expires_at =
            now + chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::hours(12));
        let claims = Claims {
            sub: user.id.to_string(),
            name: user.username.clone(),
            iss: ISSUER.into(),
            iat: now.timestamp(),
            iat_ms: now.timestamp_millis(),
            exp: expires_at.timestamp(),
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok(IssuedToken { token, expires_at })
    }

    pub fn verify(&self, token: &str) -> jsonwebtoken::errors::Result<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map(|d| d.claims)
    }
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::{Role, UserId};

    fn user() -> User {
        User {
            id: UserId(uuid::Uuid::new_v4()),
            username: "ada".into(),
            role: Role::Admin,
        }
    }

    fn sign_raw(secret: &[u8], claims: serde_json::Value, alg: Algorithm) -> String {
        jsonwebtoken::encode(
            &Header::new(alg),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    #[test]
    fn round_trip() {
        let keys = TokenKeys::new(&[7; 32], Duration::from_secs(60));
        let u = user();
        let t = keys.sign(&u).unwrap();
        assert_eq!(keys.verify(&t.token).unwrap().sub, u.id.to_string());
    }

    #[test]
    fn rejects_expired_foreign_issuer_missing_exp_and_other_keys() {
        let keys = TokenKeys::new(&[7; 32], Duration::from_secs(60));
        let now = Utc::now().timestamp();
        let expired = sign_raw(
            &[7; 32],
            serde_json::json!({"sub":"x","iss":ISSUER,"exp":now-3600}),
            Algorithm::HS256,
        );
        let foreign = sign_raw(
            &[7; 32],
            serde_json::json!({"sub":"x","iss":"other","exp":now+3600}),
            Algorithm::HS256,
        );
        let no_exp = sign_raw(
            &[7; 32],
            serde_json::json!({"sub":"x","iss":ISSUER}),
            Algorithm::HS256,
        );
        let wrong_key = sign_raw(
            &[8; 32],
            serde_json::json!({"sub":"x","iss":ISSUER,"exp":now+3600}),
            Algorithm::HS256,
        );
        let hs512 = sign_raw(
            &[7; 32],
            serde_json::json!({"sub":"x","iss":ISSUER,"exp":now+3600}),
            Algorithm::HS512,
        );
        for bad in [
            expired,
            foreign,
            no_exp,
            wrong_key,
            hs512,
            "not.a.jwt".into(),
        ] {
            assert!(keys.verify(&bad).is_err(), "accepted {bad}");
        }
    }
}

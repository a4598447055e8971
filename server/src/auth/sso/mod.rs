//! Single sign-on with an OpenID Connect provider (Keycloak, Google,
//! Microsoft Entra, Authentik, …): the authorization code flow with PKCE
//! (S256), a state bound to the browser by a cookie, and a nonce bound to
//! the ID token. Discovery and the provider's keys are `provider`; the ID
//! token's checks are `id_token`; who a provider account is here is
//! `accounts`.
//!
//! A flow's secrets (nonce, PKCE verifier) stay on the server, in
//! `sso_flows`, keyed by the hash of the state; the browser holds the
//! state in a cookie, so a callback from another browser (a login CSRF)
//! finds no flow, and a state works once.

mod accounts;
pub mod id_token;
pub mod provider;

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use app::api::ApiError;

pub(crate) use accounts::new_row;
pub use accounts::{finish_sign_in, linked_as, role_for, unlink, Outcome};
pub use id_token::Identity;

use crate::config::SsoConfig;
use crate::db::{self, sso as store, Db};

/// How long a sign-in may take at the provider.
const FLOW_TTL_MS: i64 = 10 * 60 * 1000;
/// Sign-ins under way at once (each costs a row for ten minutes, and
/// anyone may start one).
const MAX_FLOWS: i64 = 10_000;
/// An answer from the token endpoint larger than this is refused.
const MAX_TOKEN_RESPONSE: usize = 256 * 1024;

/// Why a single sign-on failed; each has a code for `/login?error=`.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    #[error("single sign-on is not set up on this server")]
    NotConfigured,
    #[error("the identity provider failed: {0}")]
    Provider(String),
    #[error("the sign-in expired or did not start in this browser")]
    State,
    #[error("the identity provider said no: {0}")]
    Denied(String),
    #[error(transparent)]
    Token(#[from] id_token::Refused),
    #[error("no Yagura account belongs to this person")]
    NoAccount,
    #[error("this account is deactivated")]
    Deactivated,
    #[error("this single sign-on account is linked to another Yagura account")]
    Taken,
    #[error("Yagura is not set up yet: its first admin is made on the setup page")]
    NotSetUp,
    #[error("the server failed: {0}")]
    Internal(String),
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl SsoError {
    /// The code the login page turns into a sentence.
    pub fn code(&self) -> &'static str {
        match self {
            SsoError::NotConfigured => "sso_not_configured",
            SsoError::Provider(_) => "sso_provider",
            SsoError::State => "sso_state",
            SsoError::Denied(_) => "sso_denied",
            SsoError::Token(_) => "sso_token",
            SsoError::NoAccount => "sso_no_account",
            SsoError::Deactivated => "sso_deactivated",
            SsoError::Taken => "sso_taken",
            SsoError::NotSetUp => "sso_not_set_up",
            SsoError::Internal(_) => "internal",
            SsoError::Api(ApiError::Conflict(_)) => "sso_invitation",
            SsoError::Api(ApiError::NotFound) => "sso_invitation",
            SsoError::Api(_) => "internal",
        }
    }
}

/// What a sign-in is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// Signing in (an account may be made, by the configured rule).
    SignIn,
    /// The signed-in person `user_id` links their provider account.
    Link { user_id: String },
    /// Joining with the invitation whose secret hashes to this.
    Invite { invitation_hash: String },
}

/// A sign-in the provider confirmed.
#[derive(Debug, Clone)]
pub struct Confirmed {
    pub purpose: Purpose,
    pub next: String,
    pub identity: Identity,
}

/// The client of one OpenID provider.
pub struct Sso {
    config: SsoConfig,
    issuer: String,
    http: reqwest::Client,
    provider: provider::Cache,
}

/// What the provider sends back to the callback.
#[derive(Debug, Default, Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

fn random_b64(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// `application/x-www-form-urlencoded` of one value.
fn form(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl Sso {
    /// The client for `config`, or None when no issuer is set.
    pub fn new(config: &SsoConfig) -> anyhow::Result<Option<Sso>> {
        let Some(issuer) = config.issuer.clone() else {
            return Ok(None);
        };
        if !provider::acceptable_url(&issuer) {
            anyhow::bail!("--oidc-issuer must be an https:// URL (http:// only to this machine), not {issuer:?}");
        }
        if config.client_id.trim().is_empty() {
            anyhow::bail!("--oidc-issuer needs --oidc-client-id");
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            // The provider's endpoints are used as discovery names them.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("yagura/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Some(Sso {
            config: config.clone(),
            provider: provider::Cache::new(issuer.clone(), http.clone()),
            issuer: issuer.trim_end_matches('/').to_string(),
            http,
        }))
    }

    /// The button's words: "Sign in with <name>".
    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn config(&self) -> &SsoConfig {
        &self.config
    }

    /// Starts a sign-in: answers where to send the browser and the state
    /// to keep in its cookie.
    pub async fn start(
        &self,
        db: &Db,
        redirect_uri: &str,
        purpose: Purpose,
        next: &str,
    ) -> Result<(String, String), SsoError> {
        let provider = self.provider.get().await?;
        let state = random_b64(32);
        let nonce = random_b64(32);
        let verifier = random_b64(32);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let now = db::now_ms();
        let (purpose_name, user_id, invitation_hash) = match &purpose {
            Purpose::SignIn => ("sign_in", None, None),
            Purpose::Link { user_id } => ("link", Some(user_id.clone()), None),
            Purpose::Invite { invitation_hash } => ("invite", None, Some(invitation_hash.clone())),
        };
        let stored = store::insert_flow(
            db,
            &store::FlowRow {
                state_hash: super::api_keys::hash(&state),
                nonce: nonce.clone(),
                verifier,
                next_path: next.to_string(),
                purpose: purpose_name.into(),
                user_id,
                invitation_hash,
                expires_at: now + FLOW_TTL_MS,
            },
            now,
            MAX_FLOWS,
        )
        .await
        .map_err(|e| SsoError::Internal(format!("cannot keep the sign-in: {e}")))?;
        if !stored {
            return Err(SsoError::Provider(
                "too many sign-ins are under way; try again in a few minutes".into(),
            ));
        }
        let mut scopes = vec!["openid".to_string()];
        scopes.extend(
            self.config
                .scopes
                .iter()
                .filter(|s| s.as_str() != "openid")
                .cloned(),
        );
        let endpoint = &provider.metadata.authorization_endpoint;
        let to = format!(
            "{endpoint}{}response_type=code&client_id={}&redirect_uri={}&scope={}&state={}&nonce={}&code_challenge={}&code_challenge_method=S256",
            if endpoint.contains('?') { '&' } else { '?' },
            form(&self.config.client_id),
            form(redirect_uri),
            form(&scopes.join(" ")),
            form(&state),
            form(&nonce),
            form(&challenge),
        );
        Ok((to, state))
    }

    /// Finishes a sign-in at the callback: the state must be the one this
    /// browser holds (`cookie`) and a flow still under way; the code is
    /// exchanged (with the PKCE verifier) for an ID token, which is
    /// checked. Answers who signed in and what for.
    pub async fn finish(
        &self,
        db: &Db,
        redirect_uri: &str,
        cookie: Option<&str>,
        callback: Callback,
    ) -> Result<Confirmed, SsoError> {
        let state = callback.state.as_deref().unwrap_or("");
        let cookie = cookie.unwrap_or("");
        use subtle::ConstantTimeEq;
        if state.is_empty()
            || state.len() != cookie.len()
            || !bool::from(state.as_bytes().ct_eq(cookie.as_bytes()))
        {
            return Err(SsoError::State);
        }
        // Taken out whatever follows: a state works once.
        let flow = store::take_flow(db, &super::api_keys::hash(state), db::now_ms())
            .await
            .map_err(|e| SsoError::Internal(format!("cannot read the sign-in: {e}")))?
            .ok_or(SsoError::State)?;
        if let Some(error) = callback.error {
            let detail = callback.error_description.unwrap_or_default();
            return Err(SsoError::Denied(
                format!("{error} {detail}")
                    .trim()
                    .chars()
                    .take(200)
                    .collect(),
            ));
        }
        let code = callback.code.filter(|c| !c.is_empty()).ok_or_else(|| {
            SsoError::Provider("the provider sent neither a code nor an error".into())
        })?;
        let provider = self.provider.get().await?;
        let id_token = self
            .exchange(&provider, redirect_uri, &code, &flow.verifier)
            .await?;
        let now = jsonwebtoken::get_current_timestamp();
        let check = |p: &provider::Provider| {
            id_token::check(
                &id_token,
                p,
                &self.config.client_id,
                &flow.nonce,
                &self.config.groups_claim,
                now,
            )
        };
        let identity = match check(&provider) {
            // Keys rotated since they were fetched: once more, fresh.
            Err(id_token::Refused::UnknownKey) => check(&*self.provider.refresh_keys().await?)?,
            other => other?,
        };
        let purpose = match flow.purpose.as_str() {
            "link" => Purpose::Link {
                user_id: flow.user_id.unwrap_or_default(),
            },
            "invite" => Purpose::Invite {
                invitation_hash: flow.invitation_hash.unwrap_or_default(),
            },
            _ => Purpose::SignIn,
        };
        Ok(Confirmed {
            purpose,
            next: flow.next_path,
            identity,
        })
    }

    /// The authorization code for an ID token, at the token endpoint.
    async fn exchange(
        &self,
        provider: &provider::Provider,
        redirect_uri: &str,
        code: &str,
        verifier: &str,
    ) -> Result<String, SsoError> {
        let mut body = format!(
            "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={}",
            form(code),
            form(redirect_uri),
            form(verifier)
        );
        let mut request = self
            .http
            .post(&provider.metadata.token_endpoint)
            .header(http::header::ACCEPT, "application/json")
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            );
        let methods = &provider.metadata.token_endpoint_auth_methods_supported;
        match &self.config.client_secret {
            // client_secret_basic is the default; _post when it is all
            // the provider takes.
            Some(secret)
                if !methods.is_empty()
                    && !methods.iter().any(|m| m == "client_secret_basic")
                    && methods.iter().any(|m| m == "client_secret_post") =>
            {
                body.push_str(&format!(
                    "&client_id={}&client_secret={}",
                    form(&self.config.client_id),
                    form(secret)
                ));
            }
            Some(secret) => {
                // RFC 6749 §2.3.1: each part form-encoded, then Basic.
                let pair = format!("{}:{}", form(&self.config.client_id), form(secret));
                request = request.header(
                    http::header::AUTHORIZATION,
                    format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode(pair)
                    ),
                );
            }
            None => body.push_str(&format!("&client_id={}", form(&self.config.client_id))),
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|e| SsoError::Provider(format!("cannot reach the token endpoint: {e}")))?;
        let status = response.status();
        let answer = provider::read_limited(response, MAX_TOKEN_RESPONSE)
            .await
            .map_err(|e| SsoError::Provider(format!("the token endpoint: {e}")))?;
        #[derive(Deserialize)]
        struct TokenAnswer {
            id_token: Option<String>,
            error: Option<String>,
            error_description: Option<String>,
        }
        let parsed: TokenAnswer = serde_json::from_slice(&answer).map_err(|_| {
            SsoError::Provider(format!("the token endpoint answered {status} with no JSON"))
        })?;
        if let Some(error) = parsed.error {
            return Err(SsoError::Provider(format!(
                "the token endpoint refused the code: {error} {}",
                parsed.error_description.unwrap_or_default()
            )));
        }
        if !status.is_success() {
            return Err(SsoError::Provider(format!(
                "the token endpoint answered {status}"
            )));
        }
        parsed
            .id_token
            .ok_or_else(|| SsoError::Provider("the token endpoint sent no ID token".into()))
    }

    /// The issuer people are matched at (as configured, without a
    /// trailing slash; discovery confirms it is the provider's).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
}

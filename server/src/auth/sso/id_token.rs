//! Checking an ID token as OpenID Connect Core 1.0 §3.1.3.7 asks: signed
//! by one of the provider's published keys with an asymmetric algorithm it
//! announces (never `none`, never an HMAC), issued by the discovered
//! issuer, for this client (`aud`, and `azp` when there are several
//! audiences), not expired, not issued in the future, and carrying the
//! nonce this browser's sign-in sent. The signature and the standard
//! claims are checked by `jsonwebtoken`.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::provider::Provider;

/// Clock skew tolerated between the provider and this server (seconds).
const LEEWAY: u64 = 60;

/// Who the provider says signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub subject: String,
    pub email: Option<String>,
    /// Whether the provider says it verified the address.
    pub email_verified: bool,
    pub preferred_username: Option<String>,
    pub name: Option<String>,
    pub groups: Vec<String>,
}

/// Why an ID token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the ID token is not a signed JWT")]
    Malformed,
    #[error("the ID token is signed with {0}, which is not accepted")]
    Algorithm(String),
    /// The token names a key the provider does not publish (the caller
    /// fetches the keys again once).
    #[error("the ID token names a key the provider does not publish")]
    UnknownKey,
    #[error("the ID token's signature is not the provider's")]
    Signature,
    #[error("the ID token was issued by someone else")]
    Issuer,
    #[error("the ID token is for another client")]
    Audience,
    #[error("the ID token has expired")]
    Expired,
    #[error("the ID token was issued in the future")]
    NotYetValid,
    #[error("the ID token was not made for this sign-in (nonce)")]
    Nonce,
    #[error("the ID token lacks the claim {0}")]
    Missing(String),
}

/// The asymmetric algorithms accepted, when the provider announces none.
const DEFAULT_ALGORITHMS: &[Algorithm] = &[Algorithm::RS256];
const ASYMMETRIC: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// The algorithms this client accepts from this provider: the asymmetric
/// ones it announces, else RS256 (the specification's default).
fn accepted(provider: &Provider) -> Vec<Algorithm> {
    let announced = &provider.metadata.id_token_signing_alg_values_supported;
    if announced.is_empty() {
        return DEFAULT_ALGORITHMS.to_vec();
    }
    announced
        .iter()
        .filter_map(|a| a.parse::<Algorithm>().ok())
        .filter(|a| ASYMMETRIC.contains(a))
        .collect()
}

/// The published key that signed a token: the one with its `kid`, else
/// (no `kid`) the only signing key that fits the algorithm.
fn key_for<'a>(provider: &'a Provider, kid: Option<&str>, alg: Algorithm) -> Option<&'a Jwk> {
    let fits = |jwk: &&Jwk| {
        let family_fits = matches!(
            (&jwk.algorithm, alg.family()),
            (
                AlgorithmParameters::RSA(_),
                jsonwebtoken::AlgorithmFamily::Rsa
            ) | (
                AlgorithmParameters::EllipticCurve(_),
                jsonwebtoken::AlgorithmFamily::Ec
            ) | (
                AlgorithmParameters::OctetKeyPair(_),
                jsonwebtoken::AlgorithmFamily::Ed
            )
        );
        let for_signing = matches!(
            jwk.common.public_key_use,
            None | Some(PublicKeyUse::Signature)
        );
        let alg_fits = jwk
            .common
            .key_algorithm
            .is_none_or(|k| k.to_string().parse::<Algorithm>().ok() == Some(alg));
        family_fits && for_signing && alg_fits
    };
    match kid {
        Some(kid) => provider
            .keys
            .keys
            .iter()
            .filter(|k| k.common.key_id.as_deref() == Some(kid))
            .find(fits),
        None => {
            let mut candidates = provider.keys.keys.iter().filter(fits);
            match (candidates.next(), candidates.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            }
        }
    }
}

/// Checks `token` and answers who it says signed in. `now` is Unix
/// seconds.
pub fn check(
    token: &str,
    provider: &Provider,
    client_id: &str,
    nonce: &str,
    groups_claim: &str,
    now: u64,
) -> Result<Identity, Refused> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| Refused::Malformed)?;
    let accepted = accepted(provider);
    if !accepted.contains(&header.alg) {
        return Err(Refused::Algorithm(format!("{:?}", header.alg)));
    }
    let jwk = key_for(provider, header.kid.as_deref(), header.alg).ok_or(Refused::UnknownKey)?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| Refused::UnknownKey)?;
    let mut validation = Validation::new(header.alg);
    validation.leeway = LEEWAY;
    validation.validate_nbf = true;
    validation.set_issuer(&[provider.metadata.issuer.as_str()]);
    validation.set_audience(&[client_id]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => Refused::Signature,
            ErrorKind::InvalidIssuer => Refused::Issuer,
            ErrorKind::InvalidAudience => Refused::Audience,
            ErrorKind::ExpiredSignature => Refused::Expired,
            ErrorKind::ImmatureSignature => Refused::NotYetValid,
            ErrorKind::MissingRequiredClaim(c) => Refused::Missing(c.clone()),
            ErrorKind::InvalidAlgorithm => Refused::Algorithm(format!("{:?}", header.alg)),
            _ => Refused::Malformed,
        })?
        .claims;
    // Several audiences: the one it was issued to must be us.
    if let Some(Value::Array(auds)) = claims.get("aud") {
        if auds.len() > 1 && claims.get("azp").and_then(Value::as_str) != Some(client_id) {
            return Err(Refused::Audience);
        }
    }
    if let Some(azp) = claims.get("azp").and_then(Value::as_str) {
        if azp != client_id {
            return Err(Refused::Audience);
        }
    }
    match claims.get("iat").and_then(Value::as_u64) {
        Some(iat) if iat <= now + LEEWAY => {}
        Some(_) => return Err(Refused::NotYetValid),
        None => return Err(Refused::Missing("iat".into())),
    }
    let sent = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
    use subtle::ConstantTimeEq;
    if sent.len() != nonce.len() || !bool::from(sent.as_bytes().ct_eq(nonce.as_bytes())) {
        return Err(Refused::Nonce);
    }
    let text = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let subject = text("sub").ok_or_else(|| Refused::Missing("sub".into()))?;
    if subject.len() > 255 {
        return Err(Refused::Malformed);
    }
    let groups = match claims.get(groups_claim) {
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    };
    Ok(Identity {
        subject,
        // An address the provider did not verify is not kept.
        email_verified: matches!(claims.get("email_verified"), Some(Value::Bool(true)))
            || claims.get("email_verified").and_then(Value::as_str) == Some("true"),
        email: text("email").filter(|_| {
            !matches!(claims.get("email_verified"), Some(Value::Bool(false)))
                && claims.get("email_verified").and_then(Value::as_str) != Some("false")
        }),
        preferred_username: text("preferred_username"),
        name: text("name"),
        groups,
    })
}

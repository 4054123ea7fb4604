//! Bearer JWT verification. jsonwebtoken checks the signature; the claims (`exp`, `nbf`, `iss`,
//! `aud`) are checked here against a `now` the caller passes in, because in the filter time comes
//! from the host, and tests use a fixed clock.

pub mod cache;
pub mod envoy;
pub mod jwks;
pub mod keys;
pub mod verifier;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use thiserror::Error;

use crate::identity::{Identity, is_agent_subject, is_user_subject, user_subject};
use cache::Entry;
pub use cache::VerifiedCache;
pub use keys::{KeyError, KeySet, VerifyKey};

/// Longest accepted token.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Who issues a token, and so whose keys verify it: the agents' issuer, or the OAuth
/// authorization server people sign in with. Each has its own JWKS to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    Agents,
    OAuth,
}

/// How tokens are checked, from the `jwt` section of the configuration.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub algorithms: Vec<Algorithm>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub leeway: u64,
    pub require_kid: bool,
    /// Tokens of people (an OAuth authorization server's): the claim naming them, mapped to a
    /// `user.` subject. `None`: an agent's token, whose `sub` is the subject itself.
    pub user_claim: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JwtError {
    #[error("the token is too large")]
    TooLarge,
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's algorithm is not accepted")]
    AlgorithmNotAllowed,
    #[error("the token has no key id")]
    MissingKid,
    #[error("the token's key id is unknown")]
    UnknownKid(String),
    #[error("no verification keys are available")]
    NoKeys,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token has no expiry")]
    MissingExpiry,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token's issuer is not accepted")]
    WrongIssuer,
    #[error("the token's audience is not accepted")]
    WrongAudience,
    #[error("the token's subject is missing or invalid")]
    BadSubject,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    exp: Option<f64>,
    nbf: Option<f64>,
    iss: Option<String>,
    aud: Option<OneOrMany>,
    /// OAuth 2.0 style: space-separated.
    scope: Option<String>,
    /// Azure AD / Okta style: array or space-separated string.
    scp: Option<OneOrMany>,
    scopes: Option<OneOrMany>,
}

/// Verifies `token` against `keys` and returns who it names.
pub fn verify(
    token: &str,
    keys: &KeySet,
    settings: &JwtSettings,
    now: u64,
) -> Result<Identity, JwtError> {
    verify_token(token, keys, settings, now).map(|entry| entry.identity)
}

/// [`verify`], answered from `cache` when these exact token bytes were verified before with
/// the same keys and are still within their validity.
pub fn verify_cached(
    token: &str,
    keys: &KeySet,
    settings: &JwtSettings,
    cache: &VerifiedCache,
    now: u64,
) -> Result<Identity, JwtError> {
    if !cache.accepts(token) {
        return verify(token, keys, settings, now);
    }
    if let Some(entry) = cache.get(token, keys.generation()) {
        return match check_times(entry.exp, entry.nbf, settings, now) {
            Ok(()) => Ok(entry.identity),
            Err(e) => {
                cache.forget(token);
                Err(e)
            }
        };
    }
    let entry = verify_token(token, keys, settings, now)?;
    cache.insert(token, keys.generation(), entry.clone());
    Ok(entry.identity)
}

fn verify_token(
    token: &str,
    keys: &KeySet,
    settings: &JwtSettings,
    now: u64,
) -> Result<Entry, JwtError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(JwtError::TooLarge);
    }
    // `alg: none` and unknown algorithms fail here: jsonwebtoken has no such variants.
    // `jku`, `x5u` and `jwk` header fields are never looked at: keys come only from `keys`.
    let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
    if !settings.algorithms.contains(&header.alg) {
        return Err(JwtError::AlgorithmNotAllowed);
    }
    if settings.require_kid && header.kid.is_none() {
        return Err(JwtError::MissingKid);
    }
    if keys.is_empty() {
        return Err(JwtError::NoKeys);
    }
    let candidates: Vec<&VerifyKey> = keys
        .keys
        .iter()
        .filter(|k| k.algorithm == header.alg)
        .filter(|k| header.kid.is_none() || k.kid == header.kid)
        .collect();
    if candidates.is_empty() {
        return Err(match header.kid {
            Some(kid) if !keys.has_kid(&kid) => JwtError::UnknownKid(kid),
            // The kid exists, but for another algorithm: the confusion case.
            _ => JwtError::AlgorithmNotAllowed,
        });
    }

    // The signature covers everything before the last '.'; exactly three segments.
    let (signing_input, signature) = token.rsplit_once('.').ok_or(JwtError::Malformed)?;
    if signing_input.matches('.').count() != 1 {
        return Err(JwtError::Malformed);
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| JwtError::Malformed)?;
    if !candidates
        .iter()
        .any(|key| key.verifier.verify(signing_input.as_bytes(), &signature))
    {
        return Err(JwtError::BadSignature);
    }
    // Only now, over the bytes just verified, are the claims read.
    let mut claims = jsonwebtoken::dangerous::insecure_decode_claims::<Claims>(token)
        .map_err(|_| JwtError::Malformed)?;
    if let Some(claim) = &settings.user_claim {
        let named = if claim == "sub" {
            claims.sub.take()
        } else {
            jsonwebtoken::dangerous::insecure_decode_claims::<
                serde_json::Map<String, serde_json::Value>,
            >(token)
            .map_err(|_| JwtError::Malformed)?
            .remove(claim)
            .and_then(|value| value.as_str().map(str::to_string))
        };
        claims.sub = Some(
            named
                .and_then(|n| user_subject(&n))
                .ok_or(JwtError::BadSubject)?,
        );
    }
    check_claims(claims, settings, now)
}

/// The `iss` a token claims, read without verifying anything: only to choose which issuer's
/// keys and rules verify it (which then check `iss` again, over verified bytes).
pub fn claimed_issuer(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Issuer {
        iss: Option<String>,
    }
    if token.len() > MAX_TOKEN_BYTES {
        return None;
    }
    jsonwebtoken::dangerous::insecure_decode_claims::<Issuer>(token)
        .ok()?
        .iss
}

fn check_times(
    exp: f64,
    nbf: Option<f64>,
    settings: &JwtSettings,
    now: u64,
) -> Result<(), JwtError> {
    let now = now as f64;
    let leeway = settings.leeway as f64;
    if now > exp + leeway {
        return Err(JwtError::Expired);
    }
    if nbf.is_some_and(|nbf| now + leeway < nbf) {
        return Err(JwtError::NotYetValid);
    }
    Ok(())
}

fn check_claims(claims: Claims, settings: &JwtSettings, now: u64) -> Result<Entry, JwtError> {
    let exp = claims.exp.ok_or(JwtError::MissingExpiry)?;
    check_times(exp, claims.nbf, settings, now)?;
    if let Some(issuer) = &settings.issuer
        && claims.iss.as_deref() != Some(issuer.as_str())
    {
        return Err(JwtError::WrongIssuer);
    }
    if let Some(audience) = &settings.audience {
        let audiences = claims.aud.map(OneOrMany::into_vec).unwrap_or_default();
        if !audiences.iter().any(|a| a == audience) {
            return Err(JwtError::WrongAudience);
        }
    }
    // An agents' issuer never names a person, nor the authorization server an agent.
    let subject = claims
        .sub
        .filter(|s| match settings.user_claim {
            None => is_agent_subject(s),
            Some(_) => is_user_subject(s),
        })
        .ok_or(JwtError::BadSubject)?;
    let scopes = claims
        .scope
        .into_iter()
        .chain(claims.scp.into_iter().flat_map(OneOrMany::into_vec))
        .chain(claims.scopes.into_iter().flat_map(OneOrMany::into_vec))
        .flat_map(|s| {
            s.split_ascii_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        });
    Ok(Entry {
        identity: Identity::new(subject, scopes),
        exp,
        nbf: claims.nbf,
    })
}

#[cfg(test)]
mod tests;

//! JWTs: algorithms, issuer and audience, and where the keys come from (an HS256 secret, an
//! inline JWKS, a JWKS fetched from an Envoy cluster, or Envoy's `jwt_authn` in front).

use std::sync::Arc;

use jsonwebtoken::Algorithm;
use serde::Deserialize;

use super::{ConfigError, SecretConfig, defaults, resolve};
use crate::jwt::jwks::Schedule;
use crate::jwt::{JwtSettings, KeySet, VerifiedCache};
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// Accepted algorithms (`HS256`, `RS256`, `ES256`).
    #[serde(default = "defaults::algorithms")]
    pub algorithms: Vec<String>,
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub audience: Option<String>,
    /// `JWT_VALIDATE_ISSUER`: when true, `issuer` is required and checked.
    #[serde(default = "defaults::yes")]
    pub validate_issuer: bool,
    /// `JWT_VALIDATE_AUDIENCE`: when true, `audience` is required and checked.
    #[serde(default = "defaults::yes")]
    pub validate_audience: bool,
    #[serde(default = "defaults::leeway")]
    pub leeway_seconds: u64,
    #[serde(default)]
    pub require_kid: bool,
    /// Verified tokens remembered per VM (0: none), so a repeated token is verified once.
    #[serde(default = "defaults::verified_cache")]
    pub verified_cache_size: usize,
    /// HS256 shared secret (at least 32 bytes).
    #[serde(default)]
    pub hs256_secret: Option<SecretConfig>,
    #[serde(default)]
    pub hs256_kid: Option<String>,
    /// Inline JWKS document.
    #[serde(default)]
    pub jwks: Option<serde_json::Value>,
    /// JWKS fetched from an Envoy cluster.
    #[serde(default)]
    pub jwks_remote: Option<JwksRemoteConfig>,
    /// Asymmetric tokens verified by Envoy's `jwt_authn` before this filter (see `jwt::envoy`).
    #[serde(default)]
    pub envoy_jwt_authn: Option<EnvoyJwtAuthnConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvoyJwtAuthnConfig {
    /// The providers' `payload_in_metadata` value.
    pub payload_in_metadata: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwksRemoteConfig {
    /// Envoy cluster serving the JWKS.
    pub cluster: String,
    /// `:authority` of the fetch.
    pub authority: String,
    pub path: String,
    /// `JWT_JWKS_CACHE_SECONDS`.
    #[serde(default = "defaults::jwks_cache")]
    pub cache_seconds: u64,
    /// Minimum time between fetches (unknown `kid`s included).
    #[serde(default = "defaults::jwks_cooldown")]
    pub cooldown_seconds: u64,
    #[serde(default = "defaults::jwks_timeout")]
    pub timeout_ms: u64,
}

#[derive(Debug, Clone)]
pub struct JwtPolicy {
    pub settings: JwtSettings,
    /// HS256 secret and inline JWKS keys.
    pub static_keys: KeySet,
    pub remote: Option<RemoteJwks>,
    /// `payload_in_metadata` of the `jwt_authn` providers that verify tokens for this filter.
    pub envoy_payload_key: Option<String>,
    /// Shared by the clones of this policy (the standalone backend's workers).
    pub cache: Arc<VerifiedCache>,
}

#[derive(Debug, Clone)]
pub struct RemoteJwks {
    pub cluster: String,
    pub authority: String,
    pub path: String,
    pub schedule: Schedule,
    pub timeout_ms: u64,
}

pub(super) fn policy(
    config: JwtConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<JwtPolicy, ConfigError> {
    let invalid = |m: String| ConfigError::Invalid(format!("jwt: {m}"));
    let mut algorithms = Vec::new();
    for name in &config.algorithms {
        algorithms.push(match name.as_str() {
            "HS256" => Algorithm::HS256,
            "RS256" => Algorithm::RS256,
            "ES256" => Algorithm::ES256,
            other => return Err(invalid(format!("algorithm {other:?} is not supported"))),
        });
    }
    let issuer = match (config.validate_issuer, config.issuer) {
        (true, None) => return Err(invalid("validate_issuer needs an issuer".into())),
        (true, issuer) => issuer,
        (false, _) => None,
    };
    let audience = match (config.validate_audience, config.audience) {
        (true, None) => return Err(invalid("validate_audience needs an audience".into())),
        (true, audience) => audience,
        (false, _) => None,
    };
    let mut static_keys = KeySet::default();
    if let Some(secret) = config.hs256_secret {
        let secret = resolve("jwt.hs256_secret", secret, env)?;
        static_keys.extend(
            KeySet::hs256(secret.as_bytes(), config.hs256_kid)
                .map_err(|e| invalid(e.to_string()))?,
        );
    }
    if let Some(jwks) = config.jwks {
        static_keys.extend(
            KeySet::from_jwks(jwks.to_string().as_bytes()).map_err(|e| invalid(e.to_string()))?,
        );
    }
    let remote = config.jwks_remote.map(|r| RemoteJwks {
        schedule: Schedule {
            cache_seconds: r.cache_seconds,
            cooldown_seconds: r.cooldown_seconds,
        },
        cluster: r.cluster,
        authority: r.authority,
        path: r.path,
        timeout_ms: r.timeout_ms,
    });
    let envoy_payload_key = config.envoy_jwt_authn.map(|e| e.payload_in_metadata);
    if envoy_payload_key.as_deref().is_some_and(str::is_empty) {
        return Err(invalid(
            "envoy_jwt_authn.payload_in_metadata is empty".into(),
        ));
    }
    if static_keys.is_empty() && remote.is_none() && envoy_payload_key.is_none() {
        return Err(invalid(
            "no keys: set hs256_secret, jwks, jwks_remote or envoy_jwt_authn".into(),
        ));
    }
    Ok(JwtPolicy {
        settings: JwtSettings {
            algorithms,
            issuer,
            audience,
            leeway: config.leeway_seconds,
            require_kid: config.require_kid,
            user_claim: None,
        },
        static_keys,
        remote,
        envoy_payload_key,
        cache: Arc::new(VerifiedCache::new(config.verified_cache_size)),
    })
}

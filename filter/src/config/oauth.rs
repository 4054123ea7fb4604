//! People signed in through an OAuth 2.1 authorization server (the MCP authorization
//! specification): its access tokens are JWTs with its own issuer, keys and the resource as
//! audience (RFC 8707, RFC 9068); the subject comes from a configurable claim, mapped into the
//! `user.` names (see [`crate::identity::user_subject`]), and the registry decides whether that
//! person may come in and with which scopes.

use serde::Deserialize;

use super::jwt::{self, JwksRemoteConfig, JwtConfig, JwtPolicy};
use super::{ConfigError, defaults};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    /// The authorization server's `issuer`, exactly as its metadata spells it.
    pub issuer: String,
    /// The audience its tokens must name: this resource. Defaults to `resource_metadata.resource`.
    #[serde(default)]
    pub audience: Option<String>,
    /// RS256 and ES256 only: a shared secret has no place between two parties.
    #[serde(default = "defaults::oauth_algorithms")]
    pub algorithms: Vec<String>,
    #[serde(default = "defaults::leeway")]
    pub leeway_seconds: u64,
    #[serde(default = "defaults::verified_cache")]
    pub verified_cache_size: usize,
    /// Inline JWKS (tests, the standalone backend).
    #[serde(default)]
    pub jwks: Option<serde_json::Value>,
    /// The server's `jwks_uri`, fetched through an Envoy cluster.
    #[serde(default)]
    pub jwks_remote: Option<JwksRemoteConfig>,
    /// The claim naming the person (`sub`; e.g. `oid` for Entra ID).
    #[serde(default = "defaults::subject_claim")]
    pub subject_claim: String,
}

#[derive(Debug, Clone)]
pub struct OAuthPolicy {
    /// Issuer, audience, keys; its settings carry the subject claim, so what it verifies is a
    /// `user.` subject.
    pub jwt: JwtPolicy,
    pub issuer: String,
}

pub(super) fn policy(
    config: OAuthConfig,
    resource: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<OAuthPolicy, ConfigError> {
    let invalid = |m: &str| ConfigError::Invalid(format!("oauth: {m}"));
    if config.algorithms.iter().any(|a| a == "HS256") {
        return Err(invalid(
            "HS256 is not accepted from an authorization server",
        ));
    }
    if config.subject_claim.is_empty() {
        return Err(invalid("subject_claim is empty"));
    }
    if config.jwks.is_none() && config.jwks_remote.is_none() {
        return Err(invalid("no keys: set jwks_remote (or jwks)"));
    }
    let audience = config
        .audience
        .or_else(|| resource.map(str::to_string))
        .ok_or_else(|| invalid("set audience (or resource_metadata.resource)"))?;
    let mut jwt = jwt::policy(
        JwtConfig {
            algorithms: config.algorithms,
            issuer: Some(config.issuer.clone()),
            audience: Some(audience),
            validate_issuer: true,
            validate_audience: true,
            leeway_seconds: config.leeway_seconds,
            require_kid: false,
            verified_cache_size: config.verified_cache_size,
            hs256_secret: None,
            hs256_kid: None,
            jwks: config.jwks,
            jwks_remote: config.jwks_remote,
            envoy_jwt_authn: None,
        },
        env,
    )
    .map_err(|e| invalid(e.to_string().trim_start_matches("jwt: ")))?;
    jwt.settings.user_claim = Some(config.subject_claim);
    Ok(OAuthPolicy {
        jwt,
        issuer: config.issuer,
    })
}

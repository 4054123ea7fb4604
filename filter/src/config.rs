//! The filter's configuration: the JSON document Envoy hands to `on_configure`, parsed strictly
//! once and converted into a [`Policy`] that cannot be invalid. Secrets may come from the VM's
//! environment (`vm_config.environment_variables`) instead of the YAML.

use std::collections::BTreeMap;
use std::sync::Arc;

use jsonwebtoken::Algorithm;
use serde::Deserialize;
use thiserror::Error;

use crate::apikey::{ApiKeyStore, KeyDigest};
use crate::assertion::AssertionKey;
use crate::identity::{Identity, is_valid_subject};
use crate::jwt::jwks::Schedule;
use crate::jwt::{JwtSettings, KeySet, VerifiedCache};
use crate::mtls::{MtlsPolicy, MtlsSource};
use crate::ratelimit::{Limit, Limiter};
use crate::scopes::{RouteRule, default_routes};

/// The plugin configuration as written in `envoy.yaml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    /// Request header that carries an API key.
    #[serde(default = "defaults::api_key_header")]
    pub api_key_header: String,
    /// Accepted API keys, by the SHA-256 of the key (never the key itself).
    #[serde(default)]
    pub api_keys: Vec<ApiKeyConfig>,
    #[serde(default)]
    pub jwt: Option<JwtConfig>,
    #[serde(default)]
    pub mtls: Option<MtlsConfig>,
    /// Route → scope table; the seed's routes when absent.
    #[serde(default)]
    pub routes: Option<Vec<RouteRule>>,
    #[serde(default)]
    pub mcp: McpConfig,
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
    /// Key of the `x-agent-assertion` HMAC, shared with the backend.
    #[serde(default)]
    pub assertion_key: Option<SecretConfig>,
    /// RFC 9728 protected-resource metadata, served by the filter.
    #[serde(default)]
    pub resource_metadata: Option<ResourceMetadataConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// Hex SHA-256 of the key: `printf %s "$KEY" | sha256sum`.
    pub sha256: String,
    pub subject: String,
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// A secret: the name of a VM environment variable holding it, or (discouraged) the value.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretConfig {
    #[serde(default)]
    pub env: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
}

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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MtlsConfig {
    pub source: MtlsSource,
    #[serde(default)]
    pub cn_prefix: String,
    /// Subject (CN without prefix) → scopes.
    pub identities: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpConfig {
    /// Path of the MCP endpoint (and its sub-paths).
    #[serde(default = "defaults::mcp_path")]
    pub path: String,
    /// Largest JSON-RPC body read to find the tool (older revisions); larger → 413.
    #[serde(default = "defaults::mcp_max_body")]
    pub max_body_bytes: usize,
}

impl Default for McpConfig {
    fn default() -> Self {
        Self {
            path: defaults::mcp_path(),
            max_body_bytes: defaults::mcp_max_body(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    #[serde(default = "defaults::yes")]
    pub enabled: bool,
    /// `RATE_LIMIT_REQUESTS` per `RATE_LIMIT_WINDOW_SECONDS`, per subject.
    #[serde(default = "defaults::rate_requests")]
    pub requests: u32,
    #[serde(default = "defaults::rate_window")]
    pub per_seconds: u32,
    /// Per-subject overrides of the default.
    #[serde(default)]
    pub subjects: BTreeMap<String, Limit>,
    /// Extra per-subject buckets for individual MCP tools.
    #[serde(default)]
    pub tools: BTreeMap<String, Limit>,
    /// Size of the shared slot table: the most buckets active at once.
    #[serde(default = "defaults::rate_slots")]
    pub slots: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        serde_json::from_str("{}").expect("defaults")
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceMetadataConfig {
    /// The protected resource's identifier, e.g. `https://bridge.example/mcp`.
    pub resource: String,
    #[serde(default)]
    pub authorization_servers: Vec<String>,
}

mod defaults {
    pub fn api_key_header() -> String {
        "x-api-key".into()
    }
    pub fn yes() -> bool {
        true
    }
    pub fn algorithms() -> Vec<String> {
        vec!["RS256".into(), "ES256".into(), "HS256".into()]
    }
    pub fn verified_cache() -> usize {
        crate::jwt::cache::DEFAULT_CAPACITY
    }
    pub fn leeway() -> u64 {
        30
    }
    pub fn jwks_cache() -> u64 {
        300
    }
    pub fn jwks_cooldown() -> u64 {
        30
    }
    pub fn jwks_timeout() -> u64 {
        2000
    }
    pub fn mcp_path() -> String {
        "/mcp".into()
    }
    pub fn mcp_max_body() -> usize {
        1024 * 1024
    }
    pub fn rate_requests() -> u32 {
        60
    }
    pub fn rate_window() -> u32 {
        60
    }
    pub fn rate_slots() -> u32 {
        1024
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("configuration is not valid JSON for this filter: {0}")]
    Json(String),
    #[error("api_keys[{index}].sha256 must be 64 hex digits")]
    BadDigest { index: usize },
    #[error("{field}: {subject:?} is not a valid subject")]
    BadSubject { field: String, subject: String },
    #[error("api_keys[{index}] repeats the digest of an earlier key")]
    DuplicateKey { index: usize },
    #[error("api_key_header {0:?} is not a valid lowercase header name")]
    BadHeaderName(String),
    #[error("no authentication method is configured")]
    NothingConfigured,
    #[error("{0}: give exactly one of \"env\" and \"value\"")]
    SecretSource(&'static str),
    #[error("{field}: environment variable {name} is not set")]
    MissingEnv { field: &'static str, name: String },
    #[error("{0}")]
    Invalid(String),
}

/// Runtime policy: what the decision code consults on every request.
#[derive(Debug, Clone)]
pub struct Policy {
    pub api_key_header: String,
    pub api_keys: ApiKeyStore,
    pub jwt: Option<JwtPolicy>,
    pub mtls: Option<MtlsPolicy>,
    pub routes: Vec<RouteRule>,
    pub mcp_path: String,
    pub mcp_max_body: usize,
    pub rate_limit: Option<RateLimitPolicy>,
    pub assertion_key: Option<AssertionKey>,
    pub resource_metadata: Option<ResourceMetadata>,
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

#[derive(Debug, Clone)]
pub struct RateLimitPolicy {
    pub default: Limit,
    pub subjects: BTreeMap<String, Limit>,
    pub tools: BTreeMap<String, Limit>,
    pub limiter: Limiter,
}

#[derive(Debug, Clone)]
pub struct ResourceMetadata {
    /// Paths the filter answers with the document.
    pub paths: Vec<String>,
    /// The metadata URL, for `WWW-Authenticate`.
    pub url: String,
    pub document: String,
}

/// Prefix of the shared-data keys of the rate limiter's slots.
pub const RATE_LIMIT_SLOT_PREFIX: &str = "vault_mcp_filter.rl.";

impl Policy {
    /// Parses the configuration; `env` resolves secrets named by environment variable.
    pub fn from_json(
        bytes: &[u8],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let config: FilterConfig =
            serde_json::from_slice(bytes).map_err(|e| ConfigError::Json(e.to_string()))?;
        Policy::build(config, env)
    }

    pub fn build(
        config: FilterConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let header = config.api_key_header;
        if !is_header_name(&header) {
            return Err(ConfigError::BadHeaderName(header));
        }
        let api_keys = api_keys(config.api_keys)?;
        let jwt = config.jwt.map(|j| jwt_policy(j, env)).transpose()?;
        let mtls = config.mtls.map(mtls_policy).transpose()?;
        if api_keys.is_empty() && jwt.is_none() && mtls.is_none() {
            return Err(ConfigError::NothingConfigured);
        }
        if !config.mcp.path.starts_with('/') {
            return Err(ConfigError::Invalid("mcp.path must start with '/'".into()));
        }
        let rate = config.rate_limit;
        let rate_limit = rate.enabled.then(|| RateLimitPolicy {
            default: Limit {
                requests: rate.requests,
                per_seconds: rate.per_seconds,
            },
            subjects: rate.subjects,
            tools: rate.tools,
            limiter: Limiter::new(RATE_LIMIT_SLOT_PREFIX, rate.slots),
        });
        if let Some(rate) = &rate_limit {
            let limits = std::iter::once(&rate.default)
                .chain(rate.subjects.values())
                .chain(rate.tools.values());
            if limits
                .into_iter()
                .any(|l| l.requests == 0 || l.per_seconds == 0)
            {
                return Err(ConfigError::Invalid(
                    "rate_limit: requests and per_seconds must be positive".into(),
                ));
            }
        }
        let assertion_key = config
            .assertion_key
            .map(|s| {
                let key = resolve("assertion_key", s, env)?;
                AssertionKey::new(key)
                    .map_err(|e| ConfigError::Invalid(format!("assertion_key: {e}")))
            })
            .transpose()?;
        let resource_metadata = config
            .resource_metadata
            .map(resource_metadata)
            .transpose()?;
        Ok(Policy {
            api_key_header: header,
            api_keys,
            jwt,
            mtls,
            routes: config.routes.unwrap_or_else(default_routes),
            mcp_path: config.mcp.path,
            mcp_max_body: config.mcp.max_body_bytes,
            rate_limit,
            assertion_key,
            resource_metadata,
        })
    }
}

fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn resolve(
    field: &'static str,
    secret: SecretConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    match (secret.env, secret.value) {
        (Some(name), None) => env(&name).ok_or(ConfigError::MissingEnv { field, name }),
        (None, Some(value)) => Ok(value),
        _ => Err(ConfigError::SecretSource(field)),
    }
}

fn api_keys(configs: Vec<ApiKeyConfig>) -> Result<ApiKeyStore, ConfigError> {
    let mut entries: Vec<(KeyDigest, Identity)> = Vec::with_capacity(configs.len());
    for (index, key) in configs.into_iter().enumerate() {
        let digest = parse_digest(&key.sha256).ok_or(ConfigError::BadDigest { index })?;
        if !is_valid_subject(&key.subject) {
            return Err(ConfigError::BadSubject {
                field: format!("api_keys[{index}].subject"),
                subject: key.subject,
            });
        }
        if entries.iter().any(|(d, _)| *d == digest) {
            return Err(ConfigError::DuplicateKey { index });
        }
        entries.push((digest, Identity::new(key.subject, key.scopes)));
    }
    Ok(ApiKeyStore::new(entries))
}

fn jwt_policy(
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
        },
        static_keys,
        remote,
        envoy_payload_key,
        cache: Arc::new(VerifiedCache::new(config.verified_cache_size)),
    })
}

fn mtls_policy(config: MtlsConfig) -> Result<MtlsPolicy, ConfigError> {
    for subject in config.identities.keys() {
        if !is_valid_subject(subject) {
            return Err(ConfigError::BadSubject {
                field: "mtls.identities".into(),
                subject: subject.clone(),
            });
        }
    }
    Ok(MtlsPolicy {
        source: config.source,
        cn_prefix: config.cn_prefix,
        identities: config.identities,
    })
}

fn resource_metadata(config: ResourceMetadataConfig) -> Result<ResourceMetadata, ConfigError> {
    // RFC 9728 §3.1: the well-known path goes between the origin and the resource's path.
    let invalid = || {
        ConfigError::Invalid("resource_metadata.resource must be an absolute http(s) URL".into())
    };
    let rest = config
        .resource
        .strip_prefix("https://")
        .or_else(|| config.resource.strip_prefix("http://"))
        .ok_or_else(invalid)?;
    let scheme_len = config.resource.len() - rest.len();
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.is_empty() {
        return Err(invalid());
    }
    let origin = &config.resource[..scheme_len + authority.len()];
    let path = path.trim_end_matches('/');
    let well_known = format!("/.well-known/oauth-protected-resource{path}");
    let mut paths = vec![well_known.clone()];
    if !path.is_empty() {
        paths.push("/.well-known/oauth-protected-resource".into());
    }
    let document = serde_json::json!({
        "resource": config.resource,
        "authorization_servers": config.authorization_servers,
        "bearer_methods_supported": ["header"],
        "scopes_supported": [crate::scopes::READ, crate::scopes::WRITE, crate::scopes::LIST, crate::scopes::DELETE],
    })
    .to_string();
    Ok(ResourceMetadata {
        url: format!("{origin}{well_known}"),
        paths,
        document,
    })
}

fn parse_digest(text: &str) -> Option<KeyDigest> {
    let mut digest = [0u8; 32];
    hex::decode_to_slice(text, &mut digest).ok()?;
    Some(digest)
}

#[cfg(test)]
mod tests;

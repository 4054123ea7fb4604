//! The filter's configuration: the JSON document Envoy hands to `on_configure`, parsed strictly
//! once and converted into a [`Policy`] that cannot be invalid. Secrets may come from the VM's
//! environment (`vm_config.environment_variables`) instead of the YAML. Each part's raw type
//! sits beside the policy it becomes (`config/jwt.rs`, `keys.rs`, `mtls.rs`, `rate_limit.rs`,
//! `metadata.rs`); this module holds the document, the shared pieces and the assembly.

use serde::Deserialize;
use thiserror::Error;

use crate::apikey::ApiKeyStore;
use crate::assertion::AssertionKey;
use crate::mtls::MtlsPolicy;
use crate::scopes::{RouteRule, default_routes, tool_name};

mod jwt;
mod keys;
mod metadata;
mod mtls;
mod oauth;
mod rate_limit;
mod registry;

pub use jwt::{EnvoyJwtAuthnConfig, JwksRemoteConfig, JwtConfig, JwtPolicy, RemoteJwks};
pub use keys::ApiKeyConfig;
pub use metadata::{ResourceMetadata, ResourceMetadataConfig};
pub use mtls::MtlsConfig;
pub use oauth::{OAuthConfig, OAuthPolicy};
pub use rate_limit::{RATE_LIMIT_SLOT_PREFIX, RateLimitConfig, RateLimitPolicy};
pub use registry::{RegistryConfig, RegistryPolicy};

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
    /// People signed in through an OAuth authorization server (see `config/oauth.rs`).
    #[serde(default)]
    pub oauth: Option<OAuthConfig>,
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
    /// The agent registry the backend serves (agents added while the bridge runs).
    #[serde(default)]
    pub registry: Option<RegistryConfig>,
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

pub(crate) mod defaults {
    pub fn api_key_header() -> String {
        "x-api-key".into()
    }
    pub fn yes() -> bool {
        true
    }
    pub fn algorithms() -> Vec<String> {
        vec!["RS256".into(), "ES256".into(), "HS256".into()]
    }
    pub fn oauth_algorithms() -> Vec<String> {
        vec!["RS256".into(), "ES256".into()]
    }
    pub fn subject_claim() -> String {
        "sub".into()
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
    pub fn registry_path() -> String {
        "/_bridge/registry".into()
    }
    pub fn registry_refresh() -> u64 {
        5
    }
    pub fn registry_timeout() -> u64 {
        2000
    }
    pub fn registry_max_bytes() -> usize {
        16 * 1024 * 1024
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
    pub oauth: Option<OAuthPolicy>,
    pub mtls: Option<MtlsPolicy>,
    pub routes: Vec<RouteRule>,
    pub mcp_path: String,
    pub mcp_max_body: usize,
    pub rate_limit: Option<RateLimitPolicy>,
    pub assertion_key: Option<AssertionKey>,
    pub resource_metadata: Option<ResourceMetadata>,
    pub registry: Option<RegistryPolicy>,
}

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
        let api_keys = keys::api_keys(config.api_keys)?;
        let jwt = config.jwt.map(|j| jwt::policy(j, env)).transpose()?;
        let mtls = config.mtls.map(mtls::policy).transpose()?;
        if api_keys.is_empty()
            && jwt.is_none()
            && mtls.is_none()
            && config.registry.is_none()
            && config.oauth.is_none()
        {
            return Err(ConfigError::NothingConfigured);
        }
        if !config.mcp.path.starts_with('/') {
            return Err(ConfigError::Invalid("mcp.path must start with '/'".into()));
        }
        let assertion_key = config
            .assertion_key
            .map(|s| {
                let key = resolve("assertion_key", s, env)?;
                AssertionKey::new(key)
                    .map_err(|e| ConfigError::Invalid(format!("assertion_key: {e}")))
            })
            .transpose()?;
        let registry = config
            .registry
            .map(|r| registry::policy(r, assertion_key.is_some()))
            .transpose()?;
        let rate_limit = rate_limit::policy(config.rate_limit)?;
        let resource = config
            .resource_metadata
            .as_ref()
            .map(|m| m.resource.clone());
        let oauth = config
            .oauth
            .map(|o| oauth::policy(o, resource.as_deref(), env))
            .transpose()?;
        if let Some(oauth) = &oauth {
            // Tokens go to the issuer they name: the two must be told apart by `iss`.
            match jwt.as_ref().map(|j| j.settings.issuer.as_deref()) {
                Some(None) => {
                    return Err(ConfigError::Invalid(
                        "oauth needs jwt.validate_issuer: a person's token must never pass for an agent's".into(),
                    ));
                }
                Some(Some(agents)) if agents == oauth.issuer => {
                    return Err(ConfigError::Invalid(
                        "oauth.issuer must differ from jwt.issuer: tokens go to the issuer they name".into(),
                    ));
                }
                _ => {}
            }
        }
        if oauth.is_some() && registry.is_none() {
            // The registry says who may sign in and with which scopes.
            return Err(ConfigError::Invalid(
                "oauth needs registry: people signing in are registered like agents".into(),
            ));
        }
        let mut resource_metadata = config.resource_metadata;
        if let (Some(meta), Some(oauth)) = (&mut resource_metadata, &oauth)
            && meta.authorization_servers.is_empty()
        {
            meta.authorization_servers.push(oauth.issuer.clone());
        }
        let resource_metadata = resource_metadata.map(metadata::policy).transpose()?;
        let mut routes = config.routes.unwrap_or_else(default_routes);
        // A route's tools under their one name, as limits are kept.
        for tool in routes.iter_mut().flat_map(|rule| rule.tools.values_mut()) {
            *tool = tool_name(tool)
                .ok_or_else(|| ConfigError::Invalid(format!("routes: unknown tool '{tool}'")))?
                .to_string();
        }
        Ok(Policy {
            api_key_header: header,
            api_keys,
            jwt,
            oauth,
            mtls,
            routes,
            mcp_path: config.mcp.path,
            mcp_max_body: config.mcp.max_body_bytes,
            rate_limit,
            assertion_key,
            resource_metadata,
            registry,
        })
    }
}

impl Policy {
    /// The rules and keys for tokens of `source`, when configured.
    pub fn token_rules(&self, source: crate::jwt::KeySource) -> Option<&JwtPolicy> {
        match source {
            crate::jwt::KeySource::Agents => self.jwt.as_ref(),
            crate::jwt::KeySource::OAuth => self.oauth.as_ref().map(|o| &o.jwt),
        }
    }
}

fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

pub(crate) fn resolve(
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

#[cfg(test)]
mod tests;

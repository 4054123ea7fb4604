//! Where the edge fetches the agent registry from (see [`crate::registry`]).

use serde::Deserialize;

use super::{ConfigError, defaults};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// Envoy cluster of the backend serving the snapshot.
    pub cluster: String,
    /// `:authority` of the fetch.
    pub authority: String,
    #[serde(default = "defaults::registry_path")]
    pub path: String,
    /// Seconds between fetches (a change reaches the edge within this, plus one second).
    #[serde(default = "defaults::registry_refresh")]
    pub refresh_seconds: u64,
    #[serde(default = "defaults::registry_timeout")]
    pub timeout_ms: u64,
    /// Largest snapshot accepted; a larger one is refused and the last good one kept.
    #[serde(default = "defaults::registry_max_bytes")]
    pub max_bytes: usize,
}

pub type RegistryPolicy = RegistryConfig;

pub(super) fn policy(config: RegistryConfig, signed: bool) -> Result<RegistryPolicy, ConfigError> {
    // The snapshot fetch is signed with the assertion key: only the edge may read the registry.
    if !signed {
        return Err(ConfigError::Invalid(
            "registry: needs assertion_key (the fetch is signed with it)".into(),
        ));
    }
    if !config.path.starts_with('/') || config.cluster.is_empty() {
        return Err(ConfigError::Invalid(
            "registry: cluster must be set and path must start with '/'".into(),
        ));
    }
    if config.refresh_seconds == 0 || config.max_bytes == 0 {
        return Err(ConfigError::Invalid(
            "registry: refresh_seconds and max_bytes must be positive".into(),
        ));
    }
    Ok(config)
}

//! API keys: accepted by the SHA-256 of the key, never the key itself.

use serde::Deserialize;

use super::ConfigError;
use crate::apikey::{ApiKeyStore, KeyDigest, parse_digest};
use crate::identity::{Identity, is_agent_subject};
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// Hex SHA-256 of the key: `printf %s "$KEY" | sha256sum`.
    pub sha256: String,
    pub subject: String,
    #[serde(default)]
    pub scopes: Vec<String>,
}

pub(super) fn api_keys(configs: Vec<ApiKeyConfig>) -> Result<ApiKeyStore, ConfigError> {
    let mut entries: Vec<(KeyDigest, Identity)> = Vec::with_capacity(configs.len());
    for (index, key) in configs.into_iter().enumerate() {
        let digest = parse_digest(&key.sha256).ok_or(ConfigError::BadDigest { index })?;
        if !is_agent_subject(&key.subject) {
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

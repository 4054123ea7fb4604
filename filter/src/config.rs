//! The filter's configuration: the JSON document Envoy hands to `on_configure`, parsed strictly
//! once and converted into a [`Policy`] that cannot be invalid.

use serde::Deserialize;
use thiserror::Error;

use crate::apikey::{ApiKeyStore, KeyDigest};
use crate::identity::{Identity, is_valid_subject};

/// The plugin configuration as written in `envoy.yaml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    /// Request header that carries an API key.
    #[serde(default = "default_api_key_header")]
    pub api_key_header: String,
    /// Accepted API keys, by the SHA-256 of the key (never the key itself).
    #[serde(default)]
    pub api_keys: Vec<ApiKeyConfig>,
}

fn default_api_key_header() -> String {
    "x-api-key".to_string()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// Hex SHA-256 of the key: `printf %s "$KEY" | sha256sum`.
    pub sha256: String,
    /// The agent this key authenticates.
    pub subject: String,
    /// What the agent may do (`read`, `write`, `list`, `delete`, …).
    #[serde(default)]
    pub scopes: Vec<String>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("configuration is not valid JSON for this filter: {0}")]
    Json(String),
    #[error("api_keys[{index}].sha256 must be 64 hex digits")]
    BadDigest { index: usize },
    #[error("api_keys[{index}].subject {subject:?} is not a valid subject")]
    BadSubject { index: usize, subject: String },
    #[error("api_keys[{index}] repeats the digest of an earlier key")]
    DuplicateKey { index: usize },
    #[error("api_key_header {0:?} is not a valid lowercase header name")]
    BadHeaderName(String),
    #[error("no authentication method is configured")]
    NothingConfigured,
}

/// Runtime policy: what the decision code consults on every request.
#[derive(Debug, Clone)]
pub struct Policy {
    pub api_key_header: String,
    pub api_keys: ApiKeyStore,
}

impl Policy {
    pub fn from_json(bytes: &[u8]) -> Result<Self, ConfigError> {
        let config: FilterConfig =
            serde_json::from_slice(bytes).map_err(|e| ConfigError::Json(e.to_string()))?;
        Policy::try_from(config)
    }
}

impl TryFrom<FilterConfig> for Policy {
    type Error = ConfigError;

    fn try_from(config: FilterConfig) -> Result<Self, ConfigError> {
        let header = config.api_key_header;
        if header.is_empty()
            || !header
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(ConfigError::BadHeaderName(header));
        }
        let mut entries: Vec<(KeyDigest, Identity)> = Vec::with_capacity(config.api_keys.len());
        for (index, key) in config.api_keys.into_iter().enumerate() {
            let digest = parse_digest(&key.sha256).ok_or(ConfigError::BadDigest { index })?;
            if !is_valid_subject(&key.subject) {
                return Err(ConfigError::BadSubject {
                    index,
                    subject: key.subject,
                });
            }
            if entries.iter().any(|(d, _)| *d == digest) {
                return Err(ConfigError::DuplicateKey { index });
            }
            entries.push((digest, Identity::new(key.subject, key.scopes)));
        }
        if entries.is_empty() {
            return Err(ConfigError::NothingConfigured);
        }
        Ok(Policy {
            api_key_header: header,
            api_keys: ApiKeyStore::new(entries),
        })
    }
}

fn parse_digest(text: &str) -> Option<KeyDigest> {
    let mut digest = [0u8; 32];
    hex::decode_to_slice(text, &mut digest).ok()?;
    Some(digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apikey::digest;

    fn key_json(subject: &str, key: &str) -> String {
        format!(
            r#"{{"sha256":"{}","subject":"{subject}","scopes":["read"]}}"#,
            hex::encode(digest(key))
        )
    }

    #[test]
    fn valid_config_becomes_a_policy() {
        let json = format!(r#"{{"api_keys":[{}]}}"#, key_json("agent_api", "dev-key"));
        let policy = Policy::from_json(json.as_bytes()).unwrap();
        assert_eq!(policy.api_key_header, "x-api-key");
        assert_eq!(
            policy.api_keys.lookup("dev-key").unwrap().subject,
            "agent_api"
        );
    }

    #[test]
    fn invalid_configs_are_refused_with_a_reason() {
        let good = key_json("a", "k");
        type Check = fn(&ConfigError) -> bool;
        let cases: Vec<(String, Check)> = vec![
            ("not json".into(), |e| matches!(e, ConfigError::Json(_))),
            (
                r#"{"api_keys":[],"surprise":1}"#.into(),
                |e| matches!(e, ConfigError::Json(m) if m.contains("surprise")),
            ),
            (r#"{"api_keys":[]}"#.into(), |e| {
                *e == ConfigError::NothingConfigured
            }),
            (
                r#"{"api_keys":[{"sha256":"abc","subject":"a"}]}"#.into(),
                |e| *e == ConfigError::BadDigest { index: 0 },
            ),
            (format!(r#"{{"api_keys":[{good},{good}]}}"#), |e| {
                *e == ConfigError::DuplicateKey { index: 1 }
            }),
            (
                format!(r#"{{"api_keys":[{}]}}"#, key_json("a/b", "k")),
                |e| matches!(e, ConfigError::BadSubject { index: 0, .. }),
            ),
            (
                format!(r#"{{"api_key_header":"X-Key","api_keys":[{good}]}}"#),
                |e| matches!(e, ConfigError::BadHeaderName(_)),
            ),
        ];
        for (json, expected) in cases {
            let err = Policy::from_json(json.as_bytes()).unwrap_err();
            assert!(expected(&err), "{json}: {err:?}");
        }
    }
}

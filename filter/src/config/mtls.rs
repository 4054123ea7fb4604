//! Client certificates: where the identity is read, and the scopes of each subject.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::ConfigError;
use crate::identity::is_agent_subject;
use crate::mtls::{MtlsPolicy, MtlsSource};
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MtlsConfig {
    pub source: MtlsSource,
    #[serde(default)]
    pub cn_prefix: String,
    /// Subject (CN without prefix) → scopes; the registry's certificate names add to these.
    #[serde(default)]
    pub identities: BTreeMap<String, Vec<String>>,
}

pub(super) fn policy(config: MtlsConfig) -> Result<MtlsPolicy, ConfigError> {
    for subject in config.identities.keys() {
        if !is_agent_subject(subject) {
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

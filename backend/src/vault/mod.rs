//! The one Vault layer: every operation REST routes and MCP tools offer is a method here, so
//! both front ends behave the same. One module per engine.

mod error;
pub mod kv;
pub mod path;
pub mod transit;

use secrecy::ExposeSecret;
use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};

pub use error::VaultError;
pub use path::{PathError, SecretPath, SecretPrefix};

use crate::config::Config;

/// A connected Vault client plus where each agent's secrets live.
pub struct Vault {
    client: VaultClient,
    kv_mount: String,
    transit_mount: String,
    prefix: String,
}

impl Vault {
    pub fn new(config: &Config) -> Result<Self, VaultError> {
        let mut settings = VaultClientSettingsBuilder::default();
        settings
            .address(&config.vault_addr)
            .token(config.vault_token.expose_secret())
            .timeout(Some(std::time::Duration::from_secs(10)));
        if let Some(namespace) = &config.vault_namespace {
            settings.namespace(Some(namespace.clone()));
        }
        let settings = settings.build().map_err(|_| VaultError::Upstream)?;
        let client = VaultClient::new(settings).map_err(VaultError::from)?;
        Ok(Self {
            client,
            kv_mount: config.kv_mount.clone(),
            transit_mount: config.transit_mount.clone(),
            prefix: config.default_prefix.clone(),
        })
    }

    /// `{DEFAULT_PREFIX}/{subject}/{path}`: the only shape of KV path this service touches.
    /// The subject was validated where the identity was made, the path by [`SecretPath`].
    fn agent_path(&self, subject: &str, path: &SecretPath) -> String {
        format!("{}/{}/{}", self.prefix, subject, path)
    }

    /// `{DEFAULT_PREFIX}/{subject}/{prefix}`, for listing.
    fn agent_folder(&self, subject: &str, prefix: &SecretPrefix) -> String {
        format!("{}/{}/{}", self.prefix, subject, prefix.as_str())
    }
}

//! KV v2 under each agent's prefix.

use serde::Serialize;
use serde_json::{Map, Value};
use vaultrs::api::{self, kv2::requests::ReadSecretRequest};

use super::{SecretPath, Vault, VaultError};
use crate::identity::Agent;

/// A secret's data and the version it was read at.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Secret {
    pub path: String,
    pub data: Map<String, Value>,
    pub version: u64,
}

/// The version a write created.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Written {
    pub path: String,
    pub version: u64,
}

impl Vault {
    pub async fn kv_read(
        &self,
        agent: &Agent,
        path: &SecretPath,
        version: Option<u64>,
    ) -> Result<Secret, VaultError> {
        let request = ReadSecretRequest::builder()
            .mount(&self.kv_mount)
            .path(self.agent_path(&agent.subject, path))
            .version(version)
            .build()
            .map_err(|_| VaultError::Upstream)?;
        let response = api::exec_with_result(&self.client, request).await?;
        // A deleted or destroyed version comes back with null data.
        let Value::Object(data) = response.data else {
            return Err(VaultError::NotFound);
        };
        Ok(Secret {
            path: path.to_string(),
            data,
            version: response.metadata.version,
        })
    }

    pub async fn kv_write(
        &self,
        agent: &Agent,
        path: &SecretPath,
        data: &Map<String, Value>,
    ) -> Result<Written, VaultError> {
        let metadata = vaultrs::kv2::set(
            &self.client,
            &self.kv_mount,
            &self.agent_path(&agent.subject, path),
            data,
        )
        .await?;
        Ok(Written {
            path: path.to_string(),
            version: metadata.version,
        })
    }
}

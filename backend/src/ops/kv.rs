//! KV v2 in the agent's own folder: read (or wrap), write, list, delete, undelete, destroy.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::Allowed;
use super::input::{Versions, WrapTtl};
use super::{Operation, Traits};
use crate::error::ApiError;
use crate::vault::kv::{Listing, VersionsChanged, Written};
use crate::vault::{SecretPath, SecretPrefix, Vault};

/// `kv.read`; `GET /secrets/{path}?version=&wrap_ttl=`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KvRead {
    /// Secret path relative to the agent's own folder, e.g. `configs/demo`.
    pub path: SecretPath,
    /// Version to read; the latest when absent.
    #[serde(default)]
    pub version: Option<u64>,
    /// "Use, don't see": return a response-wrapping token valid this long (`30s`, `5m`, `1h`,
    /// at most `24h`) instead of the value; whoever gets the token unwraps it once from Vault.
    #[serde(default)]
    pub wrap_ttl: Option<WrapTtl>,
}

/// The secret, or (with `wrap_ttl`) a wrapping token in its place.
#[derive(Debug, Serialize, JsonSchema, ToSchema)]
pub struct KvReadResult {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub data: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrap_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrap_accessor: Option<String>,
    /// Seconds the wrapping token stays valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrap_ttl: Option<u64>,
}

impl Operation for KvRead {
    const NAME: &'static str = "kv.read";
    const DESCRIPTION: &'static str = "Read a secret (KV v2) from the agent's own folder, latest or a given version; with wrap_ttl, a one-time response-wrapping token instead of the value.";
    const TRAITS: Traits = Traits::reads();
    type Output = KvReadResult;

    async fn run(
        &self,
        vault: &Vault,
        agent: &Allowed<'_, Self>,
    ) -> Result<KvReadResult, ApiError> {
        if let Some(ttl) = &self.wrap_ttl {
            let wrapped = vault
                .kv_read_wrapped(agent.into(), &self.path, self.version, ttl.as_str())
                .await?;
            return Ok(KvReadResult {
                path: wrapped.path,
                data: None,
                version: None,
                wrap_token: Some(wrapped.wrap_token),
                wrap_accessor: Some(wrapped.wrap_accessor),
                wrap_ttl: Some(wrapped.wrap_ttl),
            });
        }
        let secret = vault
            .kv_read(agent.into(), &self.path, self.version)
            .await?;
        Ok(KvReadResult {
            path: secret.path,
            data: Some(secret.data),
            version: Some(secret.version),
            wrap_token: None,
            wrap_accessor: None,
            wrap_ttl: None,
        })
    }
}

/// `kv.write`; `PUT /secrets/{path}` with `{data, cas?}`.
#[derive(Debug, Clone, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KvWrite {
    /// Secret path relative to the agent's own folder, e.g. `configs/demo`.
    #[schema(ignore)]
    pub path: SecretPath,
    /// Key/value pairs to store as the secret's new version.
    #[schema(value_type = Object)]
    pub data: Map<String, Value>,
    /// Check-and-set: write only if the current version is this (0: only if absent).
    #[serde(default)]
    pub cas: Option<u32>,
}

impl Operation for KvWrite {
    const NAME: &'static str = "kv.write";
    const DESCRIPTION: &'static str = "Write a new version of a secret (KV v2) in the agent's own folder, optionally check-and-set.";
    const TRAITS: Traits = Traits::adds();
    type Output = Written;

    async fn run(&self, vault: &Vault, agent: &Allowed<'_, Self>) -> Result<Written, ApiError> {
        Ok(vault
            .kv_write(agent.into(), &self.path, &self.data, self.cas)
            .await?)
    }
}

/// `kv.list`; `GET /secrets?prefix=`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KvList {
    /// Folder relative to the agent's own folder, e.g. `configs/`; the root when absent.
    #[serde(default)]
    pub prefix: SecretPrefix,
}

impl Operation for KvList {
    const NAME: &'static str = "kv.list";
    const DESCRIPTION: &'static str =
        "List the secret names under a folder of the agent's own (names only, never values).";
    const TRAITS: Traits = Traits::reads().idempotent();
    type Output = Listing;

    async fn run(&self, vault: &Vault, agent: &Allowed<'_, Self>) -> Result<Listing, ApiError> {
        Ok(vault.kv_list(agent.into(), &self.prefix).await?)
    }
}

/// `kv.delete`; `DELETE /secrets/{path}`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KvDelete {
    /// Secret path relative to the agent's own folder.
    pub path: SecretPath,
}

impl Operation for KvDelete {
    const NAME: &'static str = "kv.delete";
    const DESCRIPTION: &'static str =
        "Soft-delete the latest version of a secret (kv.undelete brings it back).";
    const TRAITS: Traits = Traits::removes().idempotent();
    type Output = VersionsChanged;

    async fn run(
        &self,
        vault: &Vault,
        agent: &Allowed<'_, Self>,
    ) -> Result<VersionsChanged, ApiError> {
        Ok(vault.kv_delete(agent.into(), &self.path).await?)
    }
}

/// The secret and versions `kv.undelete` and `kv.destroy` act on; the body of
/// `POST /secrets/{path}:undelete` and `:destroy` is `{versions}`.
#[derive(Debug, Clone, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
#[schemars(inline)]
pub struct SecretVersions {
    /// Secret path relative to the agent's own folder.
    #[schema(ignore)]
    pub path: SecretPath,
    /// The versions to act on (1 to 100 of them).
    #[schema(value_type = Vec<u64>)]
    pub versions: Versions,
}

/// `kv.undelete`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct KvUndelete(pub SecretVersions);

impl Operation for KvUndelete {
    const NAME: &'static str = "kv.undelete";
    const DESCRIPTION: &'static str = "Restore soft-deleted versions of a secret.";
    const TRAITS: Traits = Traits::adds().idempotent();
    type Output = VersionsChanged;

    async fn run(
        &self,
        vault: &Vault,
        agent: &Allowed<'_, Self>,
    ) -> Result<VersionsChanged, ApiError> {
        let SecretVersions { path, versions } = &self.0;
        Ok(vault
            .kv_undelete(agent.into(), path, versions.as_slice().to_vec())
            .await?)
    }
}

/// `kv.destroy`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct KvDestroy(pub SecretVersions);

impl Operation for KvDestroy {
    const NAME: &'static str = "kv.destroy";
    const DESCRIPTION: &'static str =
        "Permanently destroy versions of a secret; they cannot be restored.";
    const TRAITS: Traits = Traits::removes().idempotent();
    type Output = VersionsChanged;

    async fn run(
        &self,
        vault: &Vault,
        agent: &Allowed<'_, Self>,
    ) -> Result<VersionsChanged, ApiError> {
        let SecretVersions { path, versions } = &self.0;
        Ok(vault
            .kv_destroy(agent.into(), path, versions.as_slice().to_vec())
            .await?)
    }

    fn summary(&self) -> String {
        let versions: Vec<String> = self
            .0
            .versions
            .as_slice()
            .iter()
            .map(u64::to_string)
            .collect();
        let noun = if versions.len() == 1 {
            "version"
        } else {
            "versions"
        };
        format!(
            "destroy {noun} {} of its secret '{}' for ever",
            versions.join(", "),
            self.0.path
        )
    }
}

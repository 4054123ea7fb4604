//! Where the agent registry lives: one KV v2 record per agent under `_bridge/agents/{subject}`
//! in the backend's KV mount (outside every agent's folder, beside the lease records), and a
//! generation record every change rewrites, so a replica learns in one read whether its
//! snapshot is current. KV v2 keeps each record's history; Vault's replication makes it one
//! registry for every replica and every Envoy. All with the service's token; an agent's own
//! Transit keys and the erasure of its data are in `agent_data`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use vault_mcp_filter::ratelimit::Limit;
use vaultrs::api::kv2::requests::SetSecretRequestOptions;

use super::{Subject, Vault, VaultError};
use crate::config::Roles;

const AGENTS: &str = "_bridge/agents";
const GENERATION: &str = "_bridge/registry-generation";

/// One agent as stored. API keys are kept as digests only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRecord {
    pub subject: String,
    /// A person signing in through the authorization server (`agents add --user`, or signed
    /// up). Only such a record may have a `user.` subject: an earlier version's agent of that
    /// name is not taken for a person (start-up refuses it, the snapshot leaves it out).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub user: bool,
    pub enabled: bool,
    pub scopes: Vec<String>,
    pub keys: Vec<KeyRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<Limit>,
    /// MCP tool → the agent's own limit for it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tool_rates: BTreeMap<String, Limit>,
    /// MCP tool → how many calls over a long window, counted across every Envoy.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub budgets: BTreeMap<String, Limit>,
    /// The client-certificate name (CN without the edge's prefix) the agent answers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// The roles it may use, per engine: a subset of the configured ones (absent: all of them).
    #[serde(default, skip_serializing_if = "AgentRoles::is_unrestricted")]
    pub roles: AgentRoles,
    /// Its client certificates revoked before they expire, which the edge refuses (Envoy
    /// checks no CRL); written by `vault::pki`, expired ones dropped at each write.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revoked_certificates: Vec<RevokedDigest>,
    /// Unix seconds.
    pub created: u64,
    pub updated: u64,
}

/// A revoked client certificate, as the edge knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedDigest {
    /// Hex SHA-256 of the certificate's DER.
    pub sha256: String,
    /// When it expires (unix seconds): no longer listed after.
    pub expires: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub id: String,
    /// Hex SHA-256 of the key.
    pub sha256: String,
    pub created: u64,
    /// Refused from this time on (unix seconds): a rotated key's grace period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<u64>,
}

/// Per engine, the roles an agent may use (`None`: every configured one).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRoles {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_otp: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_sign: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pki: Option<Vec<String>>,
}

impl AgentRoles {
    pub fn is_unrestricted(&self) -> bool {
        self == &AgentRoles::default()
    }

    /// The configured roles narrowed to these (configuration order kept, so its first
    /// remains the default).
    pub fn narrow(&self, configured: &Roles) -> Roles {
        let keep = |all: &[String], only: &Option<Vec<String>>| match only {
            Some(only) => all.iter().filter(|r| only.contains(r)).cloned().collect(),
            None => all.to_vec(),
        };
        Roles {
            database: keep(&configured.database, &self.database),
            ssh_otp: keep(&configured.ssh_otp, &self.ssh_otp),
            ssh_sign: keep(&configured.ssh_sign, &self.ssh_sign),
            pki: keep(&configured.pki, &self.pki),
        }
    }
}

/// What each version of the generation record says.
#[derive(Debug, Serialize, Deserialize)]
struct Change {
    agent: String,
    changed_at: u64,
}

/// A record and the KV version it was read at (for check-and-set).
pub type Versioned = (AgentRecord, u32);

impl Vault {
    fn record_path(subject: &str) -> String {
        format!("{AGENTS}/{subject}")
    }

    pub async fn registry_read(&self, subject: &str) -> Result<Option<Versioned>, VaultError> {
        self.observed_read("registry", "read", || async {
            let client = self.base();
            let path = Self::record_path(subject);
            let Some(record) = self.record_of(subject).await? else {
                return Ok(None);
            };
            let metadata = vaultrs::kv2::read_metadata(&*client, &self.kv_mount, &path).await?;
            Ok(Some((record, metadata.current_version as u32)))
        })
        .await
    }

    /// The record without its version: one Vault read instead of two, for the snapshot, which
    /// writes nothing back.
    pub async fn registry_record(&self, subject: &str) -> Result<Option<AgentRecord>, VaultError> {
        self.observed_read("registry", "read", || self.record_of(subject))
            .await
    }

    async fn record_of(&self, subject: &str) -> Result<Option<AgentRecord>, VaultError> {
        let path = Self::record_path(subject);
        match vaultrs::kv2::read::<AgentRecord>(&*self.base(), &self.kv_mount, &path)
            .await
            .map_err(VaultError::from)
        {
            Ok(record) => Ok(Some(record)),
            Err(VaultError::NotFound) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// Writes `record` if the stored version is still `version` (0: only if it does not exist),
    /// then moves the generation on. A concurrent change makes Vault refuse (`Rejected`).
    pub async fn registry_write(
        &self,
        record: &AgentRecord,
        version: u32,
    ) -> Result<(), VaultError> {
        self.observed("registry", "write", async {
            let options = SetSecretRequestOptions { cas: version };
            vaultrs::kv2::set_with_options(
                &*self.base(),
                &self.kv_mount,
                &Self::record_path(&record.subject),
                record,
                options,
            )
            .await?;
            self.registry_bump(&record.subject).await
        })
        .await
    }

    /// Adds `revoked` to the digests the agent's record lists for the edge (dropping expired
    /// ones), with check-and-set, again after a concurrent change. No record (removed): the
    /// certificate records keep them for an agent added again under that name.
    pub(super) async fn registry_note_revoked(
        &self,
        subject: &str,
        revoked: &[RevokedDigest],
    ) -> Result<(), VaultError> {
        let now = crate::clock::unix_seconds();
        for _ in 0..5 {
            let Some((mut record, version)) = self.registry_read(subject).await? else {
                return Ok(());
            };
            let before = record.revoked_certificates.clone();
            record.revoked_certificates.extend(
                revoked
                    .iter()
                    .filter(|r| !before.iter().any(|b| b.sha256 == r.sha256))
                    .cloned(),
            );
            record
                .revoked_certificates
                .retain(|r| r.expires + super::pki::CLOCK_SKEW_SECONDS > now);
            if record.revoked_certificates == before {
                return Ok(());
            }
            match self.registry_write(&record, version).await {
                Err(VaultError::Rejected(_)) => continue,
                other => return other,
            }
        }
        Err(VaultError::Upstream)
    }

    /// The roles `agent` may use: the configured ones, narrowed by its registry record if it
    /// has one (one Vault read, on the credential routes only).
    pub async fn roles_for(&self, subject: Subject<'_>) -> Result<Roles, VaultError> {
        let path = Self::record_path(&subject);
        match vaultrs::kv2::read::<AgentRecord>(&*self.base(), &self.kv_mount, &path)
            .await
            .map_err(VaultError::from)
        {
            Ok(record) => Ok(record.roles.narrow(&self.roles)),
            Err(VaultError::NotFound) => Ok(self.roles.clone()),
            Err(other) => Err(other),
        }
    }

    /// Deletes the record with its history.
    pub async fn registry_delete(&self, subject: &str) -> Result<(), VaultError> {
        self.observed("registry", "delete", async {
            vaultrs::kv2::delete_metadata(
                &*self.base(),
                &self.kv_mount,
                &Self::record_path(subject),
            )
            .await?;
            self.registry_bump(subject).await
        })
        .await
    }

    pub async fn registry_subjects(&self) -> Result<Vec<String>, VaultError> {
        self.observed_read("registry", "list", || async {
            match vaultrs::kv2::list(&*self.base(), &self.kv_mount, AGENTS)
                .await
                .map_err(VaultError::from)
            {
                // Sub-folders are not records (none are written; ignore any made by hand).
                Ok(keys) => Ok(keys.into_iter().filter(|k| !k.ends_with('/')).collect()),
                Err(VaultError::NotFound) => Ok(Vec::new()),
                Err(other) => Err(other),
            }
        })
        .await
    }

    /// The registry's generation: the version of the record every change rewrites (0 before
    /// the first change).
    pub async fn registry_generation(&self) -> Result<u64, VaultError> {
        self.observed_read("registry", "generation", || async {
            match vaultrs::kv2::read_metadata(&*self.base(), &self.kv_mount, GENERATION)
                .await
                .map_err(VaultError::from)
            {
                Ok(metadata) => Ok(metadata.current_version),
                Err(VaultError::NotFound) => Ok(0),
                Err(other) => Err(other),
            }
        })
        .await
    }

    /// Which agent the change that made generation `version` was about (`None` when that
    /// version is gone: KV v2 keeps the last ten).
    pub async fn registry_change(&self, version: u64) -> Result<Option<String>, VaultError> {
        let found = vaultrs::kv2::read_version::<Change>(
            &*self.base(),
            &self.kv_mount,
            GENERATION,
            version,
        )
        .await
        .map_err(VaultError::from);
        match found {
            Ok(change) => Ok(Some(change.agent)),
            Err(VaultError::NotFound) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// Moves the generation on, naming the agent that changed.
    async fn registry_bump(&self, subject: &str) -> Result<(), VaultError> {
        let at = crate::clock::unix_seconds();
        let marker = Change {
            agent: subject.to_string(),
            changed_at: at,
        };
        vaultrs::kv2::set(&*self.base(), &self.kv_mount, GENERATION, &marker).await?;
        Ok(())
    }
}

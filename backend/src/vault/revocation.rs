//! The kill switch: what an agent holds in Vault, cut off at once. Every token of the agent
//! belongs to its identity entity (`vault::tokens`), so disabling the entity stops them all,
//! whichever replica minted them, and Vault refuses to mint more; the database leases it was
//! issued are found by the bridge's lease records and revoked (the logins end in the database),
//! and so are its client certificates (`vault::pki`).
//! Enabling the entity again lets new requests through; revoked leases stay revoked. A removed
//! agent's entity stays disabled, and is enabled again if the agent is added again.

use schemars::JsonSchema;
use serde::Serialize;
use utoipa::ToSchema;

use super::database::Ownership;
use super::{Vault, VaultError};

/// What the kill switch did, for the CLI, the admin API, the console and the audit log.
#[derive(Debug, Clone, Default, Serialize, JsonSchema, ToSchema)]
pub struct Revocation {
    /// The agent's Vault entity was disabled (false: it never had a token, so no entity).
    pub entity_disabled: bool,
    /// The leases revoked, by id.
    pub leases_revoked: Vec<String>,
    /// The client certificates revoked, by serial.
    pub certificates_revoked: Vec<String>,
}

impl Vault {
    /// The names of the service's records in `folder` of the KV mount (none: no folder).
    pub(super) async fn records_in(&self, folder: &str) -> Result<Vec<String>, VaultError> {
        match vaultrs::kv2::list(&*self.base(), &self.kv_mount, folder).await {
            Ok(names) => Ok(names),
            Err(error) => match VaultError::from(error) {
                VaultError::NotFound => Ok(Vec::new()),
                other => Err(other),
            },
        }
    }

    /// Revokes every lease the agent was issued through the bridge, and forgets their records.
    pub async fn revoke_agent_leases(&self, subject: &str) -> Result<Vec<String>, VaultError> {
        self.observed("database", "revoke_all", async {
            let client = self.base();
            let folder = Self::lease_folder(subject);
            let mut revoked = Vec::new();
            for name in self.records_in(&folder).await? {
                let record = format!("{folder}/{name}");
                let owned =
                    vaultrs::kv2::read::<Ownership>(&*client, &self.kv_mount, &record).await?;
                if let Some(lease_id) = owned.lease_id {
                    match self.revoke_lease(&lease_id).await {
                        // Revoking a lease that expired already is not an error in Vault.
                        Ok(()) => revoked.push(lease_id),
                        Err(VaultError::Rejected(_)) => {}
                        Err(other) => return Err(other),
                    }
                }
                vaultrs::kv2::delete_metadata(&*client, &self.kv_mount, &record).await?;
            }
            Ok(revoked)
        })
        .await
    }

    /// The kill switch: the entity disabled, the leases and certificates revoked.
    pub async fn cut_off_agent(&self, subject: &str) -> Result<Revocation, VaultError> {
        let entity_disabled = self.set_agent_entity_enabled(subject, false).await?;
        let leases_revoked = self.revoke_agent_leases(subject).await?;
        let certificates_revoked = self.revoke_agent_certificates(subject).await?;
        Ok(Revocation {
            entity_disabled,
            leases_revoked,
            certificates_revoked,
        })
    }
}

//! Database dynamic credentials, and the ownership of their leases.
//!
//! An agent may renew or revoke only leases it was issued. Ownership is recorded in Vault
//! itself, in the KV mount under `_bridge/leases/{subject}/{sha256(lease id)}` (outside every
//! agent's folder, so no agent can write there): it survives restarts, is shared by all
//! replicas, and lists what the kill switch revokes (`vault::revocation`). Records of earlier
//! versions (`_bridge/leases/{sha256}`, the owner inside) are still honoured.

use rustify_derive::Endpoint;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use vaultrs::api::database::requests::GenerateCredentialsRequest;

use super::{Subject, Vault, VaultError, exec};

/// Folder of the KV mount where the backend records who owns which lease.
const LEASES: &str = "_bridge/leases";

/// `POST /db/creds/{role}` answer and `db.issue_creds` result.
#[derive(Debug, Serialize, JsonSchema, ToSchema)]
pub struct DbCredentials {
    pub username: String,
    pub password: String,
    pub lease_id: String,
    /// Seconds until the credentials expire unless renewed.
    pub lease_duration: u64,
    pub renewable: bool,
}

/// A lease after renewal.
#[derive(Debug, Serialize, JsonSchema, ToSchema)]
pub struct Lease {
    pub lease_id: String,
    pub lease_duration: u64,
}

/// A revoked lease.
#[derive(Debug, Serialize, JsonSchema, ToSchema)]
pub struct Revoked {
    pub lease_id: String,
    pub revoked: bool,
}

/// The lease in the URL, not the body, so the service's policy can name the leases it may
/// renew and revoke (`{database}/creds/…`) rather than every lease.
#[derive(Debug, Endpoint)]
#[endpoint(path = "sys/leases/renew/{self.lease_id}", method = "PUT")]
struct RenewLeaseRequest {
    #[endpoint(skip)]
    lease_id: String,
    /// Seconds; 0 asks for the role's default.
    increment: u64,
}

#[derive(Debug, Endpoint)]
#[endpoint(path = "sys/leases/revoke/{self.lease_id}", method = "PUT")]
struct RevokeLeaseRequest {
    #[endpoint(skip)]
    lease_id: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Ownership {
    subject: String,
    /// Absent in records of earlier versions.
    #[serde(default)]
    pub(super) lease_id: Option<String>,
}

impl Vault {
    fn lease_record(subject: &str, lease_id: &str) -> String {
        format!(
            "{}/{}",
            Self::lease_folder(subject),
            hex::encode(Sha256::digest(lease_id.as_bytes()))
        )
    }

    /// Where the records of `subject`'s leases are.
    pub(super) fn lease_folder(subject: &str) -> String {
        format!("{LEASES}/{subject}")
    }

    /// An earlier version's record: the lease's digest alone, the owner inside.
    fn legacy_lease_record(lease_id: &str) -> String {
        format!(
            "{LEASES}/{}",
            hex::encode(Sha256::digest(lease_id.as_bytes()))
        )
    }

    /// Issues credentials for `role` (checked by `ops::input::RoleName`).
    pub async fn db_issue(
        &self,
        subject: Subject<'_>,
        role: &str,
    ) -> Result<DbCredentials, VaultError> {
        self.observed("database", "issue", async {
            let request = GenerateCredentialsRequest::builder()
                .mount(&self.database_mount)
                .name(role)
                .build()
                .map_err(|_| VaultError::Upstream)?;
            // Its own token, not the cached one: Vault ends a lease with its token.
            let client = self.lease_client_for(subject).await?;
            let result = exec::send(&client, request, None).await?;
            let creds = result.data.ok_or(VaultError::Upstream)?;
            let owner = Ownership {
                subject: subject.to_string(),
                lease_id: Some(result.lease_id.clone()),
            };
            // Record the owner before handing the lease out; if that fails, revoke it again.
            let record = Self::lease_record(&subject, &result.lease_id);
            if let Err(error) =
                vaultrs::kv2::set(&*self.base(), &self.kv_mount, &record, &owner).await
            {
                let _ = self.revoke_lease(&result.lease_id).await;
                return Err(error.into());
            }
            // The kill switch disables the entity, then lists the records to revoke: if it
            // listed them before this record was written, the entity is disabled by now, and
            // the lease it missed is revoked here.
            // Not knowing counts as disabled: credentials never handed out are not left live.
            let disabled = self.agent_entity_disabled(&subject).await;
            if !matches!(disabled, Ok(false)) {
                self.revoke_lease(&result.lease_id).await?;
                vaultrs::kv2::delete_metadata(&*self.base(), &self.kv_mount, &record).await?;
                return Err(disabled.err().unwrap_or(VaultError::AgentDisabled));
            }
            Ok(DbCredentials {
                username: creds.username,
                password: creds.password,
                lease_id: result.lease_id,
                lease_duration: u64::from(result.lease_duration),
                renewable: result.renewable,
            })
        })
        .await
    }

    /// Refuses a lease this agent was not issued (including every non-database lease);
    /// returns where its record is.
    async fn check_owner(
        &self,
        subject: Subject<'_>,
        lease_id: &str,
    ) -> Result<String, VaultError> {
        if !lease_id.starts_with(&format!("{}/creds/", self.database_mount)) {
            return Err(VaultError::Forbidden);
        }
        for record in [
            Self::lease_record(&subject, lease_id),
            Self::legacy_lease_record(lease_id),
        ] {
            match vaultrs::kv2::read::<Ownership>(&*self.base(), &self.kv_mount, &record).await {
                Ok(owner) if owner.subject == *subject => return Ok(record),
                Ok(_) => return Err(VaultError::Forbidden),
                Err(error) => match VaultError::from(error) {
                    VaultError::NotFound => continue,
                    other => return Err(other),
                },
            }
        }
        // No record: not issued through the bridge, so not this agent's.
        Err(VaultError::Forbidden)
    }

    pub async fn db_renew(
        &self,
        subject: Subject<'_>,
        lease_id: &str,
        increment: Option<u64>,
    ) -> Result<Lease, VaultError> {
        self.observed("database", "renew", async {
            self.check_owner(subject, lease_id).await?;
            let request = RenewLeaseRequest {
                lease_id: lease_id.to_string(),
                increment: increment.unwrap_or(0),
            };
            let result = exec::send(&self.base(), request, None).await?;
            Ok(Lease {
                lease_id: result.lease_id,
                lease_duration: u64::from(result.lease_duration),
            })
        })
        .await
    }

    pub async fn db_revoke(
        &self,
        subject: Subject<'_>,
        lease_id: &str,
    ) -> Result<Revoked, VaultError> {
        self.observed("database", "revoke", async {
            let record = self.check_owner(subject, lease_id).await?;
            self.revoke_lease(lease_id).await?;
            let _ = vaultrs::kv2::delete_metadata(&*self.base(), &self.kv_mount, &record).await;
            Ok(Revoked {
                lease_id: lease_id.to_string(),
                revoked: true,
            })
        })
        .await
    }

    pub(super) async fn revoke_lease(&self, lease_id: &str) -> Result<(), VaultError> {
        let request = RevokeLeaseRequest {
            lease_id: lease_id.to_string(),
        };
        exec::empty(&self.base(), request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_records() {
        let record = Vault::lease_record("agent_a", "database/creds/readonly/abc");
        assert!(
            record.starts_with("_bridge/leases/agent_a/")
                && record.len() == "_bridge/leases/agent_a/".len() + 64
        );
    }
}

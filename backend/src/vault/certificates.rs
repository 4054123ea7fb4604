//! The records of the client certificates the bridge had signed, and their revocation.
//!
//! Each certificate is recorded, like a database lease, in the KV mount under
//! `_bridge/certificates/{subject}/{serial}` (outside every agent's folder): an agent revokes
//! only certificates it was issued, and the kill switch revokes all of an agent's
//! (`vault::revocation`). Vault's `revoke` cannot be limited to one agent's serials by policy,
//! so the service revokes, after that check. Revoked certificates' digests go to the agent's
//! registry record, from which every Envoy refuses them.

use rustify_derive::Endpoint;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::registry::RevokedDigest;
use super::{Subject, Vault, VaultError, exec};

/// A certificate revoked.
#[derive(Debug, Serialize, JsonSchema, ToSchema)]
pub struct RevokedCertificate {
    pub serial_number: String,
    pub revoked: bool,
}

/// What the bridge keeps of a certificate it had signed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct CertificateRecord {
    pub(super) serial_number: String,
    /// Hex SHA-256 of the certificate's DER: what Envoy names a peer certificate by.
    pub(super) sha256: String,
    /// Unix seconds.
    pub(super) expiration: u64,
    #[serde(default)]
    pub(super) revoked: bool,
}

impl CertificateRecord {
    pub(super) fn digest(&self) -> RevokedDigest {
        RevokedDigest {
            sha256: self.sha256.clone(),
            expires: self.expiration,
        }
    }
}

/// How long after a certificate expires its digest stays listed: an Envoy whose clock is behind
/// the backend's still refuses it.
pub const CLOCK_SKEW_SECONDS: u64 = 300;

/// Most unexpired certificates one agent may hold at once (revoked ones count until they
/// expire): bounds its records and what it can make the bridge write to its registry record.
pub const MAX_LIVE_CERTIFICATES: usize = 20;

/// Folder of the KV mount with one record per certificate, per agent.
const CERTIFICATES: &str = "_bridge/certificates";

/// `POST {mount}/revoke`, with the service's token after the ownership check.
#[derive(Debug, Endpoint)]
#[endpoint(path = "{self.mount}/revoke", method = "POST")]
struct RevokeRequest {
    #[endpoint(skip)]
    mount: String,
    serial_number: String,
}

/// Hex SHA-256 of a PEM certificate's DER.
pub(super) fn der_sha256(pem: &str) -> Option<String> {
    let (_, der) = x509_cert::der::pem::decode_vec(pem.trim().as_bytes()).ok()?;
    Some(hex::encode(Sha256::digest(der)))
}

/// Whether `text` is a serial as Vault writes them (hex, `:`-separated).
pub fn is_serial(text: &str) -> bool {
    serial_key(text).is_some()
}

/// A serial as a record's name: Vault's `xx:xx:…`, lowercase hex without the colons.
fn serial_key(serial: &str) -> Option<String> {
    let key: String = serial.chars().filter(|c| *c != ':').collect();
    (!key.is_empty() && key.len() <= 64 && key.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| key.to_ascii_lowercase())
}

impl Vault {
    pub(super) fn certificate_folder(subject: &str) -> String {
        format!("{CERTIFICATES}/{subject}")
    }

    pub(super) fn certificate_record(subject: &str, serial: &str) -> Option<String> {
        Some(format!(
            "{}/{}",
            Self::certificate_folder(subject),
            serial_key(serial)?
        ))
    }

    /// How many unexpired certificates (revoked or not) the agent holds.
    pub async fn pki_live_certificates(&self, subject: &str) -> Result<usize, VaultError> {
        self.observed("pki", "count", async {
            Ok(self.certificate_records(subject).await?.len())
        })
        .await
    }

    /// Revokes the certificate of `record` (at `path`) in Vault and marks the record so.
    pub(super) async fn revoke_recorded(
        &self,
        path: &str,
        record: CertificateRecord,
    ) -> Result<CertificateRecord, VaultError> {
        self.revoke_certificate(&record.serial_number).await?;
        let revoked = CertificateRecord {
            revoked: true,
            ..record
        };
        vaultrs::kv2::set(&*self.base(), &self.kv_mount, path, &revoked).await?;
        Ok(revoked)
    }

    pub(super) async fn revoke_certificate(&self, serial: &str) -> Result<(), VaultError> {
        let revoke = RevokeRequest {
            mount: self.pki_mount.clone(),
            serial_number: serial.to_string(),
        };
        exec::empty(&self.base(), revoke).await
    }

    /// Revokes a certificate the agent was issued; any other serial is refused (403).
    pub async fn pki_revoke(
        &self,
        subject: Subject<'_>,
        serial: &str,
    ) -> Result<RevokedCertificate, VaultError> {
        self.observed("pki", "revoke", async {
            let path = Self::certificate_record(&subject, serial).ok_or(VaultError::Forbidden)?;
            let record: CertificateRecord =
                match vaultrs::kv2::read(&*self.base(), &self.kv_mount, &path).await {
                    Ok(record) => record,
                    // Not issued to this agent through the bridge.
                    Err(error) => match VaultError::from(error) {
                        VaultError::NotFound => return Err(VaultError::Forbidden),
                        other => return Err(other),
                    },
                };
            let revoked = self.revoke_recorded(&path, record).await?;
            // The edge refuses it from its next snapshot on.
            self.registry_note_revoked(&subject, &[revoked.digest()])
                .await?;
            Ok(RevokedCertificate {
                serial_number: revoked.serial_number,
                revoked: true,
            })
        })
        .await
    }

    /// The agent's certificate records (expired ones deleted on the way), with their paths.
    async fn certificate_records(
        &self,
        subject: &str,
    ) -> Result<Vec<(String, CertificateRecord)>, VaultError> {
        let client = self.base();
        let folder = Self::certificate_folder(subject);
        let mut records = Vec::new();
        for name in self.records_in(&folder).await? {
            let path = format!("{folder}/{name}");
            let record: CertificateRecord =
                vaultrs::kv2::read(&*client, &self.kv_mount, &path).await?;
            if record.expiration + CLOCK_SKEW_SECONDS <= crate::clock::unix_seconds() {
                // Expired: nothing to revoke, nothing for the edge to refuse.
                vaultrs::kv2::delete_metadata(&*client, &self.kv_mount, &path).await?;
            } else {
                records.push((path, record));
            }
        }
        Ok(records)
    }

    /// Revokes every unexpired certificate the agent was issued through the bridge (their
    /// records kept, marked revoked, until they expire); returns the serials revoked now. Every
    /// revoked one is listed for the edge, those of an earlier run that stopped half-way too;
    /// one that fails does not stop the others (the first error is returned after).
    pub async fn revoke_agent_certificates(
        &self,
        subject: &str,
    ) -> Result<Vec<String>, VaultError> {
        self.observed("pki", "revoke_all", async {
            let (mut now_revoked, mut digests, mut failed) = (Vec::new(), Vec::new(), None);
            for (path, record) in self.certificate_records(subject).await? {
                if record.revoked {
                    digests.push(record.digest());
                    continue;
                }
                match self.revoke_recorded(&path, record).await {
                    Ok(revoked) => {
                        digests.push(revoked.digest());
                        now_revoked.push(revoked.serial_number);
                    }
                    Err(error) => {
                        tracing::error!(agent = subject, %error, "a client certificate of the agent could not be revoked");
                        failed.get_or_insert(error);
                    }
                }
            }
            self.registry_note_revoked(subject, &digests).await?;
            match failed {
                Some(error) => Err(error),
                None => Ok(now_revoked),
            }
        })
        .await
    }

    /// The unexpired revoked certificates of `subject`, for an agent added again under a name
    /// an earlier one held: its certificates stay refused.
    pub async fn revoked_certificates_of(
        &self,
        subject: &str,
    ) -> Result<Vec<RevokedDigest>, VaultError> {
        self.observed("pki", "revoked_list", async {
            Ok(self
                .certificate_records(subject)
                .await?
                .iter()
                .filter(|(_, record)| record.revoked)
                .map(|(_, record)| record.digest())
                .collect())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_name_records_only_as_hex() {
        assert_eq!(serial_key("1A:2b:03").as_deref(), Some("1a2b03"));
        for bad in ["", ":", "../x", "1a/2b", "zz", &"a".repeat(65)] {
            assert_eq!(serial_key(bad), None, "{bad}");
        }
    }
}

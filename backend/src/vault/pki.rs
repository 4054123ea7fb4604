//! PKI: client certificates for the agent's own name, signed from a CSR with the agent's own
//! token. The role's `allowed_domains` is templated on the token's entity metadata, so Vault
//! itself refuses a certificate for any other name; the bridge asks for exactly that name.
//! Each one is recorded before it is handed out ([`super::certificates`]).

use rustify_derive::Endpoint;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use super::certificates::{
    CLOCK_SKEW_SECONDS, MAX_LIVE_CERTIFICATES, RevokedCertificate, is_serial,
};
use super::certificates::{CertificateRecord, der_sha256};
use super::{Subject, Vault, VaultError, exec};

/// A signed client certificate and the chain above it; for a key Vault generated, the key (with
/// the rest) behind a response-wrapping token.
#[derive(Debug, Serialize, JsonSchema, ToSchema)]
pub struct IssuedCertificate {
    /// The certificate (PEM).
    pub certificate: String,
    /// The CA that signed it (PEM).
    pub issuing_ca: String,
    /// The chain from the issuing CA up (PEM, one per entry), for the client to present.
    pub ca_chain: Vec<String>,
    /// The serial, as Vault names it (`xx:xx:…`).
    pub serial_number: String,
    /// Unix seconds after which the certificate is no longer valid.
    pub expiration: u64,
    /// Its only name (`MTLS_CN_PREFIX` + subject): the edge maps it to the agent whose record
    /// answers to that certificate name, which `pki.issue` requires to be this agent.
    pub common_name: String,
    /// Without a CSR: a one-time token that unwraps (`sys/wrapping/unwrap`, the token itself
    /// as `X-Vault-Token`) to `private_key`, `private_key_type` and the certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrap_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrap_accessor: Option<String>,
    /// Seconds the wrapping token stays valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrap_ttl: Option<u64>,
}

/// The CA chain agents' certificates are issued under.
#[derive(Debug, Serialize, JsonSchema, ToSchema)]
pub struct CaChain {
    /// The issuing CA first, then each CA above it (PEM, one per entry).
    pub ca_chain: Vec<String>,
}

/// `POST {mount}/sign/{role}` with a CSR, `{mount}/issue/{role}` without (Vault generates the
/// key): only the fields the bridge sets. The CSR's own names are ignored by the role
/// (`use_csr_common_name` and `use_csr_sans` off); the bridge has refused a CSR naming
/// anything else before this.
#[derive(Debug, Endpoint)]
#[endpoint(
    path = "{self.mount}/{self.verb}/{self.role}",
    method = "POST",
    response = "Signed"
)]
struct SignRequest {
    #[endpoint(skip)]
    mount: String,
    #[endpoint(skip)]
    verb: String,
    #[endpoint(skip)]
    role: String,
    csr: Option<String>,
    private_key_format: Option<String>,
    common_name: String,
    exclude_cn_from_sans: bool,
    format: String,
    // rustify leaves out a `None`: the role's default lifetime.
    ttl: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Signed {
    certificate: String,
    issuing_ca: String,
    #[serde(default)]
    ca_chain: Vec<String>,
    serial_number: String,
    expiration: u64,
    /// Only when Vault generated the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    private_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    private_key_type: Option<String>,
}

/// Never the key, wherever a `Signed` is printed.
impl std::fmt::Debug for Signed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signed")
            .field("serial_number", &self.serial_number)
            .field(
                "private_key",
                &self.private_key.as_ref().map(|_| "(hidden)"),
            )
            .finish_non_exhaustive()
    }
}

/// `POST sys/wrapping/wrap`: a generated key, with its certificate, behind a wrapping token.
#[derive(Endpoint)]
#[endpoint(path = "sys/wrapping/wrap", method = "POST")]
struct WrapKey {
    /// `Signed` as JSON: its fields are what the wrapping token unwraps to.
    #[endpoint(raw)]
    issued: Vec<u8>,
}

impl std::fmt::Debug for WrapKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WrapKey(hidden)")
    }
}

/// `GET {mount}/roles/{role}`, for its longest lifetime.
#[derive(Debug, Endpoint)]
#[endpoint(path = "{self.mount}/roles/{self.role}", response = "RoleLimits")]
struct ReadRole {
    #[endpoint(skip)]
    mount: String,
    #[endpoint(skip)]
    role: String,
}

#[derive(Debug, Deserialize)]
struct RoleLimits {
    /// Seconds; 0 means the mount's maximum.
    #[serde(default)]
    max_ttl: u64,
}

/// `GET {mount}/cert/ca_chain`: unauthenticated in Vault, the chain as one PEM text.
#[derive(Debug, Endpoint)]
#[endpoint(path = "{self.mount}/cert/ca_chain", response = "ChainText")]
struct ReadChain {
    #[endpoint(skip)]
    mount: String,
}

#[derive(Debug, Deserialize)]
struct ChainText {
    #[serde(default)]
    ca_chain: Option<String>,
    #[serde(default)]
    certificate: String,
}

/// The PEM blocks of `text`, each with its own BEGIN and END lines.
fn pem_blocks(text: &str) -> Vec<String> {
    const END: &str = "-----END CERTIFICATE-----";
    text.split_inclusive(END)
        .map(str::trim)
        .filter(|block| block.ends_with(END))
        .map(str::to_string)
        .collect()
}

impl Vault {
    /// The CN of the agent's certificates: `MTLS_CN_PREFIX` and its subject.
    pub fn certificate_name(&self, subject: Subject<'_>) -> String {
        format!("{}{}", self.cn_prefix, subject)
    }

    /// The longest lifetime `role` gives, in seconds (`None`: the role sets none itself).
    pub async fn pki_role_max_ttl(&self, role: &str) -> Result<Option<u64>, VaultError> {
        self.observed("pki", "read_role", async {
            let read = ReadRole {
                mount: self.pki_mount.clone(),
                role: role.to_string(),
            };
            let limits = exec::data(&self.base(), read).await?;
            Ok((limits.max_ttl > 0).then_some(limits.max_ttl))
        })
        .await
    }

    /// A certificate for the agent's own name: for the key of `csr`, or (none) for a key Vault
    /// generates, handed out only wrapped for `wrap_ttl`.
    pub async fn pki_issue(
        &self,
        subject: Subject<'_>,
        role: &str,
        csr: Option<&str>,
        ttl: Option<&str>,
        wrap_ttl: &str,
    ) -> Result<IssuedCertificate, VaultError> {
        let common_name = self.certificate_name(subject);
        let verb = if csr.is_some() { "sign" } else { "issue" };
        self.as_agent("pki", verb, subject, move |client| async move {
            let request = SignRequest {
                mount: self.pki_mount.clone(),
                verb: verb.into(),
                role: role.to_string(),
                csr: csr.map(str::to_string),
                private_key_format: csr.is_none().then(|| "pkcs8".into()),
                common_name: common_name.clone(),
                exclude_cn_from_sans: true,
                format: "pem".into(),
                ttl: ttl.map(str::to_string),
            };
            let signed = exec::data(&client, request).await?;
            let record = CertificateRecord {
                serial_number: signed.serial_number.clone(),
                sha256: der_sha256(&signed.certificate).ok_or(VaultError::Upstream)?,
                expiration: signed.expiration,
                revoked: false,
            };
            let path = Self::certificate_record(&subject, &record.serial_number)
                .ok_or(VaultError::Upstream)?;
            // Recorded before it is handed out; if that fails, revoked at once.
            if let Err(error) =
                vaultrs::kv2::set(&*self.base(), &self.kv_mount, &path, &record).await
            {
                if let Err(revoking) = self.revoke_certificate(&record.serial_number).await {
                    tracing::error!(agent = %subject, serial = %record.serial_number, error = %revoking, "a certificate whose record failed could not be revoked");
                }
                return Err(error.into());
            }
            // As for leases: the kill switch disables the entity, then lists the records; one
            // written after that listing is revoked here. Not knowing counts as disabled.
            let disabled = self.agent_entity_disabled(&subject).await;
            if !matches!(disabled, Ok(false)) {
                let revoked = self.revoke_recorded(&path, record).await?;
                self.registry_note_revoked(&subject, &[revoked.digest()])
                    .await?;
                return Err(disabled.err().unwrap_or(VaultError::AgentDisabled));
            }
            let ca_chain = if signed.ca_chain.is_empty() {
                vec![signed.issuing_ca.clone()]
            } else {
                signed.ca_chain.clone()
            };
            let wrapped = match signed.private_key {
                None => None,
                Some(_) => match self.wrap_issued(&signed, wrap_ttl).await {
                    Ok(info) => Some(info),
                    // A certificate whose key nobody can have is not left valid.
                    Err(error) => {
                        if let Err(revoking) = self.revoke_certificate(&signed.serial_number).await
                        {
                            tracing::error!(agent = %subject, serial = %signed.serial_number, error = %revoking, "a certificate whose key could not be wrapped could not be revoked");
                        }
                        return Err(error);
                    }
                },
            };
            Ok(IssuedCertificate {
                certificate: signed.certificate,
                issuing_ca: signed.issuing_ca,
                ca_chain,
                serial_number: signed.serial_number,
                expiration: signed.expiration,
                common_name: common_name.clone(),
                wrap_token: wrapped.as_ref().map(|w| w.token.clone()),
                wrap_accessor: wrapped.as_ref().map(|w| w.accessor.clone()),
                wrap_ttl: wrapped.map(|w| w.ttl),
            })
        })
        .await
    }

    /// `issued` (with the key Vault generated) behind a wrapping token, with the service's
    /// token: the key is in the bridge's memory for this call only, never in a log or answer.
    async fn wrap_issued(
        &self,
        issued: &Signed,
        ttl: &str,
    ) -> Result<vaultrs::api::WrapInfo, VaultError> {
        let client = self.base();
        let mut middleware = client.middle.clone();
        middleware.wrap = Some(ttl.to_string());
        let request = WrapKey {
            issued: serde_json::to_vec(issued).map_err(|_| VaultError::Upstream)?,
        };
        exec::send(&client, request, Some(&middleware))
            .await?
            .wrap_info
            .ok_or(VaultError::Upstream)
    }

    pub async fn pki_ca_chain(&self) -> Result<CaChain, VaultError> {
        self.observed("pki", "ca_chain", async {
            let read = ReadChain {
                mount: self.pki_mount.clone(),
            };
            let chain = exec::data(&self.base(), read).await?;
            let text = chain.ca_chain.unwrap_or(chain.certificate);
            Ok(CaChain {
                ca_chain: pem_blocks(&text),
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_splits_into_its_certificates() {
        let one = "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----";
        let two = "-----BEGIN CERTIFICATE-----\nBBB\n-----END CERTIFICATE-----";
        assert_eq!(pem_blocks(&format!("{one}\n{two}\n")), [one, two]);
        assert!(pem_blocks("").is_empty());
    }
}

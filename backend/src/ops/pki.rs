//! PKI: a client certificate for the agent's own name, from a CSR (the private key stays with
//! the agent), and the CA chain it is issued under.
//!
//! The CSR is read before Vault sees it: one whose subject names anyone else, or that asks for
//! subject alternative names, is refused rather than signed for a name it did not ask for
//! (the role would ignore them and sign anyway). Vault enforces the name again: the role's
//! `allowed_domains` is templated on the agent token's entity.

use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::traits::PublicKeyParts;
use schemars::JsonSchema;
use serde::Deserialize;
use utoipa::ToSchema;
use x509_cert::der::DecodePem;
use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::request::{CertReq, ExtensionReq};

use super::Allowed;
use super::input::{Invalid, RoleName, WrapTtl, allowed_role, lifetime_seconds};
use super::{Operation, Traits};
use crate::error::ApiError;
use crate::vault::Vault;
use crate::vault::pki::{
    CaChain, IssuedCertificate, MAX_LIVE_CERTIFICATES, RevokedCertificate, is_serial,
};

/// The smallest RSA key a certificate is issued for.
pub const MIN_RSA_BITS: usize = 2048;
/// The longest CSR taken (a 4096-bit RSA CSR is under 2 KiB).
const MAX_CSR_BYTES: usize = 16 * 1024;

const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
const EXTENSION_REQUEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.14");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// A PEM certificate request, parsed: its common names and whether it asks for other names.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct Csr {
    pem: String,
    common_names: Vec<String>,
    asks_alt_names: bool,
}

impl TryFrom<String> for Csr {
    type Error = Invalid;

    fn try_from(pem: String) -> Result<Self, Invalid> {
        if pem.len() > MAX_CSR_BYTES {
            return Err(Invalid(format!("csr is longer than {MAX_CSR_BYTES} bytes")));
        }
        let request = CertReq::from_pem(pem.trim()).map_err(|_| {
            Invalid(
                "csr must be one PEM certificate request (-----BEGIN CERTIFICATE REQUEST-----)"
                    .into(),
            )
        })?;
        let info = &request.info;
        if info.public_key.algorithm.oid == RSA_ENCRYPTION {
            let bits =
                rsa::RsaPublicKey::from_pkcs1_der(info.public_key.subject_public_key.raw_bytes())
                    .map_err(|_| Invalid("csr: its RSA public key does not parse".into()))?
                    .n()
                    .bits();
            if bits < MIN_RSA_BITS {
                return Err(Invalid(format!(
                    "csr: a {bits}-bit RSA key is too weak; at least {MIN_RSA_BITS} bits"
                )));
            }
        }
        let common_names = info
            .subject
            .0
            .iter()
            .flat_map(|rdn| rdn.0.iter())
            .filter(|atv| atv.oid == COMMON_NAME)
            // UTF8String, PrintableString, IA5String: the bytes are the text.
            .map(|atv| {
                std::str::from_utf8(atv.value.value())
                    .map(str::to_string)
                    .map_err(|_| Invalid("csr: its common name is not text".into()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut asks_alt_names = false;
        for attribute in info.attributes.iter() {
            if attribute.oid != EXTENSION_REQUEST {
                continue;
            }
            for value in attribute.values.iter() {
                let extensions: ExtensionReq = value
                    .decode_as()
                    .map_err(|_| Invalid("csr: its requested extensions do not parse".into()))?;
                asks_alt_names |= extensions.0.iter().any(|e| e.extn_id == SUBJECT_ALT_NAME);
            }
        }
        Ok(Self {
            pem,
            common_names,
            asks_alt_names,
        })
    }
}

/// Both are strings to a caller.
macro_rules! string_schema {
    ($($name:ident: $description:literal),*) => {$(
        impl JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn inline_schema() -> bool {
                true
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({ "type": "string", "description": $description })
            }
        }
    )*};
}

string_schema!(
    Csr: "A PEM certificate request (-----BEGIN CERTIFICATE REQUEST-----).",
    CertTtl: "A lifetime like 90s, 30m or 24h."
);

impl Csr {
    /// Refuses a request for any name but `own` (an absent CN is fine: Vault writes `own`).
    fn names_only(&self, own: &str) -> Result<(), ApiError> {
        if self.asks_alt_names {
            return Err(ApiError::NotAllowed(
                "the csr asks for subject alternative names; an agent's certificate has one name, its own".into(),
            ));
        }
        match self.common_names.as_slice() {
            [] => Ok(()),
            [name] if name == own => Ok(()),
            [name] if name.contains('*') => Err(ApiError::NotAllowed(format!(
                "the csr asks for a wildcard name ({name:?}); an agent's certificate names only {own:?}"
            ))),
            _ => Err(ApiError::NotAllowed(format!(
                "the csr names {:?}; an agent's certificate names only {own:?}",
                self.common_names
            ))),
        }
    }
}

/// A certificate lifetime: `90s`, `30m`, `24h` (1 s to 8760 h).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct CertTtl {
    text: String,
    seconds: u64,
}

impl TryFrom<String> for CertTtl {
    type Error = Invalid;

    fn try_from(text: String) -> Result<Self, Invalid> {
        match lifetime_seconds(&text) {
            Some(seconds) if (1..=8760 * 3600).contains(&seconds) => Ok(Self { text, seconds }),
            _ => Err(Invalid(
                "ttl must be like 90s, 30m or 24h, at most 8760h".into(),
            )),
        }
    }
}

/// `pki.issue`; `POST /pki/issue`.
#[derive(Debug, Clone, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PkiIssue {
    /// The PKI role; the first allowed one when absent.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub role: Option<RoleName>,
    /// A PEM certificate request for the agent's own key (preferred: the key never leaves the
    /// agent). Its subject may name the agent (`MTLS_CN_PREFIX` + subject) or nothing; other
    /// names and SANs are refused. Absent: Vault generates the key, handed out wrapped.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub csr: Option<Csr>,
    /// Lifetime, e.g. `1h`; the role's default when absent, refused beyond its maximum.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub ttl: Option<CertTtl>,
    /// Without a CSR: how long the wrapping token of the generated key stays valid (`30s`,
    /// `5m`, `1h`; at most `24h`; default `5m`). With a CSR there is nothing to wrap.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub wrap_ttl: Option<WrapTtl>,
}

/// How long a generated key's wrapping token lives when the request does not say.
const DEFAULT_WRAP_TTL: &str = "5m";

impl Operation for PkiIssue {
    const NAME: &'static str = "pki.issue";
    const DESCRIPTION: &'static str = "A client certificate naming only this agent, which then authenticates it at the edge's mTLS listener: for the key of a CSR (preferred), or for a key Vault generates, returned behind a one-time wrapping token.";
    const TRAITS: Traits = Traits::adds();
    type Output = IssuedCertificate;

    async fn run(
        &self,
        vault: &Vault,
        agent: &Allowed<'_, Self>,
    ) -> Result<IssuedCertificate, ApiError> {
        // Its certificates carry its subject as their name: the edge maps them to the agent whose
        // record names that certificate, which must then be this agent, not another.
        let record = vault.registry_record(&agent.subject).await?;
        if record.and_then(|r| r.certificate).as_deref() != Some(agent.subject.as_str()) {
            return Err(ApiError::NotAllowed(format!(
                "this agent's certificates would name {0:?}, and its registry record does not \
                 answer to that certificate name (agents update {0} --certificate-cn {0})",
                agent.subject
            )));
        }
        if vault.pki_live_certificates(&agent.subject).await? >= MAX_LIVE_CERTIFICATES {
            return Err(ApiError::Conflict(format!(
                "this agent holds {MAX_LIVE_CERTIFICATES} unexpired certificates (revoked ones \
                 count until they expire): use those, or wait until some expire"
            )));
        }
        if let Some(csr) = &self.csr {
            if self.wrap_ttl.is_some() {
                return Err(ApiError::BadRequest(
                    "wrap_ttl is for keys Vault generates; a CSR's key is the agent's own".into(),
                ));
            }
            csr.names_only(&vault.certificate_name(agent.into()))?;
        }
        let roles = vault.roles_for(agent.into()).await?;
        let role = allowed_role(&roles.pki, self.role.as_ref())?;
        if let Some(ttl) = &self.ttl
            && let Some(max) = vault.pki_role_max_ttl(role).await?
            && ttl.seconds > max
        {
            return Err(ApiError::BadRequest(format!(
                "ttl {} is longer than the role '{role}' allows ({max} s)",
                ttl.text
            )));
        }
        let wrap_ttl = self
            .wrap_ttl
            .as_ref()
            .map_or(DEFAULT_WRAP_TTL, WrapTtl::as_str);
        Ok(vault
            .pki_issue(
                agent.into(),
                role,
                self.csr.as_ref().map(|csr| csr.pem.as_str()),
                self.ttl.as_ref().map(|t| t.text.as_str()),
                wrap_ttl,
            )
            .await?)
    }
}

/// `pki.revoke`; `POST /pki/revoke`.
#[derive(Debug, Clone, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PkiRevoke {
    /// The serial of a certificate this agent was issued (`xx:xx:…`, as `pki.issue` gave it).
    pub serial_number: String,
}

impl Operation for PkiRevoke {
    const NAME: &'static str = "pki.revoke";
    const DESCRIPTION: &'static str =
        "Revoke a client certificate this agent was issued, by serial.";
    const TRAITS: Traits = Traits::removes().idempotent();
    type Output = RevokedCertificate;

    async fn run(
        &self,
        vault: &Vault,
        agent: &Allowed<'_, Self>,
    ) -> Result<RevokedCertificate, ApiError> {
        if !is_serial(&self.serial_number) {
            return Err(ApiError::Arguments {
                field: "serial_number".into(),
                message: "a certificate serial in hex, as xx:xx:… (pki.issue gives it)".into(),
            });
        }
        Ok(vault.pki_revoke(agent.into(), &self.serial_number).await?)
    }

    fn summary(&self) -> String {
        format!(
            "revoke the client certificate {:?} (it no longer authenticates)",
            self.serial_number
        )
    }
}

/// `pki.ca`; `GET /pki/ca`.
#[derive(Debug, Clone, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PkiCa {}

impl Operation for PkiCa {
    const NAME: &'static str = "pki.ca";
    const DESCRIPTION: &'static str =
        "The CA chain agents' client certificates are issued under (PEM).";
    const TRAITS: Traits = Traits::reads().idempotent();
    type Output = CaChain;

    async fn run(&self, vault: &Vault, _agent: &Allowed<'_, Self>) -> Result<CaChain, ApiError> {
        Ok(vault.pki_ca_chain().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes() {
        for (ok, seconds) in [("90s", 90), ("30m", 1800), ("8760h", 8760 * 3600)] {
            assert_eq!(CertTtl::try_from(ok.to_string()).unwrap().seconds, seconds);
        }
        for bad in ["", "0s", "1d", "8761h", "-1h", "1.5h", "h"] {
            assert!(CertTtl::try_from(bad.to_string()).is_err(), "{bad}");
        }
    }

    #[test]
    fn not_a_csr() {
        for bad in [
            "",
            "hello",
            "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----",
        ] {
            assert!(Csr::try_from(bad.to_string()).is_err(), "{bad}");
        }
        assert!(Csr::try_from("A".repeat(MAX_CSR_BYTES + 1)).is_err());
    }

    /// CSRs made by OpenSSL (`backend/tests/csr/`), asked for by `agent_api`.
    fn csr(name: &str) -> Result<Csr, Invalid> {
        let path = format!("{}/tests/csr/{name}.csr", env!("CARGO_MANIFEST_DIR"));
        Csr::try_from(std::fs::read_to_string(path).unwrap())
    }

    fn refusal(name: &str) -> String {
        csr(name)
            .unwrap()
            .names_only("agent_api")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_csr_for_the_agents_own_name_or_none_is_taken() {
        for name in ["own", "nameless", "ec"] {
            csr(name).unwrap().names_only("agent_api").unwrap();
        }
        assert_eq!(csr("own").unwrap().common_names, ["agent_api"]);
    }

    #[test]
    fn a_csr_for_any_other_name_is_refused() {
        assert!(refusal("other").contains(r#"names ["agent_ops"]"#));
        assert!(refusal("wildcard").contains("wildcard"));
        assert!(refusal("san").contains("subject alternative names"));
        // With a prefix, the bare subject is another name.
        let refused = csr("own").unwrap().names_only("agent:agent_api");
        assert!(matches!(refused, Err(ApiError::NotAllowed(_))));
    }

    #[test]
    fn a_weak_rsa_key_is_refused() {
        let error = csr("weak").unwrap_err().to_string();
        assert!(error.contains("1024-bit RSA key is too weak"), "{error}");
    }
}

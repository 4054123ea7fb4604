//! Transit: encryption as a service with the agent's own keys. Each agent has an encryption key
//! named after it (`{subject}`, AES-256-GCM) in the Transit mount, the only keys there, and a
//! signing key (RSA-2048) among the keys it names itself, as [`SIGNING_KEY`]: both used when it
//! names no key. Keys it names itself (the seed's `key`) live in a mount of their own under
//! [`named_key`], a name no other agent can reach. No name derived from one agent's subject can
//! be derived from another's (an earlier `{subject}-signing` in the Transit mount was agent
//! `{subject}-signing`'s encryption key). What
//! callers send is checked by the operations in `crate::ops::transit`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vaultrs::api::transit::requests::{
    CreateKeyRequest, DecryptDataRequest, EncryptDataRequest, GenerateRandomBytesRequest,
    RandomBytesSource, ReadKeyRequest, RewrapDataRequest, SignDataRequest, VerifySignedDataRequest,
};
use vaultrs::api::transit::{HashAlgorithm, KeyType, OutputFormat, SignatureAlgorithm};

use super::{Subject, Vault, VaultError, exec};

#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema, ToSchema)]
pub enum Hash {
    #[serde(rename = "sha2-224")]
    Sha2_224,
    #[serde(rename = "sha2-256")]
    Sha2_256,
    #[serde(rename = "sha2-384")]
    Sha2_384,
    #[serde(rename = "sha2-512")]
    Sha2_512,
    #[serde(rename = "sha3-256")]
    Sha3_256,
    #[serde(rename = "sha3-512")]
    Sha3_512,
}

impl From<Hash> for HashAlgorithm {
    fn from(hash: Hash) -> Self {
        match hash {
            Hash::Sha2_224 => HashAlgorithm::Sha2_224,
            Hash::Sha2_256 => HashAlgorithm::Sha2_256,
            Hash::Sha2_384 => HashAlgorithm::Sha2_384,
            Hash::Sha2_512 => HashAlgorithm::Sha2_512,
            Hash::Sha3_256 => HashAlgorithm::Sha3_256,
            Hash::Sha3_512 => HashAlgorithm::Sha3_512,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    Pss,
    Pkcs1v15,
}

impl From<Padding> for SignatureAlgorithm {
    fn from(padding: Padding) -> Self {
        match padding {
            Padding::Pss => SignatureAlgorithm::Pss,
            Padding::Pkcs1v15 => SignatureAlgorithm::Pkcs1v15,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, JsonSchema, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RandomFormat {
    #[default]
    Base64,
    Hex,
}

/// Options of a signature (the same for signing and verifying); Vault's defaults (sha2-256,
/// pss) when absent.
#[derive(Debug, Default, Clone, Copy)]
pub struct SignatureOptions {
    pub hash_algorithm: Option<Hash>,
    pub signature_algorithm: Option<Padding>,
}

#[derive(Debug, Serialize, JsonSchema, ToSchema)]
pub struct Ciphertext {
    /// `vault:v{key version}:…`; only this agent's key decrypts it.
    pub ciphertext: String,
}

/// What a ciphertext is made of: a plaintext (encrypt) or an older ciphertext (rewrap).
#[derive(Clone, Copy)]
enum Encipher<'a> {
    Plaintext(&'a str),
    Ciphertext(&'a str),
}

#[derive(Debug, Serialize, JsonSchema, ToSchema)]
pub struct Plaintext {
    /// The plaintext as base64 (the seed's field).
    pub plaintext: String,
    /// The same, as this bridge has always answered it.
    pub base64: String,
    /// The plaintext as text, when it is valid UTF-8.
    pub text: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema, ToSchema)]
pub struct Signature {
    /// `vault:v{key version}:…`
    pub signature: String,
}

#[derive(Debug, Serialize, JsonSchema, ToSchema)]
pub struct Verification {
    pub valid: bool,
}

#[derive(Debug, Serialize, JsonSchema, ToSchema)]
pub struct RandomBytes {
    pub random: String,
    pub format: RandomFormat,
    pub bytes: u32,
}

/// The Vault name of the key `name` of agent `subject`: `{len(subject)}_{subject}_{name}`. The
/// length comes first, so the prefix `{len}_{subject}_` is one subject's alone: another
/// subject's names start with its own length and subject, and no subject's prefix is another's
/// (the digits before the first `_` fix how long the subject is). A policy glob on that prefix
/// confines an agent to its own keys, whatever names exist.
pub fn named_key(subject: &str, name: &str) -> String {
    format!("{}_{subject}_{name}", subject.len())
}

/// The name, among its own keys, of the agent's default signing key.
pub const SIGNING_KEY: &str = "signing";

/// Where an earlier version kept an agent's signing key (the Transit mount, `{subject}-signing`):
/// start-up refuses while one exists (`agents migrate`).
pub fn legacy_signing_key(subject: &str) -> String {
    format!("{subject}-signing")
}

/// The types of key an agent may create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema, ToSchema)]
pub enum NewKeyType {
    #[serde(rename = "aes256-gcm96")]
    Aes256Gcm96,
    #[serde(rename = "ed25519")]
    Ed25519,
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    #[serde(rename = "rsa-2048")]
    Rsa2048,
}

impl From<NewKeyType> for KeyType {
    fn from(kind: NewKeyType) -> Self {
        match kind {
            NewKeyType::Aes256Gcm96 => KeyType::Aes256Gcm96,
            NewKeyType::Ed25519 => KeyType::Ed25519,
            NewKeyType::EcdsaP256 => KeyType::EcdsaP256,
            NewKeyType::Rsa2048 => KeyType::Rsa2048,
        }
    }
}

/// A key an agent named, as Vault holds it.
#[derive(Debug, Serialize, JsonSchema, ToSchema)]
pub struct KeyInfo {
    /// The name the agent uses.
    pub name: String,
    /// Vault's type of the key (`aes256-gcm96`, `ed25519`, …).
    #[serde(rename = "type")]
    pub key_type: String,
    pub supports_encryption: bool,
    pub supports_signing: bool,
}

impl Vault {
    /// Mount and Vault name of the key for encryption: the agent's own, or one it named.
    fn encryption_key(&self, subject: Subject<'_>, key: Option<&str>) -> (&str, String) {
        match key {
            None => (&self.transit_mount, subject.to_string()),
            Some(name) => (&self.transit_named_mount, named_key(&subject, name)),
        }
    }

    /// Mount and Vault name of the key for signatures: the agent's own, or one it named.
    fn signing_key(&self, subject: Subject<'_>, key: Option<&str>) -> (&str, String) {
        match key {
            None => (&self.transit_named_mount, named_key(&subject, SIGNING_KEY)),
            Some(name) => (&self.transit_named_mount, named_key(&subject, name)),
        }
    }
}

/// Sets the hash and padding a caller chose on a sign or a verify request: two builder types
/// with the same setters, which no trait of vaultrs names.
macro_rules! signature_options {
    ($builder:ident, $options:expr) => {
        if let Some(hash) = $options.hash_algorithm {
            $builder.hash_algorithm(HashAlgorithm::from(hash));
        }
        if let Some(padding) = $options.signature_algorithm {
            $builder.signature_algorithm(SignatureAlgorithm::from(padding));
        }
    };
}

impl Vault {
    pub async fn transit_encrypt(
        &self,
        subject: Subject<'_>,
        key: Option<&str>,
        plaintext_b64: &str,
    ) -> Result<Ciphertext, VaultError> {
        self.ciphertext(subject, key, Encipher::Plaintext(plaintext_b64))
            .await
    }

    pub async fn transit_decrypt(
        &self,
        subject: Subject<'_>,
        key: Option<&str>,
        ciphertext: &str,
    ) -> Result<Plaintext, VaultError> {
        self.as_agent("transit", "decrypt", subject, move |client| async move {
            let (mount, name) = self.encryption_key(subject, key);
            let request = DecryptDataRequest::builder()
                .mount(mount)
                .name(name)
                .ciphertext(ciphertext)
                .build()
                .map_err(|_| VaultError::Upstream)?;
            let response = exec::data(&client, request).await?;
            let text = STANDARD
                .decode(&response.plaintext)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok());
            Ok(Plaintext {
                base64: response.plaintext.clone(),
                plaintext: response.plaintext,
                text,
            })
        })
        .await
    }

    /// Re-encrypts with the latest version of the agent's key, without revealing the plaintext.
    pub async fn transit_rewrap(
        &self,
        subject: Subject<'_>,
        key: Option<&str>,
        ciphertext: &str,
    ) -> Result<Ciphertext, VaultError> {
        self.ciphertext(subject, key, Encipher::Ciphertext(ciphertext))
            .await
    }

    /// A ciphertext under the latest version of the agent's encryption key (its own, or one it
    /// named): of a plaintext, or of an older ciphertext.
    async fn ciphertext(
        &self,
        subject: Subject<'_>,
        key: Option<&str>,
        input: Encipher<'_>,
    ) -> Result<Ciphertext, VaultError> {
        let operation = match input {
            Encipher::Plaintext(_) => "encrypt",
            Encipher::Ciphertext(_) => "rewrap",
        };
        self.as_agent("transit", operation, subject, move |client| async move {
            let (mount, name) = self.encryption_key(subject, key);
            let ciphertext = match input {
                // A named key that does not exist yet is created (aes256-gcm96): Vault's upsert.
                Encipher::Plaintext(plaintext_b64) => {
                    let request = EncryptDataRequest::builder()
                        .mount(mount)
                        .name(name)
                        .plaintext(plaintext_b64)
                        .build()
                        .map_err(|_| VaultError::Upstream)?;
                    exec::data(&client, request).await?.ciphertext
                }
                Encipher::Ciphertext(ciphertext) => {
                    let request = RewrapDataRequest::builder()
                        .mount(mount)
                        .name(name)
                        .ciphertext(ciphertext)
                        .build()
                        .map_err(|_| VaultError::Upstream)?;
                    exec::data(&client, request).await?.ciphertext
                }
            };
            Ok(Ciphertext { ciphertext })
        })
        .await
    }

    pub async fn transit_sign(
        &self,
        subject: Subject<'_>,
        key: Option<&str>,
        input_b64: &str,
        options: &SignatureOptions,
    ) -> Result<Signature, VaultError> {
        self.as_agent("transit", "sign", subject, move |client| async move {
            let (mount, name) = self.signing_key(subject, key);
            let mut request = SignDataRequest::builder();
            signature_options!(request, options);
            let request = request
                .mount(mount)
                .name(name.as_str())
                .input(input_b64)
                .build()
                .map_err(|_| VaultError::Upstream)?;
            let response = exec::data(&client, request).await?;
            Ok(Signature {
                signature: response.signature,
            })
        })
        .await
    }

    pub async fn transit_verify(
        &self,
        subject: Subject<'_>,
        key: Option<&str>,
        input_b64: &str,
        signature: &str,
        options: &SignatureOptions,
    ) -> Result<Verification, VaultError> {
        self.as_agent("transit", "verify", subject, move |client| async move {
            let (mount, name) = self.signing_key(subject, key);
            let mut request = VerifySignedDataRequest::builder();
            request.signature(signature);
            signature_options!(request, options);
            let request = request
                .mount(mount)
                .name(name.as_str())
                .input(input_b64)
                .build()
                .map_err(|_| VaultError::Upstream)?;
            let response = exec::data(&client, request).await?;
            Ok(Verification {
                valid: response.valid,
            })
        })
        .await
    }

    /// Creates the agent's key `name` (or leaves an existing one as it is) and says what it is.
    pub async fn transit_create_key(
        &self,
        subject: Subject<'_>,
        name: &str,
        key_type: NewKeyType,
    ) -> Result<KeyInfo, VaultError> {
        self.as_agent("transit", "create_key", subject, move |client| async move {
            let vault_name = named_key(&subject, name);
            let request = CreateKeyRequest::builder()
                .mount(&self.transit_named_mount)
                .name(&vault_name)
                .key_type(KeyType::from(key_type))
                .build()
                .map_err(|_| VaultError::Upstream)?;
            exec::empty(&client, request).await?;
            let request = ReadKeyRequest::builder()
                .mount(&self.transit_named_mount)
                .name(&vault_name)
                .build()
                .map_err(|_| VaultError::Upstream)?;
            let key = exec::data(&client, request).await?;
            let key_type = serde_json::to_value(key.key_type)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            Ok(KeyInfo {
                name: name.to_string(),
                key_type,
                supports_encryption: key.supports_encryption,
                supports_signing: key.supports_signing,
            })
        })
        .await
    }

    pub async fn transit_random(
        &self,
        subject: Subject<'_>,
        bytes: u32,
        format: RandomFormat,
    ) -> Result<RandomBytes, VaultError> {
        self.as_agent("transit", "random", subject, move |client| async move {
            let mut request = GenerateRandomBytesRequest::builder();
            request.bytes(bytes);
            let output = match format {
                RandomFormat::Base64 => OutputFormat::Base64,
                RandomFormat::Hex => OutputFormat::Hex,
            };
            let request = request
                .mount(&self.transit_mount)
                .format(output)
                .source(RandomBytesSource::Platform)
                .build()
                .map_err(|_| VaultError::Upstream)?;
            let response = exec::data(&client, request).await?;
            Ok(RandomBytes {
                random: response.random_bytes,
                format,
                bytes,
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_keys_of_one_agent_never_start_like_another_agents() {
        assert_eq!(named_key("agent_api", "k"), "9_agent_api_k");
        // "a" and "a_1" (and "1_a") cannot share a prefix: the length differs or the subject does.
        let a = named_key("a", "");
        for (other, name) in [("a_1", "x"), ("1_a", "x"), ("a_", "x"), ("1", "a_x")] {
            assert!(!named_key(other, name).starts_with(&a), "{other} {name}");
        }
    }

    #[test]
    fn algorithm_names_are_vaults() {
        let hash: Hash = serde_json::from_str(r#""sha2-512""#).unwrap();
        assert!(matches!(HashAlgorithm::from(hash), HashAlgorithm::Sha2_512));
        assert!(serde_json::from_str::<Hash>(r#""md5""#).is_err());
        let padding: Padding = serde_json::from_str(r#""pkcs1v15""#).unwrap();
        assert!(matches!(
            SignatureAlgorithm::from(padding),
            SignatureAlgorithm::Pkcs1v15
        ));
    }
}

//! Transit: encryption as a service with the agent's own keys. Each agent has an encryption key
//! named after it (`{subject}`, AES-256-GCM) and a signing key (`{subject}-signing`, RSA-2048);
//! it never names a key, so it can never use another agent's. What callers send is checked by
//! the operations in `crate::ops::transit`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vaultrs::api::transit::requests::{
    DecryptDataRequest, EncryptDataRequest, GenerateRandomBytesRequest, RandomBytesSource,
    RewrapDataRequest, SignDataRequest, VerifySignedDataRequest,
};
use vaultrs::api::transit::{HashAlgorithm, OutputFormat, SignatureAlgorithm};

use super::{Vault, VaultError, exec};
use vault_mcp_filter::Identity as Agent;

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

#[derive(Debug, Serialize, JsonSchema, ToSchema)]
pub struct Plaintext {
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

fn signing_key(agent: &Agent) -> String {
    format!("{}-signing", agent.subject)
}

impl Vault {
    pub async fn transit_encrypt(
        &self,
        agent: &Agent,
        plaintext_b64: &str,
    ) -> Result<Ciphertext, VaultError> {
        self.observed("transit", "encrypt", async {
            let client = self.client_for(agent).await?;
            let request = EncryptDataRequest::builder()
                .mount(&self.transit_mount)
                .name(&agent.subject)
                .plaintext(plaintext_b64)
                .build()
                .map_err(|_| VaultError::Upstream)?;
            let response = exec::data(&client, request).await?;
            Ok(Ciphertext {
                ciphertext: response.ciphertext,
            })
        })
        .await
    }

    pub async fn transit_decrypt(
        &self,
        agent: &Agent,
        ciphertext: &str,
    ) -> Result<Plaintext, VaultError> {
        self.observed("transit", "decrypt", async {
            let client = self.client_for(agent).await?;
            let request = DecryptDataRequest::builder()
                .mount(&self.transit_mount)
                .name(&agent.subject)
                .ciphertext(ciphertext)
                .build()
                .map_err(|_| VaultError::Upstream)?;
            let response = exec::data(&client, request).await?;
            let text = STANDARD
                .decode(&response.plaintext)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok());
            Ok(Plaintext {
                base64: response.plaintext,
                text,
            })
        })
        .await
    }

    /// Re-encrypts with the latest version of the agent's key, without revealing the plaintext.
    pub async fn transit_rewrap(
        &self,
        agent: &Agent,
        ciphertext: &str,
    ) -> Result<Ciphertext, VaultError> {
        self.observed("transit", "rewrap", async {
            let client = self.client_for(agent).await?;
            let request = RewrapDataRequest::builder()
                .mount(&self.transit_mount)
                .name(&agent.subject)
                .ciphertext(ciphertext)
                .build()
                .map_err(|_| VaultError::Upstream)?;
            let response = exec::data(&client, request).await?;
            Ok(Ciphertext {
                ciphertext: response.ciphertext,
            })
        })
        .await
    }

    pub async fn transit_sign(
        &self,
        agent: &Agent,
        input_b64: &str,
        options: &SignatureOptions,
    ) -> Result<Signature, VaultError> {
        self.observed("transit", "sign", async {
            let client = self.client_for(agent).await?;
            let mut request = SignDataRequest::builder();
            if let Some(hash) = options.hash_algorithm {
                request.hash_algorithm(HashAlgorithm::from(hash));
            }
            if let Some(padding) = options.signature_algorithm {
                request.signature_algorithm(SignatureAlgorithm::from(padding));
            }
            let request = request
                .mount(&self.transit_mount)
                .name(signing_key(agent))
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
        agent: &Agent,
        input_b64: &str,
        signature: &str,
        options: &SignatureOptions,
    ) -> Result<Verification, VaultError> {
        self.observed("transit", "verify", async {
            let client = self.client_for(agent).await?;
            let mut request = VerifySignedDataRequest::builder();
            request.signature(signature);
            if let Some(hash) = options.hash_algorithm {
                request.hash_algorithm(HashAlgorithm::from(hash));
            }
            if let Some(padding) = options.signature_algorithm {
                request.signature_algorithm(SignatureAlgorithm::from(padding));
            }
            let request = request
                .mount(&self.transit_mount)
                .name(signing_key(agent))
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

    pub async fn transit_random(
        &self,
        agent: &Agent,
        bytes: u32,
        format: RandomFormat,
    ) -> Result<RandomBytes, VaultError> {
        self.observed("transit", "random", async {
            let client = self.client_for(agent).await?;
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

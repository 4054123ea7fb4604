//! Transit with the agent's own keys: encrypt, decrypt, rewrap, sign, verify, random bytes.

use schemars::JsonSchema;
use serde::Deserialize;
use utoipa::ToSchema;

use super::input::{Data, Invalid, Payload, RandomSize};
use super::{Operation, Traits};
use crate::error::ApiError;
use crate::identity::Agent;
use crate::vault::Vault;
use crate::vault::transit::{
    Ciphertext, Hash, Padding, Plaintext, RandomBytes, RandomFormat, Signature, SignatureOptions,
    Verification,
};

/// `transit.encrypt`; `POST /transit/encrypt` with `{text}` or `{base64}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(try_from = "Payload")]
pub struct TransitEncrypt {
    pub plaintext: Data,
}

impl TryFrom<Payload> for TransitEncrypt {
    type Error = Invalid;

    fn try_from(payload: Payload) -> Result<Self, Invalid> {
        Ok(Self {
            plaintext: Data::try_from(payload)?,
        })
    }
}

impl Operation for TransitEncrypt {
    const NAME: &'static str = "transit.encrypt";
    const DESCRIPTION: &'static str = "Encrypt data with the agent's own Transit key; the plaintext is not stored anywhere. Needs the 'write' scope.";
    const TRAITS: Traits = Traits::adds();
    type Output = Ciphertext;

    async fn run(self, vault: &Vault, agent: &Agent) -> Result<Ciphertext, ApiError> {
        Ok(vault
            .transit_encrypt(agent, self.plaintext.base64())
            .await?)
    }
}

/// A ciphertext of the agent's key: what `transit.decrypt` and `transit.rewrap` take.
#[derive(Debug, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
#[schemars(inline)]
pub struct CiphertextOf {
    /// A ciphertext made by this agent's key (`vault:v1:…`).
    pub ciphertext: String,
}

/// `transit.decrypt`; `POST /transit/decrypt`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct TransitDecrypt(pub CiphertextOf);

impl Operation for TransitDecrypt {
    const NAME: &'static str = "transit.decrypt";
    const DESCRIPTION: &'static str =
        "Decrypt a ciphertext made with the agent's own Transit key. Needs the 'read' scope.";
    const TRAITS: Traits = Traits::reads().idempotent();
    type Output = Plaintext;

    async fn run(self, vault: &Vault, agent: &Agent) -> Result<Plaintext, ApiError> {
        Ok(vault.transit_decrypt(agent, &self.0.ciphertext).await?)
    }
}

/// `transit.rewrap`; `POST /transit/rewrap`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct TransitRewrap(pub CiphertextOf);

impl Operation for TransitRewrap {
    const NAME: &'static str = "transit.rewrap";
    const DESCRIPTION: &'static str = "Re-encrypt a ciphertext with the latest version of the agent's key, without revealing the plaintext. Needs the 'write' scope.";
    const TRAITS: Traits = Traits::adds();
    type Output = Ciphertext;

    async fn run(self, vault: &Vault, agent: &Agent) -> Result<Ciphertext, ApiError> {
        Ok(vault.transit_rewrap(agent, &self.0.ciphertext).await?)
    }
}

/// `transit.sign`; `POST /transit/sign`.
#[derive(Debug, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitSign {
    /// What to sign.
    #[schema(value_type = Payload)]
    pub input: Data,
    /// Hash algorithm; Vault's default (sha2-256) when absent.
    #[serde(default)]
    pub hash_algorithm: Option<Hash>,
    /// RSA padding, pss or pkcs1v15; Vault's default (pss) when absent.
    #[serde(default)]
    pub signature_algorithm: Option<Padding>,
}

impl Operation for TransitSign {
    const NAME: &'static str = "transit.sign";
    const DESCRIPTION: &'static str = "Sign data with the agent's own RSA signing key (hash and padding selectable). Needs the 'write' scope.";
    const TRAITS: Traits = Traits::adds();
    type Output = Signature;

    async fn run(self, vault: &Vault, agent: &Agent) -> Result<Signature, ApiError> {
        let options = SignatureOptions {
            hash_algorithm: self.hash_algorithm,
            signature_algorithm: self.signature_algorithm,
        };
        Ok(vault
            .transit_sign(agent, self.input.base64(), &options)
            .await?)
    }
}

/// `transit.verify`; `POST /transit/verify`.
#[derive(Debug, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitVerify {
    /// What was signed.
    #[schema(value_type = Payload)]
    pub input: Data,
    /// The signature (`vault:v1:…`).
    pub signature: String,
    /// The hash algorithm the signature was made with (sha2-256 when absent).
    #[serde(default)]
    pub hash_algorithm: Option<Hash>,
    /// The RSA padding the signature was made with (pss when absent).
    #[serde(default)]
    pub signature_algorithm: Option<Padding>,
}

impl Operation for TransitVerify {
    const NAME: &'static str = "transit.verify";
    const DESCRIPTION: &'static str =
        "Check a signature made with the agent's own signing key. Needs the 'read' scope.";
    const TRAITS: Traits = Traits::reads().idempotent();
    type Output = Verification;

    async fn run(self, vault: &Vault, agent: &Agent) -> Result<Verification, ApiError> {
        let options = SignatureOptions {
            hash_algorithm: self.hash_algorithm,
            signature_algorithm: self.signature_algorithm,
        };
        Ok(vault
            .transit_verify(agent, self.input.base64(), &self.signature, &options)
            .await?)
    }
}

/// `transit.random`; `GET /transit/random?bytes=&format=`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitRandom {
    /// How many bytes (1 to 1024).
    #[serde(default)]
    pub bytes: RandomSize,
    /// base64 (the default) or hex.
    #[serde(default)]
    pub format: RandomFormat,
}

impl Operation for TransitRandom {
    const NAME: &'static str = "transit.random";
    const DESCRIPTION: &'static str =
        "Random bytes from Vault (1 to 1024, base64 or hex). Needs the 'read' scope.";
    const TRAITS: Traits = Traits::reads();
    type Output = RandomBytes;

    async fn run(self, vault: &Vault, agent: &Agent) -> Result<RandomBytes, ApiError> {
        Ok(vault
            .transit_random(agent, self.bytes.get(), self.format)
            .await?)
    }
}

//! Transit with the agent's own keys: encrypt, decrypt, rewrap, sign, verify, random bytes.

use schemars::JsonSchema;
use serde::Deserialize;
use utoipa::ToSchema;

use super::Allowed;
use super::input::{Data, Invalid, KeyName, Payload, RandomSize};
use super::{Operation, Traits};
use crate::error::ApiError;
use crate::vault::Vault;
use crate::vault::transit::{
    Ciphertext, Hash, KeyInfo, NewKeyType, Padding, Plaintext, RandomBytes, RandomFormat,
    Signature, SignatureOptions, Verification,
};

/// What `transit.encrypt` takes: the plaintext in one of three spellings.
#[derive(Debug, Default, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EncryptInput {
    /// One of the agent's own keys, by name; created (aes256-gcm96) on first use. The agent's
    /// default key when absent.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub key: Option<KeyName>,
    /// The data as standard base64 (the seed's field).
    #[serde(default)]
    pub plaintext: Option<String>,
    /// The data as UTF-8 text.
    #[serde(default)]
    pub text: Option<String>,
    /// The data as standard base64 (the same as `plaintext`).
    #[serde(default)]
    pub base64: Option<String>,
}

/// `transit.encrypt`; `POST /transit/encrypt` with `{plaintext}`, `{text}` or `{base64}`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(try_from = "EncryptInput")]
pub struct TransitEncrypt {
    pub key: Option<KeyName>,
    pub plaintext: Data,
}

impl TryFrom<EncryptInput> for TransitEncrypt {
    type Error = Invalid;

    fn try_from(input: EncryptInput) -> Result<Self, Invalid> {
        let payload = match (input.plaintext, input.text, input.base64) {
            (Some(b64), None, None) => Payload {
                text: None,
                base64: Some(b64),
            },
            (None, text, base64) => Payload { text, base64 },
            _ => {
                return Err(Invalid(
                    "give exactly one of plaintext, text and base64".into(),
                ));
            }
        };
        Ok(Self {
            key: input.key,
            plaintext: Data::try_from(payload)?,
        })
    }
}

impl Operation for TransitEncrypt {
    const NAME: &'static str = "transit.encrypt";
    const DESCRIPTION: &'static str =
        "Encrypt data with the agent's own Transit key; the plaintext is not stored anywhere.";
    const TRAITS: Traits = Traits::adds();
    type Output = Ciphertext;

    async fn run(&self, vault: &Vault, agent: &Allowed<'_, Self>) -> Result<Ciphertext, ApiError> {
        Ok(vault
            .transit_encrypt(agent.into(), key(&self.key), self.plaintext.base64())
            .await?)
    }
}

/// A ciphertext of the agent's key: what `transit.decrypt` and `transit.rewrap` take.
#[derive(Debug, Clone, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
#[schemars(inline)]
pub struct CiphertextOf {
    /// The agent's own key that made it, by name; its default key when absent.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub key: Option<KeyName>,
    /// A ciphertext made by this agent's key (`vault:v1:…`).
    pub ciphertext: String,
}

/// `transit.decrypt`; `POST /transit/decrypt`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct TransitDecrypt(pub CiphertextOf);

impl Operation for TransitDecrypt {
    const NAME: &'static str = "transit.decrypt";
    const DESCRIPTION: &'static str = "Decrypt a ciphertext made with the agent's own Transit key.";
    const TRAITS: Traits = Traits::reads().idempotent();
    type Output = Plaintext;

    async fn run(&self, vault: &Vault, agent: &Allowed<'_, Self>) -> Result<Plaintext, ApiError> {
        Ok(vault
            .transit_decrypt(agent.into(), key(&self.0.key), &self.0.ciphertext)
            .await?)
    }
}

/// `transit.rewrap`; `POST /transit/rewrap`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct TransitRewrap(pub CiphertextOf);

impl Operation for TransitRewrap {
    const NAME: &'static str = "transit.rewrap";
    const DESCRIPTION: &'static str = "Re-encrypt a ciphertext with the latest version of the agent's key, without revealing the plaintext.";
    const TRAITS: Traits = Traits::adds();
    type Output = Ciphertext;

    async fn run(&self, vault: &Vault, agent: &Allowed<'_, Self>) -> Result<Ciphertext, ApiError> {
        Ok(vault
            .transit_rewrap(agent.into(), key(&self.0.key), &self.0.ciphertext)
            .await?)
    }
}

/// `transit.sign`; `POST /transit/sign`.
#[derive(Debug, Clone, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitSign {
    /// One of the agent's own keys, by name (made with `transit.create_key`); its default RSA
    /// signing key when absent.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub key: Option<KeyName>,
    /// What to sign: base64 (the seed's form), or `{"text"}` / `{"base64"}`.
    #[schema(value_type = Object)]
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
    const DESCRIPTION: &'static str =
        "Sign data with the agent's own RSA signing key (hash and padding selectable).";
    const TRAITS: Traits = Traits::adds();
    type Output = Signature;

    async fn run(&self, vault: &Vault, agent: &Allowed<'_, Self>) -> Result<Signature, ApiError> {
        let options = SignatureOptions {
            hash_algorithm: self.hash_algorithm,
            signature_algorithm: self.signature_algorithm,
        };
        Ok(vault
            .transit_sign(agent.into(), key(&self.key), self.input.base64(), &options)
            .await?)
    }
}

/// `transit.verify`; `POST /transit/verify`.
#[derive(Debug, Clone, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitVerify {
    /// The agent's own key that signed, by name; its default signing key when absent.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub key: Option<KeyName>,
    /// What was signed: base64 (the seed's form), or `{"text"}` / `{"base64"}`.
    #[schema(value_type = Object)]
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
    const DESCRIPTION: &'static str = "Check a signature made with the agent's own signing key.";
    const TRAITS: Traits = Traits::reads().idempotent();
    type Output = Verification;

    async fn run(
        &self,
        vault: &Vault,
        agent: &Allowed<'_, Self>,
    ) -> Result<Verification, ApiError> {
        let options = SignatureOptions {
            hash_algorithm: self.hash_algorithm,
            signature_algorithm: self.signature_algorithm,
        };
        Ok(vault
            .transit_verify(
                agent.into(),
                key(&self.key),
                self.input.base64(),
                &self.signature,
                &options,
            )
            .await?)
    }
}

/// `transit.create_key`; `POST /transit/keys/{name}` with `{type}`.
#[derive(Debug, Clone, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitCreateKey {
    /// The key's name, in the agent's own corner.
    #[schema(ignore)]
    pub name: KeyName,
    /// `ed25519`, `ecdsa-p256` or `rsa-2048` to sign, `aes256-gcm96` to encrypt.
    #[serde(rename = "type")]
    pub key_type: NewKeyType,
}

impl Operation for TransitCreateKey {
    const NAME: &'static str = "transit.create_key";
    const DESCRIPTION: &'static str = "Create one of the agent's own Transit keys by name (an existing key is left as it is), e.g. an ed25519 key to sign with.";
    const TRAITS: Traits = Traits::adds().idempotent();
    type Output = KeyInfo;

    async fn run(&self, vault: &Vault, agent: &Allowed<'_, Self>) -> Result<KeyInfo, ApiError> {
        Ok(vault
            .transit_create_key(agent.into(), self.name.as_str(), self.key_type)
            .await?)
    }
}

/// The name a request gave, as the Vault layer takes it.
fn key(name: &Option<KeyName>) -> Option<&str> {
    name.as_ref().map(KeyName::as_str)
}

/// `transit.random`; `GET /transit/random?bytes=&format=`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
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
    const DESCRIPTION: &'static str = "Random bytes from Vault (1 to 1024, base64 or hex).";
    const TRAITS: Traits = Traits::reads();
    type Output = RandomBytes;

    async fn run(&self, vault: &Vault, agent: &Allowed<'_, Self>) -> Result<RandomBytes, ApiError> {
        Ok(vault
            .transit_random(agent.into(), self.bytes.get(), self.format)
            .await?)
    }
}

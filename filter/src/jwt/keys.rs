//! Verification keys: an HS256 secret from configuration, and RSA / EC public keys from a JWKS
//! (inline or fetched). Each key is bound to exactly one algorithm, so a token can only ever
//! be checked with the algorithm its key was published for (no RS256 → HS256 confusion).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use serde::Deserialize;
use thiserror::Error;

use super::verifier::Verifier;

/// Shortest accepted HMAC secret, in bytes.
pub const MIN_HMAC_SECRET: usize = 32;
/// Smallest accepted RSA modulus, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest accepted JWKS document.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;

#[derive(Clone)]
pub struct VerifyKey {
    pub kid: Option<String>,
    pub algorithm: Algorithm,
    pub verifier: Verifier,
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Default)]
pub struct KeySet {
    pub keys: Vec<VerifyKey>,
    /// Changes whenever the keys do, so what was verified with older keys can be told apart
    /// (see [`super::cache`]). Clones share it: they hold the same keys.
    generation: u64,
}

/// A fresh [`KeySet::generation`]; 0 is the empty default set's.
fn next_generation() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    #[error("the HS256 secret is shorter than {MIN_HMAC_SECRET} bytes")]
    WeakSecret,
    #[error("the JWKS document is larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge,
    #[error("the JWKS document is not valid JSON with a \"keys\" array")]
    Malformed,
    #[error("JWKS key {0} is an RSA key under {MIN_RSA_BITS} bits")]
    WeakRsaKey(String),
    #[error("the JWKS document holds no usable signing key")]
    NoUsableKey,
}

#[derive(Deserialize)]
struct RawJwks {
    keys: Vec<serde_json::Value>,
}

impl KeySet {
    pub fn hs256(secret: &[u8], kid: Option<String>) -> Result<Self, KeyError> {
        if secret.len() < MIN_HMAC_SECRET {
            return Err(KeyError::WeakSecret);
        }
        Ok(KeySet {
            keys: vec![VerifyKey {
                kid,
                algorithm: Algorithm::HS256,
                verifier: Verifier::hs256(secret),
            }],
            generation: next_generation(),
        })
    }

    /// Parses a JWKS. Keys for encryption, of unknown types or with unsupported algorithms are
    /// skipped; a weak RSA key makes the whole document invalid, so a misconfigured issuer is
    /// noticed rather than half-trusted.
    pub fn from_jwks(document: &[u8]) -> Result<Self, KeyError> {
        if document.len() > MAX_JWKS_BYTES {
            return Err(KeyError::TooLarge);
        }
        let raw: RawJwks = serde_json::from_slice(document).map_err(|_| KeyError::Malformed)?;
        let mut keys = Vec::new();
        for value in raw.keys {
            let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
                continue;
            };
            if let Some(key) = verify_key(&jwk)? {
                keys.push(key);
            }
        }
        if keys.is_empty() {
            return Err(KeyError::NoUsableKey);
        }
        Ok(KeySet {
            keys,
            generation: next_generation(),
        })
    }

    pub fn extend(&mut self, other: KeySet) {
        self.keys.extend(other.keys);
        self.generation = next_generation();
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }
}

fn verify_key(jwk: &Jwk) -> Result<Option<VerifyKey>, KeyError> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return Ok(None);
    }
    let kid = jwk.common.key_id.clone();
    let declared = jwk.common.key_algorithm;
    let (algorithm, key) = match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => {
            if !matches!(declared, None | Some(KeyAlgorithm::RS256)) {
                return Ok(None);
            }
            let modulus = URL_SAFE_NO_PAD
                .decode(rsa.n.trim_end_matches('='))
                .map_err(|_| KeyError::Malformed)?;
            let leading_zeros = modulus.iter().take_while(|b| **b == 0).count();
            let bits = (modulus.len() - leading_zeros) * 8;
            if bits < MIN_RSA_BITS {
                return Err(KeyError::WeakRsaKey(kid.unwrap_or_default()));
            }
            let exponent = URL_SAFE_NO_PAD
                .decode(rsa.e.trim_end_matches('='))
                .map_err(|_| KeyError::Malformed)?;
            let key = Verifier::rs256(&modulus, &exponent).map_err(|_| KeyError::Malformed)?;
            (Algorithm::RS256, key)
        }
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            if !matches!(declared, None | Some(KeyAlgorithm::ES256)) {
                return Ok(None);
            }
            let coordinate = |c: &str| {
                URL_SAFE_NO_PAD
                    .decode(c.trim_end_matches('='))
                    .map_err(|_| KeyError::Malformed)
            };
            let key = Verifier::es256(&coordinate(&ec.x)?, &coordinate(&ec.y)?)
                .map_err(|_| KeyError::Malformed)?;
            (Algorithm::ES256, key)
        }
        // Symmetric keys are never taken from a JWKS; other curves and types are unsupported.
        _ => return Ok(None),
    };
    Ok(Some(VerifyKey {
        kid,
        algorithm,
        verifier: key,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWKS: &str = include_str!("../../tests/fixtures/jwks.json");

    #[test]
    fn fixture_jwks_refuses_its_weak_key() {
        assert_eq!(
            KeySet::from_jwks(JWKS.as_bytes()).unwrap_err(),
            KeyError::WeakRsaKey("rsa-weak".into())
        );
    }

    fn without_weak() -> String {
        let mut doc: serde_json::Value = serde_json::from_str(JWKS).unwrap();
        doc["keys"]
            .as_array_mut()
            .unwrap()
            .retain(|k| k["kid"] != "rsa-weak");
        doc.to_string()
    }

    #[test]
    fn rsa_and_ec_keys_are_bound_to_their_algorithm() {
        let set = KeySet::from_jwks(without_weak().as_bytes()).unwrap();
        let algs: Vec<_> = set
            .keys
            .iter()
            .map(|k| (k.kid.clone().unwrap(), k.algorithm))
            .collect();
        assert_eq!(
            algs,
            [
                ("rsa-1".to_string(), Algorithm::RS256),
                ("ec-1".to_string(), Algorithm::ES256)
            ]
        );
        assert!(set.has_kid("rsa-1"));
        assert!(!set.has_kid("nope"));
    }

    #[test]
    fn documents_that_are_refused() {
        let oversize = format!(r#"{{"keys":[],"pad":"{}"}}"#, "x".repeat(MAX_JWKS_BYTES));
        let cases: &[(&str, KeyError)] = &[
            ("", KeyError::Malformed),
            ("{}", KeyError::Malformed),
            (r#"{"keys":{}}"#, KeyError::Malformed),
            (r#"{"keys":[]}"#, KeyError::NoUsableKey),
            // An oct key in a JWKS would let anyone who reads the JWKS sign tokens.
            (
                r#"{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0","alg":"HS256"}]}"#,
                KeyError::NoUsableKey,
            ),
            (r#"{"keys":[{"kty":"weird"}]}"#, KeyError::NoUsableKey),
            (&oversize, KeyError::TooLarge),
        ];
        for (doc, expected) in cases {
            assert_eq!(
                KeySet::from_jwks(doc.as_bytes()).unwrap_err(),
                *expected,
                "{doc:.60}"
            );
        }
    }

    #[test]
    fn short_hmac_secrets_are_refused() {
        assert_eq!(
            KeySet::hs256(&[0u8; 31], None).unwrap_err(),
            KeyError::WeakSecret
        );
        assert_eq!(KeySet::hs256(&[0u8; 32], None).unwrap().keys.len(), 1);
    }
}

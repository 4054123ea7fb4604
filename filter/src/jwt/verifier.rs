//! Signature checks for the three algorithms the filter accepts, each built once per key (when
//! the configuration or a JWKS is loaded), never per request: the RSA modulus is parsed, the
//! P-256 point decompressed and the HMAC key absorbed ahead of time. The primitives are
//! RustCrypto's (`rsa`, `p256`, `hmac`); jsonwebtoken parses the token around them.

use hmac::{Hmac, Mac};
use p256::ecdsa::signature::Verifier as _;
use rsa::traits::SignatureScheme as _;
use rsa::{BigUint, Pkcs1v15Sign, RsaPublicKey};
use sha2::{Digest, Sha256};

#[derive(Clone)]
pub enum Verifier {
    Hs256(Hmac<Sha256>),
    Rs256(RsaPublicKey),
    Es256(p256::ecdsa::VerifyingKey),
}

/// A key that cannot be built from what the configuration or JWKS gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidKey;

impl Verifier {
    pub fn hs256(secret: &[u8]) -> Self {
        Verifier::Hs256(Hmac::new_from_slice(secret).expect("HMAC takes keys of any length"))
    }

    /// From the big-endian modulus and exponent of a JWK.
    pub fn rs256(modulus: &[u8], exponent: &[u8]) -> Result<Self, InvalidKey> {
        RsaPublicKey::new(
            BigUint::from_bytes_be(modulus),
            BigUint::from_bytes_be(exponent),
        )
        .map(Verifier::Rs256)
        .map_err(|_| InvalidKey)
    }

    /// From the affine coordinates of a JWK (32 bytes each).
    pub fn es256(x: &[u8], y: &[u8]) -> Result<Self, InvalidKey> {
        if x.len() != 32 || y.len() != 32 {
            return Err(InvalidKey);
        }
        let point = [&[0x04][..], x, y].concat();
        p256::ecdsa::VerifyingKey::from_sec1_bytes(&point)
            .map(Verifier::Es256)
            .map_err(|_| InvalidKey)
    }

    /// Whether `signature` signs `message` (the JWS signing input) under this key.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Verifier::Hs256(key) => {
                let mut mac = key.clone();
                mac.update(message);
                mac.verify_slice(signature).is_ok() // constant time
            }
            Verifier::Rs256(key) => Pkcs1v15Sign::new::<Sha256>()
                .verify(key, &Sha256::digest(message), signature)
                .is_ok(),
            Verifier::Es256(key) => p256::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|signature| key.verify(message, &signature).is_ok()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_are_not_keys_are_refused() {
        // Wrong lengths, and a point that is not on the curve.
        assert!(Verifier::es256(&[1; 31], &[1; 32]).is_err());
        assert!(Verifier::es256(&[1; 32], &[1; 32]).is_err());
        // An RSA exponent of 1 is no public key.
        assert!(Verifier::rs256(&[0xc5; 256], &[1]).is_err());
    }

    #[test]
    fn hmac_checks_message_and_signature() {
        let key = Verifier::hs256(b"0123456789abcdef0123456789abcdef");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"0123456789abcdef0123456789abcdef").unwrap();
        mac.update(b"a.b");
        let tag = mac.finalize().into_bytes();
        assert!(key.verify(b"a.b", &tag));
        assert!(!key.verify(b"a.c", &tag));
        assert!(!key.verify(b"a.b", &tag[..31]));
    }
}

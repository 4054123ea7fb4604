//! API keys: stored only as SHA-256 digests, compared in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::identity::Identity;

/// Digest of an API key as stored in configuration (64 lowercase or uppercase hex digits).
pub type KeyDigest = [u8; 32];

pub fn digest(key: &str) -> KeyDigest {
    Sha256::digest(key.as_bytes()).into()
}

/// A digest written as 64 hex digits (either case).
pub fn parse_digest(text: &str) -> Option<KeyDigest> {
    let mut digest = [0u8; 32];
    hex::decode_to_slice(text, &mut digest).ok()?;
    Some(digest)
}

/// The configured keys. Lookup scans every entry with a constant-time comparison, so the time
/// taken says nothing about which stored digest came closest.
#[derive(Debug, Default, Clone)]
pub struct ApiKeyStore {
    entries: Vec<(KeyDigest, Identity)>,
}

impl ApiKeyStore {
    pub fn new(entries: Vec<(KeyDigest, Identity)>) -> Self {
        Self { entries }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn lookup(&self, presented: &str) -> Option<&Identity> {
        let presented = digest(presented);
        let mut found = None;
        for (stored, identity) in &self.entries {
            if bool::from(stored.ct_eq(&presented)) && found.is_none() {
                found = Some(identity);
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> ApiKeyStore {
        ApiKeyStore::new(vec![
            (digest("k1"), Identity::new("one", ["read".to_string()])),
            (digest("k2"), Identity::new("two", [])),
        ])
    }

    #[test]
    fn known_keys_map_to_their_identity() {
        let store = store();
        assert_eq!(store.lookup("k1").unwrap().subject, "one");
        assert_eq!(store.lookup("k2").unwrap().subject, "two");
    }

    #[test]
    fn unknown_and_near_keys_are_refused() {
        let store = store();
        for bad in ["", "k", "k3", "K1", "k1 ", " k1"] {
            assert!(store.lookup(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn digest_matches_sha256_test_vector() {
        assert_eq!(
            hex::encode(digest("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}

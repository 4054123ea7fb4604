//! API keys as the registry makes them: `vmb_` and 43 characters of base64url over 256 random
//! bits. The prefix lets secret scanners recognise a leaked key; only its SHA-256 is stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::IssuedKey;
use crate::vault::registry::KeyRecord;

pub const PREFIX: &str = "vmb_";

/// A key being issued: its id, digest and (when made here) the key itself.
pub struct Issued {
    id: String,
    sha256: String,
    key: Option<String>,
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    bytes
}

impl Issued {
    pub fn generate() -> Self {
        let key = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(random::<32>()));
        Issued {
            id: hex::encode(random::<6>()),
            sha256: hex::encode(Sha256::digest(key.as_bytes())),
            key: Some(key),
        }
    }

    /// A key made elsewhere, known by its digest.
    pub fn from_digest(digest: &str) -> Option<Self> {
        vault_mcp_filter::apikey::parse_digest(digest)?;
        Some(Issued {
            id: hex::encode(random::<6>()),
            sha256: digest.to_ascii_lowercase(),
            key: None,
        })
    }

    pub fn record(&self, created: u64) -> KeyRecord {
        KeyRecord {
            id: self.id.clone(),
            sha256: self.sha256.clone(),
            created,
            expires: None,
        }
    }

    pub fn shown(self, subject: &str) -> IssuedKey {
        IssuedKey {
            subject: subject.to_string(),
            key_id: Some(self.id),
            api_key: self.key,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_random_and_stored_as_digests() {
        let (a, b) = (Issued::generate(), Issued::generate());
        let key = a.key.clone().unwrap();
        assert!(
            key.starts_with(PREFIX) && key.len() == PREFIX.len() + 43,
            "{key}"
        );
        assert_ne!(a.key, b.key);
        assert_ne!(a.id, b.id);
        let record = a.record(7);
        assert_eq!(record.sha256, hex::encode(Sha256::digest(key.as_bytes())));
        assert!(!serde_json::to_string(&record).unwrap().contains(&key));
        assert!(Issued::from_digest("zz").is_none());
        let imported = Issued::from_digest(&"AB".repeat(32)).unwrap();
        assert_eq!(imported.record(0).sha256, "ab".repeat(32));
        assert!(imported.shown("a").api_key.is_none());
    }
}

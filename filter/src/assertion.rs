//! `x-agent-assertion`: proof that a request passed the edge.
//!
//! The filter signs the identity it forwards with a key it shares with the backend; the backend
//! recomputes the MAC and refuses requests whose assertion is missing, forged, stale, or bound to
//! another subject, scope set, request id or API key. Format: `v2.{issued_at}.{hex HMAC-SHA256}`
//! over `v2\n{subject}\n{scopes}\n{issued_at}\n{request_id}\n{key_id}\n`. (v1 had no key id;
//! the edge and the backend ship together, so the backend accepts only v2.)

use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

type HmacSha256 = Hmac<Sha256>;

/// Shortest accepted key: the assertion is only as strong as this secret.
pub const MIN_KEY_LEN: usize = 32;

/// The key, held as the HMAC state after absorbing it: each signature then starts from a copy
/// instead of hashing the padded key again (two of the four SHA-256 blocks a signature costs).
#[derive(Clone)]
pub struct AssertionKey(HmacSha256);

impl std::fmt::Debug for AssertionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AssertionKey(..)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum AssertionError {
    #[error("the assertion key must be at least {MIN_KEY_LEN} bytes")]
    KeyTooShort,
    #[error("no assertion on the request")]
    Missing,
    #[error("the assertion is malformed")]
    Malformed,
    #[error("the assertion does not match the request")]
    BadSignature,
    #[error("the assertion is too old or from the future")]
    Stale,
}

/// What an assertion binds together.
#[derive(Debug, Clone, Copy)]
pub struct Claims<'a> {
    pub subject: &'a str,
    /// The forwarded `x-agent-scopes` value, exactly.
    pub scopes: &'a str,
    pub request_id: &'a str,
    /// The id of the registry API key the caller presented (`x-agent-key-id`), or empty.
    pub key_id: &'a str,
}

/// The claims the edge signs for its own calls to the backend (the registry fetch), bound to
/// the path it fetches. No agent subject is empty, so an agent's assertion never passes for the
/// edge's, nor the reverse.
pub fn edge_claims(path: &str) -> Claims<'_> {
    Claims {
        subject: "",
        scopes: "edge",
        request_id: path,
        key_id: "",
    }
}

impl AssertionKey {
    pub fn new(key: impl Into<Vec<u8>>) -> Result<Self, AssertionError> {
        let key = key.into();
        if key.len() < MIN_KEY_LEN {
            return Err(AssertionError::KeyTooShort);
        }
        Ok(Self(
            HmacSha256::new_from_slice(&key).expect("HMAC takes keys of any length"),
        ))
    }

    fn mac(&self, claims: &Claims<'_>, issued_at: u64) -> HmacSha256 {
        let mut mac = self.0.clone();
        for part in [
            "v2",
            claims.subject,
            claims.scopes,
            &issued_at.to_string(),
            claims.request_id,
            claims.key_id,
        ] {
            mac.update(part.as_bytes());
            mac.update(b"\n");
        }
        mac
    }

    pub fn sign(&self, claims: &Claims<'_>, now: u64) -> String {
        let tag = self.mac(claims, now).finalize().into_bytes();
        format!("v2.{now}.{}", hex::encode(tag))
    }

    /// Checks `assertion` against the request's claims; `max_age` seconds either way.
    pub fn verify(
        &self,
        assertion: &str,
        claims: &Claims<'_>,
        now: u64,
        max_age: u64,
    ) -> Result<(), AssertionError> {
        let mut parts = assertion.splitn(3, '.');
        let (Some("v2"), Some(issued_at), Some(tag)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(AssertionError::Malformed);
        };
        // Only the one spelling `sign` produces is accepted (found by fuzzing: `0001800000000`,
        // `+1800000000` and upper-case hex parsed to the same values), so an assertion has
        // exactly one textual form.
        let canonical_time = !issued_at.is_empty()
            && issued_at.bytes().all(|b| b.is_ascii_digit())
            && (issued_at == "0" || !issued_at.starts_with('0'));
        let canonical_tag =
            tag.len() == 64 && tag.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !canonical_time || !canonical_tag {
            return Err(AssertionError::Malformed);
        }
        let issued_at: u64 = issued_at.parse().map_err(|_| AssertionError::Malformed)?;
        let tag = hex::decode(tag).map_err(|_| AssertionError::Malformed)?;
        // Constant-time comparison inside `verify_slice`.
        self.mac(claims, issued_at)
            .verify_slice(&tag)
            .map_err(|_| AssertionError::BadSignature)?;
        if now.abs_diff(issued_at) > max_age {
            return Err(AssertionError::Stale);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn key() -> AssertionKey {
        AssertionKey::new(vec![7u8; 32]).unwrap()
    }

    fn claims() -> Claims<'static> {
        Claims {
            subject: "agent_api",
            scopes: "read write",
            request_id: "req-1",
            key_id: "",
        }
    }

    #[test]
    fn round_trip() {
        let assertion = key().sign(&claims(), NOW);
        assert!(assertion.starts_with("v2.1800000000."));
        assert_eq!(key().verify(&assertion, &claims(), NOW + 5, 30), Ok(()));
    }

    #[test]
    fn refusals() {
        let good = key().sign(&claims(), NOW);
        let other_key = AssertionKey::new(vec![8u8; 32])
            .unwrap()
            .sign(&claims(), NOW);
        let mut flipped = good.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).unwrap();
        let version_1 = good.replacen("v2", "v1", 1);
        let cases: Vec<(&str, Claims, u64, AssertionError)> = vec![
            ("", claims(), NOW, AssertionError::Malformed),
            ("v3.1.00", claims(), NOW, AssertionError::Malformed),
            ("v2.x.00", claims(), NOW, AssertionError::Malformed),
            ("v2.1.zz", claims(), NOW, AssertionError::Malformed),
            // The earlier version (v1, without the key id) is refused by its version alone.
            (&version_1, claims(), NOW, AssertionError::Malformed),
            (&other_key, claims(), NOW, AssertionError::BadSignature),
            (&flipped, claims(), NOW, AssertionError::BadSignature),
            (
                &good,
                Claims {
                    subject: "agent_b",
                    ..claims()
                },
                NOW,
                AssertionError::BadSignature,
            ),
            (
                &good,
                Claims {
                    scopes: "read write delete",
                    ..claims()
                },
                NOW,
                AssertionError::BadSignature,
            ),
            (
                &good,
                Claims {
                    request_id: "req-2",
                    ..claims()
                },
                NOW,
                AssertionError::BadSignature,
            ),
            (
                &good,
                Claims {
                    key_id: "0123456789ab",
                    ..claims()
                },
                NOW,
                AssertionError::BadSignature,
            ),
            (&good, claims(), NOW + 31, AssertionError::Stale),
            (&good, claims(), NOW - 31, AssertionError::Stale),
        ];
        for (assertion, claims, now, expected) in cases {
            assert_eq!(
                key().verify(assertion, &claims, now, 30),
                Err(expected),
                "{assertion}"
            );
        }
    }

    #[test]
    fn only_the_canonical_spelling_is_accepted() {
        // The input the fuzzer found: a valid MAC behind a zero-padded timestamp.
        let good = key().sign(&claims(), NOW);
        let tag = good.rsplit('.').next().unwrap();
        assert_eq!(key().verify(&good, &claims(), NOW, 30), Ok(()));
        for variant in [
            format!("v2.000{NOW}.{tag}"),
            format!("v2.+{NOW}.{tag}"),
            format!("v2.{NOW}.{}", tag.to_ascii_uppercase()),
            format!("v2.{NOW}.{tag}00"),
        ] {
            assert_eq!(
                key().verify(&variant, &claims(), NOW, 30),
                Err(AssertionError::Malformed),
                "{variant}"
            );
        }
    }

    #[test]
    fn short_keys_are_refused() {
        assert_eq!(
            AssertionKey::new(vec![1u8; 31]).unwrap_err(),
            AssertionError::KeyTooShort
        );
        assert!(!format!("{:?}", key()).contains('7'));
    }
}

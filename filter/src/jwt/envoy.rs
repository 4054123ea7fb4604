//! Tokens verified by Envoy's own `jwt_authn` filter, placed before this one.
//!
//! Inside V8 an RS256 signature check costs about 1 ms of CPU (the `rsa` crate's big-number
//! arithmetic without 64-bit widening multiplies), against tens of microseconds for
//! BoringSSL in Envoy. With `jwt.envoy_jwt_authn` configured, `jwt_authn` verifies the
//! asymmetric tokens (`forward: false`, `payload_in_metadata: <key>`, rule
//! `allow_missing_or_failed`) and this filter reads the verified payload from the request's
//! dynamic metadata, which no client can write. Everything after authentication (scopes, rate
//! limits, header hygiene, the assertion) stays here.
//!
//! Envoy hands metadata structs to wasm as proxy-wasm "pairs": a little-endian `u32` count,
//! then a `u32` key length and `u32` value length per pair, then each key and value followed by
//! a NUL. Strings arrive as their bytes; lists arrive as pairs whose keys are the elements.

use super::JwtError;
use crate::identity::{Identity, is_agent_subject};

/// Where `jwt_authn` puts verified payloads in the dynamic metadata.
pub const METADATA_NAMESPACE: &str = "envoy.filters.http.jwt_authn";

/// Decodes proxy-wasm pairs; `None` unless `bytes` is exactly one well-formed pairs buffer.
pub fn decode_pairs(bytes: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let word = |at: usize| -> Option<usize> {
        let raw = bytes.get(at..at + 4)?;
        Some(u32::from_le_bytes(raw.try_into().ok()?) as usize)
    };
    let count = word(0)?;
    // Each pair needs at least 8 bytes of lengths and 2 NULs: a bound before allocating.
    if count > bytes.len() / 10 {
        return None;
    }
    let mut lengths = Vec::with_capacity(count);
    for i in 0..count {
        lengths.push((word(4 + 8 * i)?, word(8 + 8 * i)?));
    }
    let mut at = 4 + 8 * count;
    let mut take = |len: usize| -> Option<&[u8]> {
        let field = bytes.get(at..at.checked_add(len)?)?;
        (bytes.get(at + len) == Some(&0)).then_some(())?;
        at += len + 1;
        Some(field)
    };
    let mut pairs = Vec::with_capacity(count);
    for (key, value) in lengths {
        pairs.push((take(key)?, take(value)?));
    }
    (at == bytes.len()).then_some(pairs)
}

/// Whether the payload's `iss` is `issuer`.
pub fn issued_by(payload: &[u8], issuer: &str) -> bool {
    decode_pairs(payload).is_some_and(|pairs| {
        pairs
            .iter()
            .any(|(key, value)| *key == b"iss" && *value == issuer.as_bytes())
    })
}

/// The identity in a payload `jwt_authn` verified. `sub` must be a valid subject; scopes come
/// from `scope` (space-separated) and `scp`/`scopes` (a list, or a space-separated string).
pub fn identity(payload: &[u8]) -> Result<Identity, JwtError> {
    let pairs = decode_pairs(payload).ok_or(JwtError::Malformed)?;
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(key, _)| *key == name.as_bytes())
            .map(|(_, value)| *value)
    };
    let subject = field("sub")
        .and_then(|raw| std::str::from_utf8(raw).ok())
        .filter(|s| is_agent_subject(s))
        .ok_or(JwtError::BadSubject)?;
    let words = |raw: &[u8]| -> Vec<String> {
        std::str::from_utf8(raw)
            .map(|s| s.split_ascii_whitespace().map(str::to_string).collect())
            .unwrap_or_default()
    };
    let mut scopes = field("scope").map(words).unwrap_or_default();
    for name in ["scp", "scopes"] {
        let Some(raw) = field(name) else { continue };
        match decode_pairs(raw).filter(|list| list.iter().all(|(_, v)| v.is_empty())) {
            Some(list) => scopes.extend(list.into_iter().flat_map(|(element, _)| words(element))),
            None => scopes.extend(words(raw)),
        }
    }
    Ok(Identity::new(subject, scopes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes pairs the way Envoy does (for building test payloads).
    fn encode(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut out = (pairs.len() as u32).to_le_bytes().to_vec();
        for (k, v) in pairs {
            out.extend((k.len() as u32).to_le_bytes());
            out.extend((v.len() as u32).to_le_bytes());
        }
        for (k, v) in pairs {
            out.extend(*k);
            out.push(0);
            out.extend(*v);
            out.push(0);
        }
        out
    }

    /// Bytes Envoy 1.40 returned for `metadata.filter_metadata["envoy.filters.http.jwt_authn"]
    /// .verified_jwt` after verifying a PyJWT token with a `scp` list.
    const FROM_ENVOY: &[u8] = b"\x06\0\0\0\x03\0\0\0\x1a\0\0\0\x03\0\0\0\x14\0\0\0\x03\0\0\0\x10\0\0\0\x03\0\0\0\x0b\0\0\0\x03\0\0\0\x08\0\0\0\x05\0\0\0\x0a\0\0\0scp\0\x02\0\0\0\x01\0\0\0\0\0\0\0\x01\0\0\0\0\0\0\0a\0\0b\0\0\0iss\0vault-mcp-bridge-dev\0aud\0vault-mcp-bridge\0sub\0agent_bench\0exp\0\0\0@1\xd0\xd0\xd9A\0scope\0read write\0";

    #[test]
    fn reads_what_envoy_wrote() {
        let id = identity(FROM_ENVOY).unwrap();
        assert_eq!(id.subject, "agent_bench");
        assert_eq!(id.scopes, ["a", "b", "read", "write"]);
        assert!(issued_by(FROM_ENVOY, "vault-mcp-bridge-dev"));
        assert!(!issued_by(FROM_ENVOY, "vault-mcp-bridge"));
        assert!(!issued_by(b"", "vault-mcp-bridge-dev"));
    }

    #[test]
    fn string_scp_and_scopes_lists() {
        let scopes = encode(&[(b"read", b""), (b"list", b"")]);
        let payload = encode(&[
            (b"sub", b"agent_x"),
            (b"scp", b"write delete"),
            (b"scopes", &scopes),
        ]);
        assert_eq!(
            identity(&payload).unwrap().scopes,
            ["delete", "list", "read", "write"]
        );
    }

    #[test]
    fn refuses_bad_subjects_and_broken_buffers() {
        for sub in [&b""[..], b"../etc", b"a b", b"\xff"] {
            let payload = encode(&[(b"sub", sub), (b"scope", b"read")]);
            assert_eq!(identity(&payload), Err(JwtError::BadSubject));
        }
        assert_eq!(
            identity(&encode(&[(b"scope", b"read")])),
            Err(JwtError::BadSubject)
        );
        let good = encode(&[(b"sub", b"agent_x")]);
        for broken in [
            &good[..good.len() - 1],               // truncated
            &[good.as_slice(), b"x"].concat()[..], // trailing bytes
            b"\xff\xff\xff\x7f",                   // absurd count
            b"",
        ] {
            assert_eq!(identity(broken), Err(JwtError::Malformed), "{broken:?}");
        }
        let mut no_nul = good.clone();
        let last = no_nul.len() - 1;
        no_nul[last] = b'!';
        assert_eq!(identity(&no_nul), Err(JwtError::Malformed));
    }
}

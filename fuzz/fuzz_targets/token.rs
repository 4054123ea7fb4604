//! Token verification: no input panics, and the verified-token cache never changes a verdict
//! (the same token, verified plainly and through a cache, twice, gets the same answer).
#![no_main]

use jsonwebtoken::Algorithm;
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;
use vault_mcp_filter::jwt::{JwtSettings, KeySet, VerifiedCache, verify, verify_cached};

const NOW: u64 = 1_800_000_000;

static KEYS: LazyLock<KeySet> = LazyLock::new(|| {
    let mut jwks: serde_json::Value =
        serde_json::from_str(include_str!("../../filter/tests/fixtures/jwks.json")).unwrap();
    jwks["keys"]
        .as_array_mut()
        .unwrap()
        .retain(|k| k["kid"] != "rsa-weak");
    let mut keys = KeySet::from_jwks(jwks.to_string().as_bytes()).unwrap();
    keys.extend(KeySet::hs256(b"0123456789abcdef0123456789abcdef", Some("hs-1".into())).unwrap());
    keys
});

fuzz_target!(|token: &str| {
    // An agent's token, and a person's named by `sub` or by another claim.
    for user_claim in [None, Some("sub"), Some("oid")] {
        let settings = JwtSettings {
            algorithms: vec![Algorithm::HS256, Algorithm::RS256, Algorithm::ES256],
            issuer: Some("iss".into()),
            audience: Some("aud".into()),
            leeway: 30,
            require_kid: false,
            user_claim: user_claim.map(str::to_string),
        };
        let plain = verify(token, &KEYS, &settings, NOW);
        let cache = VerifiedCache::new(4);
        assert_eq!(verify_cached(token, &KEYS, &settings, &cache, NOW), plain);
        assert_eq!(verify_cached(token, &KEYS, &settings, &cache, NOW), plain);
    }
});

//! Table-driven token tests. Tokens are minted here with jsonwebtoken from test-only keys in
//! `tests/fixtures`; the end-to-end tests mint theirs with PyJWT, an independent implementation.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};

use super::*;

const NOW: u64 = 1_800_000_000;
const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const RSA_PEM: &[u8] = include_bytes!("../../tests/fixtures/rsa2048.pem");
const EC_PEM: &[u8] = include_bytes!("../../tests/fixtures/ec256.pk8.pem");
const JWKS: &str = include_str!("../../tests/fixtures/jwks.json");

fn keys() -> KeySet {
    let mut doc: Value = serde_json::from_str(JWKS).unwrap();
    doc["keys"]
        .as_array_mut()
        .unwrap()
        .retain(|k| k["kid"] != "rsa-weak");
    let mut set = KeySet::from_jwks(doc.to_string().as_bytes()).unwrap();
    set.extend(KeySet::hs256(SECRET, Some("hs-1".into())).unwrap());
    set
}

fn settings() -> JwtSettings {
    JwtSettings {
        algorithms: vec![Algorithm::HS256, Algorithm::RS256, Algorithm::ES256],
        issuer: Some("https://issuer.test".into()),
        audience: Some("vault-mcp-bridge".into()),
        leeway: 30,
        require_kid: false,
        user_claim: None,
    }
}

fn claims() -> Value {
    json!({
        "sub": "agent_jwt",
        "iss": "https://issuer.test",
        "aud": "vault-mcp-bridge",
        "exp": NOW + 600,
        "nbf": NOW - 10,
        "scope": "read write",
    })
}

fn with(changes: Value) -> Value {
    let mut c = claims();
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

fn sign(alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
    let key = match alg {
        Algorithm::HS256 => EncodingKey::from_secret(SECRET),
        Algorithm::RS256 => EncodingKey::from_rsa_pem(RSA_PEM).unwrap(),
        Algorithm::ES256 => EncodingKey::from_ec_pem(EC_PEM).unwrap(),
        _ => unreachable!(),
    };
    let mut header = Header::new(alg);
    header.kid = kid.map(Into::into);
    encode(&header, claims, &key).unwrap()
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

#[test]
fn valid_tokens_name_their_subject_and_scopes() {
    for (alg, kid) in [
        (Algorithm::HS256, Some("hs-1")),
        (Algorithm::HS256, None),
        (Algorithm::RS256, Some("rsa-1")),
        (Algorithm::RS256, None),
        (Algorithm::ES256, Some("ec-1")),
    ] {
        let identity = verify(&sign(alg, kid, &claims()), &keys(), &settings(), NOW)
            .unwrap_or_else(|e| panic!("{alg:?} {kid:?}: {e}"));
        assert_eq!(identity.subject, "agent_jwt");
        assert_eq!(identity.scopes, ["read", "write"]);
    }
}

#[test]
fn scopes_come_from_scope_scp_and_scopes() {
    let token = sign(
        Algorithm::HS256,
        None,
        &with(json!({"scope": "read", "scp": ["list"], "scopes": "delete write"})),
    );
    let identity = verify(&token, &keys(), &settings(), NOW).unwrap();
    assert_eq!(identity.scopes, ["delete", "list", "read", "write"]);
}

#[test]
fn people_are_named_by_their_claim_in_the_user_alphabet() {
    let by_sub = JwtSettings {
        user_claim: Some("sub".into()),
        ..settings()
    };
    let by_oid = JwtSettings {
        user_claim: Some("oid".into()),
        ..settings()
    };
    let token = sign(
        Algorithm::RS256,
        Some("rsa-1"),
        &with(json!({"sub": "Ann|1", "oid": "7c-e1"})),
    );
    assert_eq!(
        verify(&token, &keys(), &by_sub, NOW).unwrap().subject,
        "user._41nn_7c1"
    );
    assert_eq!(
        verify(&token, &keys(), &by_oid, NOW).unwrap().subject,
        "user.7c_2de1"
    );
    // An agent-style `sub` is still a person's name here, never an agent's.
    let agent_like = sign(Algorithm::RS256, Some("rsa-1"), &claims());
    assert_eq!(
        verify(&agent_like, &keys(), &by_sub, NOW).unwrap().subject,
        "user.agent_5fjwt"
    );
    // A missing, empty or non-string claim names nobody.
    for claims in [json!({"oid": 7}), json!({"oid": ""}), json!({})] {
        let token = sign(Algorithm::RS256, Some("rsa-1"), &with(claims));
        assert_eq!(
            verify(&token, &keys(), &by_oid, NOW),
            Err(JwtError::BadSubject)
        );
    }
    assert_eq!(
        claimed_issuer(&token).as_deref(),
        Some("https://issuer.test")
    );
    assert_eq!(claimed_issuer("not.a.token"), None);
}

#[test]
fn refusals() {
    let rsa_public_pem = {
        // The classic confusion attack: HS256 keyed with the RSA public key's bytes.
        let doc: Value = serde_json::from_str(JWKS).unwrap();
        doc["keys"][0]["n"].as_str().unwrap().as_bytes().to_vec()
    };
    let confused = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("rsa-1".into());
        encode(
            &header,
            &claims(),
            &EncodingKey::from_secret(&rsa_public_pem),
        )
        .unwrap()
    };
    let confused_no_kid = encode(
        &Header::new(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(&rsa_public_pem),
    )
    .unwrap();
    let alg_none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims())
    );
    let tampered = {
        let token = sign(Algorithm::RS256, Some("rsa-1"), &claims());
        let parts: Vec<&str> = token.split('.').collect();
        let payload = b64(&with(json!({"sub": "agent_api"})));
        format!("{}.{}.{}", parts[0], payload, parts[2])
    };
    let bad_signature = {
        let token = sign(Algorithm::ES256, Some("ec-1"), &claims());
        let (head, sig) = token.rsplit_once('.').unwrap();
        let mut sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
        sig[10] ^= 1;
        format!("{head}.{}", URL_SAFE_NO_PAD.encode(sig))
    };
    let embedded_jwk = {
        // A token carrying its own key in the header: the key is never used.
        let mut header = Header::new(Algorithm::HS256);
        header.jku = Some("http://attacker.test/jwks.json".into());
        header.x5u = Some("http://attacker.test/cert.pem".into());
        encode(&header, &claims(), &EncodingKey::from_secret(&[9u8; 32])).unwrap()
    };
    let huge = sign(
        Algorithm::HS256,
        None,
        &with(json!({"pad": "x".repeat(MAX_TOKEN_BYTES)})),
    );

    let cases: Vec<(&str, String, JwtError)> = vec![
        ("garbage", "not.a.jwt".into(), JwtError::Malformed),
        ("empty", String::new(), JwtError::Malformed),
        ("alg none", alg_none, JwtError::Malformed),
        (
            "confusion with kid",
            confused,
            JwtError::AlgorithmNotAllowed,
        ),
        (
            "confusion without kid",
            confused_no_kid,
            JwtError::BadSignature,
        ),
        ("tampered payload", tampered, JwtError::BadSignature),
        ("tampered signature", bad_signature, JwtError::BadSignature),
        ("jku/x5u not followed", embedded_jwk, JwtError::BadSignature),
        ("oversize", huge, JwtError::TooLarge),
        (
            "unknown kid",
            sign(Algorithm::RS256, Some("rsa-2"), &claims()),
            JwtError::UnknownKid("rsa-2".into()),
        ),
        (
            "expired",
            sign(Algorithm::HS256, None, &with(json!({"exp": NOW - 31}))),
            JwtError::Expired,
        ),
        (
            "no exp",
            sign(Algorithm::HS256, None, &with(json!({"exp": null}))),
            JwtError::MissingExpiry,
        ),
        (
            "nbf in the future",
            sign(Algorithm::HS256, None, &with(json!({"nbf": NOW + 31}))),
            JwtError::NotYetValid,
        ),
        (
            "wrong issuer",
            sign(
                Algorithm::HS256,
                None,
                &with(json!({"iss": "https://evil.test"})),
            ),
            JwtError::WrongIssuer,
        ),
        (
            "no issuer",
            sign(Algorithm::HS256, None, &with(json!({"iss": null}))),
            JwtError::WrongIssuer,
        ),
        (
            "wrong audience",
            sign(
                Algorithm::HS256,
                None,
                &with(json!({"aud": ["other", "x"]})),
            ),
            JwtError::WrongAudience,
        ),
        (
            "no subject",
            sign(Algorithm::HS256, None, &with(json!({"sub": null}))),
            JwtError::BadSubject,
        ),
        (
            "path in subject",
            sign(
                Algorithm::HS256,
                None,
                &with(json!({"sub": "../agent_api"})),
            ),
            JwtError::BadSubject,
        ),
    ];
    for (name, token, expected) in cases {
        assert_eq!(
            verify(&token, &keys(), &settings(), NOW),
            Err(expected),
            "{name}"
        );
    }
}

#[test]
fn leeway_and_toggles() {
    let expired_20s = sign(Algorithm::HS256, None, &with(json!({"exp": NOW - 20})));
    assert!(verify(&expired_20s, &keys(), &settings(), NOW).is_ok());
    let no_iss_no_aud = sign(
        Algorithm::HS256,
        None,
        &with(json!({"iss": null, "aud": null})),
    );
    let relaxed = JwtSettings {
        issuer: None,
        audience: None,
        ..settings()
    };
    assert!(verify(&no_iss_no_aud, &keys(), &relaxed, NOW).is_ok());
    let in_list = sign(
        Algorithm::HS256,
        None,
        &with(json!({"aud": ["x", "vault-mcp-bridge"]})),
    );
    assert!(verify(&in_list, &keys(), &settings(), NOW).is_ok());
}

#[test]
fn allowlist_kid_requirement_and_empty_keys() {
    let rs = sign(Algorithm::RS256, None, &claims());
    let hs_only = JwtSettings {
        algorithms: vec![Algorithm::HS256],
        ..settings()
    };
    assert_eq!(
        verify(&rs, &keys(), &hs_only, NOW),
        Err(JwtError::AlgorithmNotAllowed)
    );
    let need_kid = JwtSettings {
        require_kid: true,
        ..settings()
    };
    assert_eq!(
        verify(&rs, &keys(), &need_kid, NOW),
        Err(JwtError::MissingKid)
    );
    assert_eq!(
        verify(&rs, &KeySet::default(), &settings(), NOW),
        Err(JwtError::NoKeys)
    );
}

#[test]
fn the_cache_answers_a_repeated_token_and_rechecks_its_times() {
    let keys = keys();
    let cache = VerifiedCache::new(8);
    let token = sign(Algorithm::RS256, Some("rsa-1"), &claims());
    let first = verify_cached(&token, &keys, &settings(), &cache, NOW).unwrap();
    assert_eq!(cache.len(), 1);
    assert_eq!(
        verify_cached(&token, &keys, &settings(), &cache, NOW + 1),
        Ok(first)
    );
    // Past exp + leeway the cached entry is refused, and dropped.
    assert_eq!(
        verify_cached(&token, &keys, &settings(), &cache, NOW + 600 + 31),
        Err(JwtError::Expired)
    );
    assert!(cache.is_empty());
    // Before nbf - leeway likewise.
    let early = sign(
        Algorithm::RS256,
        Some("rsa-1"),
        &with(json!({"nbf": NOW + 100})),
    );
    assert!(verify_cached(&early, &keys, &settings(), &cache, NOW + 100).is_ok());
    assert_eq!(
        verify_cached(&early, &keys, &settings(), &cache, NOW),
        Err(JwtError::NotYetValid)
    );
}

#[test]
fn the_cache_never_holds_a_refused_token() {
    let keys = keys();
    let cache = VerifiedCache::new(8);
    let good = sign(Algorithm::RS256, Some("rsa-1"), &claims());
    let (head, rest) = good.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let tampered = format!("{head}.{}.{signature}", b64(&with(json!({"sub": "root"}))));
    for _ in 0..2 {
        assert_eq!(
            verify_cached(&tampered, &keys, &settings(), &cache, NOW),
            Err(JwtError::BadSignature)
        );
    }
    assert!(cache.is_empty());
}

#[test]
fn new_keys_forget_what_the_old_ones_verified() {
    let cache = VerifiedCache::new(8);
    let token = sign(Algorithm::RS256, Some("rsa-1"), &claims());
    let old = keys();
    verify_cached(&token, &old, &settings(), &cache, NOW).unwrap();
    // The issuer rotated: its JWKS now only holds the HS256 key (rsa-1 is gone).
    let rotated = KeySet::hs256(SECRET, Some("hs-1".into())).unwrap();
    assert_eq!(
        verify_cached(&token, &rotated, &settings(), &cache, NOW),
        Err(JwtError::UnknownKid("rsa-1".into()))
    );
    // A clone holds the same keys: its entries stay valid.
    let clone = old.clone();
    assert!(verify_cached(&token, &clone, &settings(), &cache, NOW).is_ok());
}

#[test]
fn the_cache_is_bounded_and_can_be_off() {
    let keys = keys();
    let cache = VerifiedCache::new(2);
    for sub in ["a1", "a2", "a3"] {
        let token = sign(Algorithm::HS256, Some("hs-1"), &with(json!({"sub": sub})));
        verify_cached(&token, &keys, &settings(), &cache, NOW).unwrap();
    }
    assert_eq!(cache.len(), 2);
    let off = VerifiedCache::new(0);
    let token = sign(Algorithm::HS256, Some("hs-1"), &claims());
    assert!(verify_cached(&token, &keys, &settings(), &off, NOW).is_ok());
    assert_eq!((off.capacity(), off.len()), (0, 0));
}

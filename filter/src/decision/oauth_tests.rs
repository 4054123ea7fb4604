//! People signed in through the OAuth authorization server: tokens of its own issuer, keys and
//! audience, names in the `user.` alphabet, and the registry deciding who comes in with what.

use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};

use super::tests::{NOW_MS, forwarded, policy_with, refusal, req, run_with, token};
use super::*;
use crate::ratelimit::MemoryStore;
use crate::registry::Registry;

const ISSUER: &str = "https://login.test";
const EC_PEM: &[u8] = include_bytes!("../../tests/fixtures/ec256.pk8.pem");
const JWKS: &str = include_str!("../../tests/fixtures/jwks.json");

/// The server's published key: the fixture's P-256 one.
fn server_jwks() -> Value {
    let mut jwks: Value = serde_json::from_str(JWKS).unwrap();
    jwks["keys"]
        .as_array_mut()
        .unwrap()
        .retain(|k| k["kid"] == "ec-1");
    jwks
}

fn policy() -> Policy {
    policy_with(json!({
        "registry": {"cluster": "backend", "authority": "backend"},
        "oauth": {"issuer": ISSUER, "jwks": server_jwks()},
    }))
}

fn registry() -> Registry {
    let doc = json!({"agents": [
        {"subject": "user.ann", "enabled": true, "scopes": ["read", "write", "list"]},
        {"subject": "user._42ob", "enabled": false, "scopes": ["read"]},
    ]});
    Registry::parse(doc.to_string().as_bytes(), 1 << 20).unwrap()
}

/// An access token of the authorization server, changed by `changes` (null removes a claim).
fn access_token(kid: &str, changes: Value) -> String {
    let mut claims = json!({"iss": ISSUER, "sub": "ann", "aud": "http://edge.test/mcp",
                            "exp": NOW_MS / 1000 + 60, "scope": "read write delete",
                            "client_id": "c1"});
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    let mut header = Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(kid.into());
    header.typ = Some("at+jwt".into());
    encode(&header, &claims, &EncodingKey::from_ec_pem(EC_PEM).unwrap()).unwrap()
}

fn call(policy: &Policy, registry: Followed<'_>, method: &str, path: &str, token: &str) -> Outcome {
    let bearer = format!("Bearer {token}");
    let request = req(method, path, &[("authorization", &bearer)]);
    run_with(policy, registry, &MemoryStore::default(), &request)
}

#[test]
fn a_registered_person_gets_the_scopes_token_and_registry_both_grant() {
    let (policy, registry) = (policy(), registry());
    let ok = call(
        &policy,
        Followed::Yes(&registry),
        "GET",
        "/secrets/a",
        &access_token("ec-1", json!({})),
    );
    let identity = forwarded(ok).identity;
    assert_eq!(identity.subject, "user.ann");
    // `delete` is in the token but not the registry; `list` the other way round.
    assert_eq!(identity.scopes, ["read", "write"]);
    let delete = call(
        &policy,
        Followed::Yes(&registry),
        "DELETE",
        "/secrets/a",
        &access_token("ec-1", json!({})),
    );
    assert_eq!(refusal(&delete), (403, "insufficient_scope"));
    let Verdict::Respond(denial) = delete.verdict else {
        unreachable!()
    };
    assert!(
        denial
            .headers
            .iter()
            .any(|(n, v)| *n == "www-authenticate" && v.contains(r#"scope="delete""#))
    );
}

#[test]
fn people_the_registry_does_not_admit_are_refused() {
    let (policy, registry) = (policy(), registry());
    let cases = [
        (
            Followed::Yes(&registry),
            json!({"sub": "bob"}),
            (403, "unknown_user"),
        ),
        (
            Followed::Yes(&registry),
            json!({"sub": "Bob"}),
            (403, "agent_disabled"),
        ),
        (Followed::No, json!({}), (403, "unknown_user")),
        (Followed::Pending, json!({}), (503, "registry_unavailable")),
    ];
    for (followed, changes, expected) in cases {
        let outcome = call(
            &policy,
            followed,
            "GET",
            "/secrets/a",
            &access_token("ec-1", changes.clone()),
        );
        assert_eq!(refusal(&outcome), expected, "{changes}");
    }
}

#[test]
fn with_sign_up_a_newcomer_gets_the_sign_up_scopes_their_token_grants() {
    let policy = policy();
    let doc = json!({"agents": [{"subject": "user._42ob", "enabled": false, "scopes": ["read"]}],
                     "sign_up_scopes": ["read", "list"]});
    let registry = Registry::parse(doc.to_string().as_bytes(), 1 << 20).unwrap();
    let newcomer = call(
        &policy,
        Followed::Yes(&registry),
        "GET",
        "/secrets/a",
        &access_token("ec-1", json!({"sub": "bob", "scope": "read write"})),
    );
    let identity = forwarded(newcomer).identity;
    assert_eq!(
        (identity.subject.as_str(), identity.scopes.as_slice()),
        ("user.bob", &["read".to_string()][..])
    );
    // Signing up never lets a disabled person back in.
    let disabled = call(
        &policy,
        Followed::Yes(&registry),
        "GET",
        "/secrets/a",
        &access_token("ec-1", json!({"sub": "Bob"})),
    );
    assert_eq!(refusal(&disabled), (403, "agent_disabled"));
}

#[test]
fn tokens_not_made_for_this_resource_by_this_server_are_refused() {
    let (policy, registry) = (policy(), registry());
    let registry = Followed::Yes(&registry);
    for changes in [
        json!({"aud": "http://other.test/mcp"}),
        json!({"aud": null}),
        json!({"exp": NOW_MS / 1000 - 600}),
        json!({"sub": null}),
        json!({"sub": ""}),
        json!({"iss": "https://login.test/"}),
    ] {
        let outcome = call(
            &policy,
            registry,
            "GET",
            "/secrets/a",
            &access_token("ec-1", changes.clone()),
        );
        assert_eq!(refusal(&outcome), (401, "invalid_token"), "{changes}");
    }
    // The agents' issuer cannot name a person, nor sign for the authorization server.
    let agents_person = token(Some("hs-1"), "user.ann", "read");
    assert_eq!(
        refusal(&call(
            &policy,
            registry,
            "GET",
            "/secrets/a",
            &agents_person
        )),
        (401, "invalid_token")
    );
    let hs256_as_server = {
        let claims = json!({"iss": ISSUER, "sub": "ann", "aud": "http://edge.test/mcp",
                            "exp": NOW_MS / 1000 + 60, "scope": "read"});
        encode(
            &Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
        )
        .unwrap()
    };
    assert_eq!(
        refusal(&call(
            &policy,
            registry,
            "GET",
            "/secrets/a",
            &hs256_as_server
        )),
        (401, "invalid_token")
    );
    // An unknown key asks for the server's JWKS again, not the agents'.
    let rotated = call(
        &policy,
        registry,
        "GET",
        "/secrets/a",
        &access_token("ec-2", json!({})),
    );
    assert_eq!(refusal(&rotated), (401, "invalid_token"));
    assert_eq!(rotated.unknown_kid, Some(KeySource::OAuth));
    // Agents' tokens still verify with the agents' keys.
    let agent = call(
        &policy,
        registry,
        "GET",
        "/secrets/a",
        &token(Some("hs-1"), "agent_jwt", "read"),
    );
    assert_eq!(forwarded(agent).identity.subject, "agent_jwt");
}

#[test]
fn challenges_point_at_the_server_and_the_scopes() {
    let policy = policy();
    let outcome = run_with(
        &policy,
        Followed::No,
        &MemoryStore::default(),
        &req("GET", "/mcp", &[]),
    );
    let Verdict::Respond(denial) = outcome.verdict else {
        panic!("refused")
    };
    let challenge = &denial
        .headers
        .iter()
        .find(|(n, _)| *n == "www-authenticate")
        .unwrap()
        .1;
    assert_eq!(
        challenge,
        r#"Bearer resource_metadata="http://edge.test/.well-known/oauth-protected-resource/mcp", scope="read write list delete""#
    );
    let meta = policy.resource_metadata.as_ref().unwrap();
    let document: Value = serde_json::from_str(&meta.document).unwrap();
    assert_eq!(document["authorization_servers"], json!([ISSUER]));
}

#[test]
fn configurations_that_would_let_the_wrong_party_in_are_refused() {
    let env = |_: &str| None;
    let parse = |config: Value| Policy::from_json(config.to_string().as_bytes(), &env).map(|_| ());
    let jwks = server_jwks();
    let registry = json!({"cluster": "backend", "authority": "backend"});
    let key = json!({"value": "assertion-key-assertion-key-0123"});
    for (config, why) in [
        (
            json!({"oauth": {"issuer": ISSUER, "jwks": jwks, "audience": "x"}}),
            "needs registry",
        ),
        (
            json!({"oauth": {"issuer": ISSUER, "jwks": jwks}, "registry": registry, "assertion_key": key}),
            "audience",
        ),
        (
            json!({"oauth": {"issuer": ISSUER, "audience": "x", "jwks": jwks, "algorithms": ["HS256"]},
                "registry": registry, "assertion_key": key}),
            "HS256",
        ),
        (
            json!({"api_keys": [{"sha256": "0".repeat(64), "subject": "user.ann", "scopes": []}]}),
            "not a valid subject",
        ),
        (
            json!({"oauth": {"issuer": ISSUER, "audience": "x", "jwks": jwks}, "registry": registry,
                   "assertion_key": key, "jwt": {"issuer": ISSUER, "audience": "b", "jwks": jwks}}),
            "must differ",
        ),
        (
            json!({"oauth": {"issuer": ISSUER, "audience": "x", "jwks": jwks}, "registry": registry,
                   "assertion_key": key, "jwt": {"validate_issuer": false, "audience": "b", "jwks": jwks}}),
            "validate_issuer",
        ),
    ] {
        let error = parse(config).unwrap_err().to_string();
        assert!(error.contains(why), "{error}");
    }
    // A person in the registry holds no key or certificate.
    let doc = json!({"agents": [{"subject": "user.ann", "enabled": true,
                                  "keys": [{"id": "k1", "sha256": "0".repeat(64)}]}]});
    assert!(Registry::parse(doc.to_string().as_bytes(), 1 << 20).is_err());
}

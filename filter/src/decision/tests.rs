//! Table-driven tests of the whole decision, with a fixed clock and an in-memory slot store.
//! One file on purpose (just over 500 lines): every case builds on the same few helpers, and
//! the table reads as one specification of the edge. The registry's cases, which add a state
//! of their own, are in `registry_tests.rs` on the same helpers.

use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::json;

use super::*;
use crate::apikey::digest;
use crate::assertion::Claims;
use crate::ratelimit::MemoryStore;

pub(super) const NOW_MS: u64 = 1_800_000_000_000;
const SECRET: &str = "0123456789abcdef0123456789abcdef";
pub(super) const ASSERTION_KEY: &str = "assertion-key-assertion-key-0123";

pub(super) fn policy_with(extra: serde_json::Value) -> Policy {
    let mut config = json!({
        "api_keys": [
            {"sha256": hex::encode(digest("dev-key")), "subject": "agent_api",
             "scopes": ["read", "write", "list", "delete"]},
            {"sha256": hex::encode(digest("dev-key-ro")), "subject": "agent_ro", "scopes": ["read", "list"]},
        ],
        "jwt": {"issuer": "https://issuer.test", "audience": "bridge",
                "hs256_secret": {"env": "JWT_HS256_SECRET"}, "hs256_kid": "hs-1"},
        "mtls": {"source": "connection", "identities": {"agent_cert": ["read"]}},
        "assertion_key": {"env": "AGENT_ASSERTION_KEY"},
        "rate_limit": {"requests": 100, "per_seconds": 60},
        "resource_metadata": {"resource": "http://edge.test/mcp"},
        "mcp": {"max_body_bytes": 256},
    });
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    let env = |name: &str| match name {
        "JWT_HS256_SECRET" => Some(SECRET.to_string()),
        "AGENT_ASSERTION_KEY" => Some(ASSERTION_KEY.to_string()),
        _ => None,
    };
    Policy::from_json(config.to_string().as_bytes(), &env).unwrap()
}

fn policy() -> Policy {
    policy_with(json!({}))
}

/// The keys a host holds for `policy`: the agents' and the authorization server's.
fn keys(policy: &Policy) -> (KeySet, KeySet) {
    let held = |jwt: Option<&crate::config::JwtPolicy>| {
        jwt.map(|j| j.static_keys.clone()).unwrap_or_default()
    };
    (
        held(policy.jwt.as_ref()),
        held(policy.oauth.as_ref().map(|o| &o.jwt)),
    )
}

pub(super) fn token(kid: Option<&str>, sub: &str, scope: &str) -> String {
    let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = kid.map(Into::into);
    let claims = json!({"sub": sub, "iss": "https://issuer.test", "aud": "bridge",
                        "exp": NOW_MS / 1000 + 60, "scope": scope});
    encode(
        &header,
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

pub(super) struct Req {
    headers: Vec<(String, String)>,
    pub(super) peer: Option<&'static str>,
    pub(super) peer_sha256: Option<String>,
    envoy_jwt: Option<Vec<u8>>,
    pub(super) body: bool,
}

pub(super) fn req(method: &str, path: &str, headers: &[(&str, &str)]) -> Req {
    let mut all = vec![
        (":method".to_string(), method.to_string()),
        (":path".to_string(), path.to_string()),
        ("x-request-id".to_string(), "req-1".to_string()),
    ];
    all.extend(headers.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    Req {
        headers: all,
        peer: None,
        peer_sha256: None,
        envoy_jwt: None,
        body: method == "POST" || method == "PUT",
    }
}

fn run(policy: &Policy, store: &MemoryStore, r: &Req) -> Outcome {
    run_with(policy, Followed::No, store, r)
}

pub(super) fn run_with(
    policy: &Policy,
    registry: Followed<'_>,
    store: &MemoryStore,
    r: &Req,
) -> Outcome {
    if let Some(rate) = &policy.rate_limit {
        rate.limiter.create_slots(store);
    }
    let request = Request {
        headers: &r.headers,
        peer_subject: r.peer,
        peer_sha256: r.peer_sha256.as_deref(),
        envoy_jwt: r.envoy_jwt.as_deref(),
        now_ms: NOW_MS,
        has_body: r.body,
    };
    let (agents, oauth) = keys(policy);
    let keys = Keys {
        agents: &agents,
        oauth: &oauth,
    };
    on_headers(policy, keys, registry, store, &request)
}

pub(super) fn refusal(outcome: &Outcome) -> (u16, &'static str) {
    match &outcome.verdict {
        Verdict::Respond(d) => (d.status, d.code),
        other => panic!("expected a local reply, got {other:?}"),
    }
}

pub(super) fn forwarded(outcome: Outcome) -> Forward {
    match outcome.verdict {
        Verdict::Forward(f) => f,
        other => panic!("expected forward, got {other:?}"),
    }
}

#[test]
fn refusals() {
    let bearer = format!("Bearer {}", token(Some("hs-1"), "agent_jwt", "read"));
    let unknown_kid = format!("Bearer {}", token(Some("hs-9"), "agent_jwt", "read"));
    let cases: Vec<(Req, (u16, &str))> = vec![
        (req("GET", "/secrets/a", &[]), (401, "missing_credentials")),
        (
            req("GET", "/secrets/a", &[("x-api-key", "nope")]),
            (401, "invalid_api_key"),
        ),
        (
            req(
                "GET",
                "/secrets/a",
                &[("x-api-key", "dev-key"), ("x-api-key", "dev-key")],
            ),
            (401, "ambiguous_credentials"),
        ),
        (
            req(
                "GET",
                "/secrets/a",
                &[("x-api-key", "dev-key"), ("authorization", &bearer)],
            ),
            (401, "ambiguous_credentials"),
        ),
        (
            req(
                "GET",
                "/secrets/a?access_token=x",
                &[("x-api-key", "dev-key")],
            ),
            (401, "credentials_in_query"),
        ),
        (
            req(
                "GET",
                "/secrets/a",
                &[("authorization", "Bearer not-a-token")],
            ),
            (401, "invalid_token"),
        ),
        (
            req("GET", "/secrets/a", &[("authorization", &unknown_kid)]),
            (401, "invalid_token"),
        ),
        (
            req("PUT", "/secrets/a", &[("x-api-key", "dev-key-ro")]),
            (403, "insufficient_scope"),
        ),
        (
            req("GET", "/admin", &[("x-api-key", "dev-key")]),
            (404, "unknown_route"),
        ),
        (
            req(
                "POST",
                "/mcp",
                &[
                    ("x-api-key", "dev-key-ro"),
                    ("mcp-protocol-version", "2026-07-28"),
                    ("mcp-method", "tools/call"),
                    ("mcp-name", "kv.write"),
                ],
            ),
            (403, "insufficient_scope"),
        ),
        (
            req(
                "POST",
                "/mcp",
                &[
                    ("x-api-key", "dev-key"),
                    ("mcp-protocol-version", "2026-07-28"),
                    ("mcp-method", "tools/call"),
                    ("mcp-name", "shell.exec"),
                ],
            ),
            (403, "unknown_tool"),
        ),
    ];
    for (r, expected) in cases {
        let outcome = run(&policy(), &MemoryStore::default(), &r);
        assert_eq!(refusal(&outcome), expected, "{:?}", r.headers);
    }
}

#[test]
fn challenges_point_at_the_resource_metadata() {
    let outcome = run(
        &policy(),
        &MemoryStore::default(),
        &req("GET", "/secrets/a", &[]),
    );
    let Verdict::Respond(denial) = outcome.verdict else {
        panic!()
    };
    assert!(denial.headers.contains(&(
        "www-authenticate",
        r#"Bearer resource_metadata="http://edge.test/.well-known/oauth-protected-resource/mcp", scope="read write list delete""#
            .to_string()
    )));
    let meta = run(
        &policy(),
        &MemoryStore::default(),
        &req("GET", "/.well-known/oauth-protected-resource/mcp", &[]),
    );
    let Verdict::Respond(doc) = meta.verdict else {
        panic!()
    };
    assert_eq!(doc.status, 200);
    assert!(doc.body.contains(r#""resource":"http://edge.test/mcp""#));
}

#[test]
fn unknown_kid_is_reported_for_a_refetch() {
    let bearer = format!("Bearer {}", token(Some("hs-9"), "agent_jwt", "read"));
    let outcome = run(
        &policy(),
        &MemoryStore::default(),
        &req("GET", "/secrets/a", &[("authorization", &bearer)]),
    );
    assert_eq!(outcome.unknown_kid, Some(KeySource::Agents));
    let bearer = format!("Bearer {}", token(Some("hs-1"), "agent_jwt", "read"));
    let outcome = run(
        &policy(),
        &MemoryStore::default(),
        &req("GET", "/secrets/a", &[("authorization", &bearer)]),
    );
    assert_eq!(outcome.unknown_kid, None);
}

#[test]
fn forwarded_requests_carry_only_the_edge_identity() {
    let policy = policy();
    let r = req(
        "GET",
        "/secrets/a",
        &[
            ("X-API-Key", "dev-key-ro"),
            ("x-agent-subject", "agent_api"),
            ("X-Agent-Subject", "agent_api"),
            ("X-AGENT-SCOPES", "read write"),
            ("x-agent-assertion", "v2.1.00"),
            ("x-agent-key-id", "forged"),
        ],
    );
    let forward = forwarded(run(&policy, &MemoryStore::default(), &r));
    assert_eq!(forward.identity.subject, "agent_ro");
    assert_eq!(
        forward.remove,
        // Only headers that are present: each removal is a host call.
        [
            "x-agent-assertion",
            "x-agent-key-id",
            "x-agent-scopes",
            "x-agent-subject",
            "x-api-key"
        ]
    );
    let get = |name: &str| {
        forward
            .set
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(get("x-agent-subject"), "agent_ro");
    assert_eq!(get("x-agent-scopes"), "list read");
    // A static key has no registry id: none is set, the client's is gone.
    assert!(forward.set.iter().all(|(n, _)| *n != "x-agent-key-id"));
    let key = policy.assertion_key.as_ref().unwrap();
    let claims = Claims {
        subject: "agent_ro",
        scopes: "list read",
        request_id: "req-1",
        key_id: "",
    };
    assert_eq!(
        key.verify(&get("x-agent-assertion"), &claims, NOW_MS / 1000, 30),
        Ok(())
    );
}

#[test]
fn each_credential_kind_authenticates() {
    let policy = policy();
    let bearer = format!("Bearer {}", token(None, "agent_jwt", "read write"));
    let jwt = forwarded(run(
        &policy,
        &MemoryStore::default(),
        &req("PUT", "/secrets/a", &[("authorization", &bearer)]),
    ));
    assert_eq!(jwt.identity.subject, "agent_jwt");
    let mut cert = req("GET", "/secrets/a", &[]);
    cert.peer = Some("CN=agent_cert,O=Bridge");
    let mtls = forwarded(run(&policy, &MemoryStore::default(), &cert));
    assert_eq!(mtls.identity.subject, "agent_cert");
    cert.peer = Some("CN=stranger,O=Bridge");
    assert_eq!(
        refusal(&run(&policy, &MemoryStore::default(), &cert)),
        (401, "unknown_client_certificate")
    );
}

#[test]
fn mcp_calls_of_older_revisions_are_read_from_the_body() {
    let policy = policy();
    let store = MemoryStore::default();
    let r = req(
        "POST",
        "/mcp",
        &[
            ("x-api-key", "dev-key-ro"),
            ("mcp-protocol-version", "2025-11-25"),
        ],
    );
    let Verdict::ReadBody(pending) = run(&policy, &store, &r).verdict else {
        panic!("expected to read the body")
    };
    let call = |tool: &str| {
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
               "params": {"name": tool, "arguments": {}}})
        .to_string()
    };
    let verdict =
        |body: &str| on_body(&policy, &store, pending.clone(), body.as_bytes(), NOW_MS).verdict;
    assert!(matches!(verdict(&call("kv.read")), Verdict::Forward(_)));
    let code = |v: Verdict| match v {
        Verdict::Respond(d) => (d.status, d.code),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        code(verdict(&call("kv.write"))),
        (403, "insufficient_scope")
    );
    assert_eq!(code(verdict("{oops")), (400, "invalid_jsonrpc"));
    assert_eq!(code(verdict(&" ".repeat(257))), (413, "body_too_large"));
    let read_resource = json!({"jsonrpc": "2.0", "id": 1, "method": "resources/read",
                               "params": {"uri": "kv://agent_ro/a"}})
    .to_string();
    assert!(matches!(verdict(&read_resource), Verdict::Forward(_)));
    // Streams and session ends need no body.
    let get = req("GET", "/mcp", &[("x-api-key", "dev-key-ro")]);
    assert!(matches!(
        run(&policy, &store, &get).verdict,
        Verdict::Forward(_)
    ));
}

#[test]
fn rate_limits_per_subject_with_overrides() {
    let policy = policy_with(json!({"rate_limit": {
        "requests": 2, "per_seconds": 60,
        "subjects": {"agent_api": {"requests": 3, "per_seconds": 60}},
        "tools": {"kv.write": {"requests": 1, "per_seconds": 60}},
    }}));
    let store = MemoryStore::default();
    let count = |key: &str, n: usize| {
        (0..n)
            .map(|_| {
                run(
                    &policy,
                    &store,
                    &req("GET", "/secrets/a", &[("x-api-key", key)]),
                )
            })
            .filter(|o| matches!(o.verdict, Verdict::Forward(_)))
            .count()
    };
    assert_eq!(count("dev-key-ro", 5), 2);
    assert_eq!(count("dev-key", 5), 3);
    let limited = run(
        &policy,
        &store,
        &req("GET", "/secrets/a", &[("x-api-key", "dev-key-ro")]),
    );
    let Verdict::Respond(denial) = limited.verdict else {
        panic!()
    };
    assert_eq!((denial.status, denial.code), (429, "rate_limited"));
    assert!(denial.headers.contains(&("retry-after", "30".to_string())));

    // kv.write has its own, smaller bucket on top of the subject's.
    let store = MemoryStore::default();
    let write = req(
        "POST",
        "/mcp",
        &[
            ("x-api-key", "dev-key"),
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "kv.write"),
        ],
    );
    assert!(matches!(
        run(&policy, &store, &write).verdict,
        Verdict::Forward(_)
    ));
    assert_eq!(
        refusal(&run(&policy, &store, &write)),
        (429, "rate_limited")
    );
}

/// A `jwt_authn` payload as Envoy's wasm host serializes it (proxy-wasm pairs).
fn envoy_payload(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut out = (pairs.len() as u32).to_le_bytes().to_vec();
    for (k, v) in pairs {
        out.extend((k.len() as u32).to_le_bytes());
        out.extend((v.len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend(k.as_bytes());
        out.push(0);
        out.extend(v.as_bytes());
        out.push(0);
    }
    out
}

#[test]
fn tokens_verified_by_envoy_jwt_authn_are_taken_from_the_metadata() {
    let delegated = policy_with(json!({"jwt": {
        "issuer": "https://issuer.test", "audience": "bridge",
        "hs256_secret": {"env": "JWT_HS256_SECRET"},
        "envoy_jwt_authn": {"payload_in_metadata": "verified_jwt"}}}));
    let store = MemoryStore::default();
    let mut r = req("GET", "/secrets/a", &[]);
    r.envoy_jwt = Some(envoy_payload(&[
        ("iss", "https://issuer.test"),
        ("sub", "agent_rs"),
        ("scope", "read list"),
    ]));
    let forward = forwarded(run(&delegated, &store, &r));
    assert_eq!(forward.identity.subject, "agent_rs");
    assert_eq!(forward.identity.scopes, ["list", "read"]);
    // Scopes are enforced as for any other credential.
    let mut write = req("PUT", "/secrets/a", &[]);
    write.envoy_jwt = r.envoy_jwt.clone();
    assert_eq!(
        refusal(&run(&delegated, &store, &write)),
        (403, "insufficient_scope")
    );
    // A second credential next to it is ambiguous, as two credentials always are.
    let mut both = req("GET", "/secrets/a", &[("x-api-key", "dev-key")]);
    both.envoy_jwt = r.envoy_jwt.clone();
    assert_eq!(
        refusal(&run(&delegated, &store, &both)),
        (401, "ambiguous_credentials")
    );
    // A payload without a usable subject is refused, and so is one of another issuer (a
    // second provider in front: the authorization server's, say).
    let mut bad = req("GET", "/secrets/a", &[]);
    bad.envoy_jwt = Some(envoy_payload(&[
        ("iss", "https://issuer.test"),
        ("sub", "../other"),
    ]));
    assert_eq!(refusal(&run(&delegated, &store, &bad)).0, 401);
    let mut foreign = req("GET", "/secrets/a", &[]);
    foreign.envoy_jwt = Some(envoy_payload(&[
        ("iss", "https://login.test"),
        ("sub", "agent_rs"),
    ]));
    assert_eq!(
        refusal(&run(&delegated, &store, &foreign)),
        (401, "invalid_token")
    );
    // Without envoy_jwt_authn in the configuration, metadata is never a credential.
    assert_eq!(
        refusal(&run(&policy(), &store, &r)),
        (401, "missing_credentials")
    );
}

#[test]
fn a_declared_body_over_the_limit_is_refused_before_reading_it() {
    // The test policy's mcp.max_body_bytes is 256.
    let r = req(
        "POST",
        "/mcp",
        &[("x-api-key", "dev-key"), ("content-length", "257")],
    );
    assert_eq!(
        refusal(&run(&policy(), &MemoryStore::default(), &r)),
        (413, "body_too_large")
    );
    let r = req(
        "POST",
        "/mcp",
        &[("x-api-key", "dev-key"), ("content-length", "256")],
    );
    assert!(matches!(
        run(&policy(), &MemoryStore::default(), &r).verdict,
        Verdict::ReadBody(_)
    ));
}

#[test]
fn batches_are_refused_at_the_edge() {
    let store = MemoryStore::default();
    let r = req("POST", "/mcp", &[("x-api-key", "dev-key")]);
    let Verdict::ReadBody(pending) = run(&policy(), &store, &r).verdict else {
        panic!("expected the body to be read");
    };
    let body = br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#;
    let outcome = on_body(&policy(), &store, pending, body, NOW_MS);
    assert_eq!(outcome.refused.as_deref(), Some("agent_api"));
    let Verdict::Respond(denial) = outcome.verdict else {
        panic!("expected a refusal");
    };
    assert_eq!((denial.status, denial.code), (400, "invalid_jsonrpc"));
    assert!(denial.body.contains("batches are not supported"));
}

//! The filter's decision path, natively: what one request costs before Envoy's wasm overhead.
//!     cargo bench -p vault-mcp-filter --bench decision
//! Results and the comparison with in-Envoy numbers: docs/PERFORMANCE.md.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::json;
use vault_mcp_filter::decision::{Keys, Request, Verdict, on_headers};
use vault_mcp_filter::jwt::KeySet;
use vault_mcp_filter::ratelimit::{Limit, Limiter, MemoryStore};
use vault_mcp_filter::registry::{Followed, Registry};
use vault_mcp_filter::{Policy, apikey};

const NOW_MS: u64 = 1_800_000_000_000;
const SECRET: &str = "0123456789abcdef0123456789abcdef";

/// `cache`: the verified-token cache on (tokens after the first are "cached") or off ("cold").
fn policy(rate_limit: bool, cache: bool) -> Policy {
    let jwks = include_str!("../tests/fixtures/jwks.json");
    let mut jwks: serde_json::Value = serde_json::from_str(jwks).unwrap();
    jwks["keys"]
        .as_array_mut()
        .unwrap()
        .retain(|k| k["kid"] != "rsa-weak");
    let config = json!({
        "api_keys": [{"sha256": hex::encode(apikey::digest("dev-key")), "subject": "agent_api",
                      "scopes": ["read", "write"]}],
        "jwt": {"issuer": "iss", "audience": "aud", "hs256_secret": {"value": SECRET}, "jwks": jwks,
                "verified_cache_size": if cache { 1024 } else { 0 }},
        "assertion_key": {"value": SECRET},
        "rate_limit": {"enabled": rate_limit, "requests": 1_000_000_000, "per_seconds": 1},
    });
    Policy::from_json(config.to_string().as_bytes(), &|_| None).unwrap()
}

fn token(alg: Algorithm) -> String {
    let claims = json!({"sub": "agent_jwt", "iss": "iss", "aud": "aud", "exp": NOW_MS / 1000 + 600,
                        "scope": "read write"});
    let (key, kid) = match alg {
        Algorithm::HS256 => (EncodingKey::from_secret(SECRET.as_bytes()), None),
        Algorithm::RS256 => (
            EncodingKey::from_rsa_pem(include_bytes!("../tests/fixtures/rsa2048.pem")).unwrap(),
            Some("rsa-1"),
        ),
        _ => (
            EncodingKey::from_ec_pem(include_bytes!("../tests/fixtures/ec256.pk8.pem")).unwrap(),
            Some("ec-1"),
        ),
    };
    let mut header = Header::new(alg);
    header.kid = kid.map(Into::into);
    encode(&header, &claims, &key).unwrap()
}

fn headers(credential: (&str, String)) -> Vec<(String, String)> {
    vec![
        (":method".into(), "GET".into()),
        (":path".into(), "/secrets/configs/demo".into()),
        (
            "x-request-id".into(),
            "4f1c2d3e-0000-4000-8000-000000000000".into(),
        ),
        ("user-agent".into(), "bench".into()),
        (credential.0.into(), credential.1),
    ]
}

fn bench_decisions(c: &mut Criterion) {
    let store = MemoryStore::default();
    let bearer = |alg| headers(("authorization", format!("Bearer {}", token(alg))));
    let cases = [
        ("api_key", headers(("x-api-key", "dev-key".into()))),
        ("hs256", bearer(Algorithm::HS256)),
        ("rs256", bearer(Algorithm::RS256)),
        ("es256", bearer(Algorithm::ES256)),
    ];
    let mut group = c.benchmark_group("decision");
    for (cache, label) in [(false, "cold"), (true, "cached")] {
        let policy = policy(false, cache);
        let keys: KeySet = policy.jwt.as_ref().unwrap().static_keys.clone();
        let none = KeySet::default();
        let held = Keys {
            agents: &keys,
            oauth: &none,
        };
        for (name, headers) in &cases {
            if *name == "api_key" && cache {
                continue; // no token, nothing to cache
            }
            let request = Request {
                headers,
                peer_subject: None,
                peer_sha256: None,
                envoy_jwt: None,
                now_ms: NOW_MS,
                has_body: false,
            };
            assert!(matches!(
                on_headers(&policy, held, Followed::No, &store, &request).verdict,
                Verdict::Forward(_)
            ));
            let id = if *name == "api_key" {
                name.to_string()
            } else {
                format!("{name}/{label}")
            };
            group.bench_function(id, |b| {
                b.iter(|| on_headers(&policy, held, Followed::No, &store, black_box(&request)))
            });
        }
    }
    group.finish();
}

fn bench_rate_limiter(c: &mut Criterion) {
    let store = MemoryStore::default();
    let limiter = Limiter::new("rl.", 1024);
    limiter.create_slots(&store);
    let limit = Limit {
        requests: u32::MAX,
        per_seconds: 1,
    };
    let mut now = NOW_MS;
    c.bench_function("rate_limiter/take", |b| {
        b.iter(|| {
            now += 1;
            limiter.take(&store, black_box("agent_api"), limit, now)
        })
    });
}

/// A snapshot like the backend's: `count` agents with a key each, `agent_api` (key `dev-key`)
/// among them.
fn snapshot(count: usize) -> Vec<u8> {
    let agents: Vec<_> = (0..count)
        .map(|i| {
            let (subject, key) = match i {
                0 => ("agent_api".to_string(), "dev-key".to_string()),
                _ => (format!("agent_{i:05}"), format!("vmb_key_{i}")),
            };
            json!({"subject": subject, "enabled": true, "scopes": ["read", "write"],
                   "keys": [{"id": format!("k{i:05}"), "sha256": hex::encode(apikey::digest(&key))}]})
        })
        .collect();
    json!({ "agents": agents }).to_string().into_bytes()
}

/// What a registry of 10,000 agents costs: taking a new snapshot (every worker parses it once
/// per change) and the API-key decision against it, beside the same with 4 agents.
fn bench_registry(c: &mut Criterion) {
    let store = MemoryStore::default();
    // No static keys: every key is found in the registry.
    let config = json!({"assertion_key": {"value": SECRET}, "rate_limit": {"enabled": false},
                        "registry": {"cluster": "backend", "authority": "backend"}});
    let policy = Policy::from_json(config.to_string().as_bytes(), &|_| None).unwrap();
    let (keys, none) = (KeySet::default(), KeySet::default());
    let held = Keys {
        agents: &keys,
        oauth: &none,
    };
    let request_headers = headers(("x-api-key", "dev-key".into()));
    let request = Request {
        headers: &request_headers,
        peer_subject: None,
        peer_sha256: None,
        envoy_jwt: None,
        now_ms: NOW_MS,
        has_body: false,
    };
    let mut group = c.benchmark_group("registry");
    for count in [4, 10_000] {
        let document = snapshot(count);
        let registry = Registry::parse(&document, usize::MAX).unwrap();
        let followed = Followed::Yes(&registry);
        assert!(matches!(
            on_headers(&policy, held, followed, &store, &request).verdict,
            Verdict::Forward(_)
        ));
        group.bench_function(format!("api_key/{count}_agents"), |b| {
            b.iter(|| on_headers(&policy, held, followed, &store, black_box(&request)))
        });
        if count > 4 {
            group.sample_size(10);
            group.bench_function(format!("parse/{count}_agents"), |b| {
                b.iter(|| Registry::parse(black_box(&document), usize::MAX).unwrap())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_decisions, bench_rate_limiter, bench_registry);
criterion_main!(benches);

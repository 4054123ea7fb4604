//! What the backend does on every request before it talks to Vault: validate the caller's path
//! and check the edge's assertion.
//!     cargo bench -p vault-mcp-bridge --bench hot_path
//! Results: docs/PERFORMANCE.md.

use std::hint::black_box;

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use criterion::{Criterion, criterion_group, criterion_main};
use vault_mcp_bridge::identity::{EdgeTrust, agent_from_headers};
use vault_mcp_bridge::vault::path::{SecretPath, SecretPrefix};
use vault_mcp_filter::assertion::{AssertionKey, Claims};

const NOW: u64 = 1_800_000_000;
const KEY: &str = "assertion-key-assertion-key-0123";

fn bench_paths(c: &mut Criterion) {
    let long = "segment/".repeat(63) + "last";
    let mut group = c.benchmark_group("path");
    group.bench_function("secret_path/typical", |b| {
        b.iter(|| SecretPath::parse(black_box("configs/demo")))
    });
    group.bench_function("secret_path/512_bytes", |b| {
        b.iter(|| SecretPath::parse(black_box(&long)))
    });
    group.bench_function("secret_path/traversal_refused", |b| {
        b.iter(|| SecretPath::parse(black_box("configs/../../other")))
    });
    group.bench_function("secret_prefix/typical", |b| {
        b.iter(|| SecretPrefix::parse(black_box("configs/")))
    });
    group.finish();
}

fn bench_assertion(c: &mut Criterion) {
    let key = AssertionKey::new(KEY).unwrap();
    let request_id = "4f1c2d3e-0000-4000-8000-000000000000";
    let claims = Claims {
        subject: "agent_api",
        scopes: "delete list read write",
        request_id,
        key_id: "",
    };
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("x-agent-subject", "agent_api".to_string()),
        ("x-agent-scopes", "delete list read write".to_string()),
        ("x-agent-assertion", key.sign(&claims, NOW)),
        ("x-request-id", request_id.to_string()),
    ] {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(&value).unwrap(),
        );
    }
    let trust = EdgeTrust { key, max_age: 30 };
    assert!(agent_from_headers(&headers, &trust, NOW).is_ok());
    c.bench_function("identity/agent_from_headers", |b| {
        b.iter(|| agent_from_headers(black_box(&headers), &trust, NOW))
    });
}

criterion_group!(benches, bench_paths, bench_assertion);
criterion_main!(benches);

//! The decision with an agent registry configured: before the first snapshot (fail closed),
//! and with one (registry keys, disabled subjects, per-agent limits).

use serde_json::json;

use super::tests::{NOW_MS, forwarded, policy_with, refusal, req, run_with, token};
use super::*;
use crate::apikey::digest;
use crate::ratelimit::MemoryStore;
use crate::registry::Registry;

fn policy() -> Policy {
    policy_with(json!({
        "registry": {"cluster": "backend", "authority": "backend"},
    }))
}

pub(super) fn registry(agents: serde_json::Value) -> Registry {
    let doc = json!({ "agents": agents }).to_string();
    Registry::parse(doc.as_bytes(), 1 << 20).unwrap()
}

fn registered() -> Registry {
    registry(json!([
        {"subject": "agent_new", "enabled": true, "scopes": ["read"],
         "keys": [{"id": "k1", "sha256": hex::encode(digest("vmb_new"))},
                  {"id": "k0", "sha256": hex::encode(digest("vmb_old")), "expires": NOW_MS / 1000}],
         "rate": {"requests": 1, "per_seconds": 60}},
        {"subject": "agent_off", "enabled": false, "scopes": ["read"],
         "keys": [{"id": "k2", "sha256": hex::encode(digest("vmb_off"))}]},
        {"subject": "agent_crt", "enabled": true, "scopes": ["read", "list"],
         "certificate": "crt.clients", "revoked_certificates": [hex::encode(digest("revoked DER"))]},
        {"subject": "agent_tool", "enabled": true, "scopes": ["read", "write"],
         "keys": [{"id": "k3", "sha256": hex::encode(digest("vmb_tool"))}],
         "tool_rates": {"kv.write": {"requests": 1, "per_seconds": 60}}},
        {"subject": "agent_api", "enabled": false},
        {"subject": "agent_cert", "enabled": false},
        {"subject": "agent_jwt", "enabled": false},
    ]))
}

#[test]
fn before_the_first_snapshot_only_static_keys_pass() {
    let (policy, store) = (policy(), MemoryStore::default());
    let statik = run_with(
        &policy,
        Followed::Pending,
        &store,
        &req("GET", "/secrets/a", &[("x-api-key", "dev-key")]),
    );
    assert_eq!(forwarded(statik).identity.subject, "agent_api");
    let bearer = format!("Bearer {}", token(Some("hs-1"), "agent_jwt", "read"));
    let mut cert = req("GET", "/secrets/a", &[]);
    cert.peer = Some("CN=agent_cert,O=Bridge");
    for request in [
        req("GET", "/secrets/a", &[("x-api-key", "vmb_new")]),
        req("GET", "/secrets/a", &[("authorization", &bearer)]),
        cert,
    ] {
        let outcome = run_with(&policy, Followed::Pending, &store, &request);
        assert_eq!(refusal(&outcome), (503, "registry_unavailable"));
    }
}

#[test]
fn registry_keys_act_as_their_agent_until_they_expire() {
    let (policy, store, registry) = (policy(), MemoryStore::default(), registered());
    let ok = run_with(
        &policy,
        Followed::Yes(&registry),
        &store,
        &req("GET", "/secrets/a", &[("x-api-key", "vmb_new")]),
    );
    let forward = forwarded(ok);
    assert_eq!(forward.identity.subject, "agent_new");
    assert_eq!(forward.identity.scopes, ["read"]);
    // The key's id goes to the backend, signed with the rest (its "last used" in the console).
    assert_eq!(forward.identity.key_id.as_deref(), Some("k1"));
    let set = |name: &str| {
        forward
            .set
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(set("x-agent-key-id"), Some("k1"));
    let claims = crate::assertion::Claims {
        subject: "agent_new",
        scopes: "read",
        request_id: "req-1",
        key_id: "k1",
    };
    let assertion = set("x-agent-assertion").unwrap();
    let key = policy.assertion_key.as_ref().unwrap();
    assert_eq!(key.verify(assertion, &claims, NOW_MS / 1000, 30), Ok(()));
    // The registry's scopes are the agent's: no write.
    let write = run_with(
        &policy,
        Followed::Yes(&registry),
        &store,
        &req("PUT", "/secrets/a", &[("x-api-key", "vmb_new")]),
    );
    assert_eq!(refusal(&write), (403, "insufficient_scope"));
    // Refused after authenticating: the host counts it for the agent.
    assert_eq!(write.refused.as_deref(), Some("agent_new"));
    let expired = run_with(
        &policy,
        Followed::Yes(&registry),
        &store,
        &req("GET", "/secrets/a", &[("x-api-key", "vmb_old")]),
    );
    assert_eq!(refusal(&expired), (401, "invalid_api_key"));
    assert_eq!(expired.refused, None, "an unproven caller is nobody's");
}

#[test]
fn a_disabled_subject_is_refused_for_every_credential() {
    let (policy, store, registry) = (policy(), MemoryStore::default(), registered());
    let bearer = format!("Bearer {}", token(Some("hs-1"), "agent_jwt", "read"));
    let mut cert = req("GET", "/secrets/a", &[]);
    cert.peer = Some("CN=agent_cert,O=Bridge");
    for request in [
        req("GET", "/secrets/a", &[("x-api-key", "vmb_off")]),
        req("GET", "/secrets/a", &[("x-api-key", "dev-key")]), // a static key of agent_api
        req("GET", "/secrets/a", &[("authorization", &bearer)]),
        cert,
    ] {
        let outcome = run_with(&policy, Followed::Yes(&registry), &store, &request);
        assert_eq!(refusal(&outcome), (403, "agent_disabled"));
        assert!(outcome.refused.is_some_and(|s| s.starts_with("agent_")));
    }
    // Subjects the registry does not name are unaffected.
    let ro = run_with(
        &policy,
        Followed::Yes(&registry),
        &store,
        &req("GET", "/secrets/a", &[("x-api-key", "dev-key-ro")]),
    );
    assert_eq!(forwarded(ro).identity.subject, "agent_ro");
}

#[test]
fn the_agents_own_limit_applies() {
    let (policy, store, registry) = (policy(), MemoryStore::default(), registered());
    let request = req("GET", "/secrets/a", &[("x-api-key", "vmb_new")]);
    forwarded(run_with(
        &policy,
        Followed::Yes(&registry),
        &store,
        &request,
    ));
    let second = run_with(&policy, Followed::Yes(&registry), &store, &request);
    assert_eq!(refusal(&second), (429, "rate_limited"));
    assert_eq!(second.refused.as_deref(), Some("agent_new"));
}

#[test]
fn without_a_registry_only_configured_credentials_count() {
    let store = MemoryStore::default();
    let policy = super::tests::policy_with(json!({}));
    let unknown = run_with(
        &policy,
        Followed::No,
        &store,
        &req("GET", "/secrets/a", &[("x-api-key", "vmb_new")]),
    );
    assert_eq!(refusal(&unknown), (401, "invalid_api_key"));
}

#[test]
fn a_registry_needs_the_assertion_key() {
    let config = json!({
        "api_keys": [{"sha256": hex::encode(digest("k")), "subject": "a"}],
        "registry": {"cluster": "backend", "authority": "backend"},
    });
    let error = Policy::from_json(config.to_string().as_bytes(), &|_| None).unwrap_err();
    assert!(error.to_string().contains("assertion_key"), "{error}");
}

#[test]
fn certificates_the_registry_names_act_as_their_agent() {
    let (policy, store, registry) = (policy(), MemoryStore::default(), registered());
    let mut cert = req("GET", "/secrets/a", &[]);
    cert.peer = Some("CN=crt.clients,O=Bridge");
    cert.peer_sha256 = Some(hex::encode(digest("a DER")));
    let forward = forwarded(run_with(&policy, Followed::Yes(&registry), &store, &cert));
    assert_eq!(forward.identity.subject, "agent_crt");
    assert_eq!(forward.identity.scopes, ["list", "read"]);
    cert.peer = Some("CN=stranger,O=Bridge");
    let outcome = run_with(&policy, Followed::Yes(&registry), &store, &cert);
    assert_eq!(refusal(&outcome), (401, "unknown_client_certificate"));
    cert.peer = Some("CN=crt.clients,O=Bridge");
    let outcome = run_with(&policy, Followed::Pending, &store, &cert);
    assert_eq!(refusal(&outcome), (503, "registry_unavailable"));
}

#[test]
fn a_revoked_certificate_is_refused_while_its_agent_is_enabled() {
    let (policy, store, registry) = (policy(), MemoryStore::default(), registered());
    let mut cert = req("GET", "/secrets/a", &[]);
    cert.peer = Some("CN=crt.clients,O=Bridge");
    cert.peer_sha256 = Some(hex::encode(digest("revoked DER")));
    let outcome = run_with(&policy, Followed::Yes(&registry), &store, &cert);
    assert_eq!(refusal(&outcome), (401, "revoked_client_certificate"));
    assert_eq!(outcome.refused, None, "a revoked certificate proves no one");
    // Another certificate with the same name (issued later) is the agent.
    cert.peer_sha256 = Some(hex::encode(digest("new DER")));
    let forward = forwarded(run_with(&policy, Followed::Yes(&registry), &store, &cert));
    assert_eq!(forward.identity.subject, "agent_crt");
    // Uppercase hex is the same digest; no digest at all cannot prove it is not a revoked one.
    cert.peer_sha256 = Some(hex::encode_upper(digest("revoked DER")));
    let outcome = run_with(&policy, Followed::Yes(&registry), &store, &cert);
    assert_eq!(refusal(&outcome), (401, "revoked_client_certificate"));
    cert.peer_sha256 = None;
    let outcome = run_with(&policy, Followed::Yes(&registry), &store, &cert);
    assert_eq!(refusal(&outcome), (401, "revoked_client_certificate"));
    // A snapshot listing anything but digests is refused whole.
    let doc =
        json!({"agents": [{"subject": "a", "enabled": true, "revoked_certificates": ["xyz"]}]});
    let error = Registry::parse(doc.to_string().as_bytes(), 1 << 20).unwrap_err();
    assert!(
        error.to_string().contains("revoked_certificates"),
        "{error}"
    );
}

#[test]
fn the_agents_own_tool_limits_apply() {
    let (policy, store, registry) = (policy(), MemoryStore::default(), registered());
    let call = |tool: &str| {
        req(
            "POST",
            "/mcp",
            &[
                ("x-api-key", "vmb_tool"),
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-method", "tools/call"),
                ("mcp-name", tool),
            ],
        )
    };
    forwarded(run_with(
        &policy,
        Followed::Yes(&registry),
        &store,
        &call("kv.write"),
    ));
    let again = run_with(&policy, Followed::Yes(&registry), &store, &call("kv.write"));
    assert_eq!(refusal(&again), (429, "rate_limited"));
    // The underscore spelling is the same tool, not a second allowance.
    let alias = run_with(&policy, Followed::Yes(&registry), &store, &call("kv_write"));
    assert_eq!(refusal(&alias), (429, "rate_limited"));
    // Other tools only count against the agent's overall limit.
    forwarded(run_with(
        &policy,
        Followed::Yes(&registry),
        &store,
        &call("kv.read"),
    ));
}

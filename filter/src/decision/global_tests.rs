//! The global count: when the filter asks the rate-limit service, what it asks, and what each
//! answer (or its absence) makes of the request.

use prost::Message;
use serde_json::json;

use super::registry_tests::registry;
use super::tests::{NOW_MS, forwarded, policy_with, refusal, req, run_with};
use super::*;
use crate::apikey::digest;
use crate::global::{Failure, Kind, wire};
use crate::ratelimit::MemoryStore;
use crate::registry::Followed;

fn policy(on_failure: &str) -> Policy {
    policy_with(json!({"rate_limit": {
        "requests": 20, "per_seconds": 60,
        "tools": {"kv.write": {"requests": 3, "per_seconds": 10}},
        "global": {"cluster": "ratelimit", "on_failure": on_failure},
    }}))
}

fn mcp_call(tool: &str) -> super::tests::Req {
    req(
        "POST",
        "/mcp",
        &[
            ("x-api-key", "dev-key"),
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", tool),
        ],
    )
}

fn asked(outcome: Outcome) -> Asking {
    match outcome.verdict {
        Verdict::Ask(asking) => asking,
        other => panic!("expected a question, got {other:?}"),
    }
}

fn sent(policy: &Policy, asking: &Asking) -> wire::RateLimitRequest {
    let global = policy.rate_limit.as_ref().unwrap().global.as_ref().unwrap();
    wire::RateLimitRequest::decode(asking.question.encode(global).as_slice()).unwrap()
}

fn entries(descriptor: &wire::RateLimitDescriptor) -> Vec<(&str, &str)> {
    descriptor
        .entries
        .iter()
        .map(|e| (e.key.as_str(), e.value.as_str()))
        .collect()
}

#[test]
fn an_admitted_request_asks_with_its_limits_in_the_protocols_units() {
    let policy = policy("local");
    let store = MemoryStore::default();
    let asking = asked(run_with(
        &policy,
        Followed::No,
        &store,
        &mcp_call("kv_write"),
    ));
    let request = sent(&policy, &asking);
    assert_eq!(
        (request.domain.as_str(), request.hits_addend),
        ("vault_mcp", 1)
    );
    assert_eq!(request.descriptors.len(), 2);
    assert_eq!(entries(&request.descriptors[0]), [("agent", "agent_api")]);
    let limit = request.descriptors[0].limit.clone().unwrap();
    assert_eq!(
        (limit.requests_per_unit, limit.unit),
        (20, wire::Unit::Minute as i32)
    );
    // The underscore spelling is the same tool; 3 per 10 s counts as 18 per minute.
    assert_eq!(
        entries(&request.descriptors[1]),
        [("agent", "agent_api"), ("tool", "kv.write")]
    );
    let limit = request.descriptors[1].limit.clone().unwrap();
    assert_eq!(
        (limit.requests_per_unit, limit.unit),
        (18, wire::Unit::Minute as i32)
    );
    assert!(!asking.question.fail_closed());
}

#[test]
fn the_local_buckets_refuse_first_without_asking() {
    let policy = policy("local");
    let store = MemoryStore::default();
    for _ in 0..3 {
        asked(run_with(
            &policy,
            Followed::No,
            &store,
            &mcp_call("kv.write"),
        ));
    }
    let fourth = run_with(&policy, Followed::No, &store, &mcp_call("kv_write"));
    assert_eq!(refusal(&fourth), (429, "rate_limited"));
}

#[test]
fn each_answer_decides() {
    let policy = policy("local");
    let store = MemoryStore::default();
    let ask = || {
        asked(run_with(
            &policy,
            Followed::No,
            &store,
            &mcp_call("kv.read"),
        ))
    };
    forwarded(on_answer(&policy, ask(), Answer::Admit));
    let over = on_answer(
        &policy,
        ask(),
        Answer::Over {
            retry_after: 42,
            kind: Kind::Rate,
        },
    );
    assert_eq!(refusal(&over), (429, "rate_limited"));
    assert_eq!(over.refused.as_deref(), Some("agent_api"));
    let Verdict::Respond(denial) = over.verdict else {
        unreachable!()
    };
    assert!(denial.headers.contains(&("retry-after", "42".to_string())));
    // Unanswered: the local buckets, which admitted it, decide.
    for failure in [Failure::Timeout, Failure::Unavailable, Failure::BadAnswer] {
        forwarded(on_answer(&policy, ask(), Answer::Failed(failure)));
    }
}

#[test]
fn credential_tools_and_deny_fail_closed() {
    let policy = policy("local");
    let store = MemoryStore::default();
    for tool in [
        "db.issue_creds",
        "db_issue_creds",
        "ssh.sign",
        "ssh_otp",
        "pki.issue",
    ] {
        let asking = asked(run_with(&policy, Followed::No, &store, &mcp_call(tool)));
        assert!(asking.question.fail_closed(), "{tool}");
        let refused = on_answer(&policy, asking, Answer::Failed(Failure::Timeout));
        assert_eq!(refusal(&refused), (503, "rate_limiter_unavailable"));
    }
    let policy = self::policy("deny");
    let asking = asked(run_with(
        &policy,
        Followed::No,
        &store,
        &req("GET", "/secrets/a", &[("x-api-key", "dev-key")]),
    ));
    let refused = on_answer(&policy, asking, Answer::Failed(Failure::Unavailable));
    assert_eq!(refusal(&refused), (503, "rate_limiter_unavailable"));
}

#[test]
fn a_call_named_in_the_body_asks_after_the_body() {
    let policy = policy("local");
    let store = MemoryStore::default();
    let mut request = req("POST", "/mcp", &[("x-api-key", "dev-key")]);
    request.body = true;
    let Verdict::ReadBody(pending) = run_with(&policy, Followed::No, &store, &request).verdict
    else {
        panic!("expected a body read")
    };
    let body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ssh.sign"}}"#;
    let asking = asked(on_body(&policy, &store, pending, body, NOW_MS));
    assert!(asking.question.fail_closed());
}

/// A registry agent with a budget for `db.issue_creds`: 2 an hour.
fn budgeted() -> (Policy, crate::registry::Registry) {
    let policy = policy_with(json!({
        "registry": {"cluster": "backend", "authority": "backend"},
        "rate_limit": {"requests": 100, "per_seconds": 60, "global": {"cluster": "ratelimit"}},
    }));
    let registry = registry(json!([
        {"subject": "agent_budget", "enabled": true, "scopes": ["read", "write"],
         "keys": [{"id": "k1", "sha256": hex::encode(digest("vmb_budget"))}],
         "budgets": {"db_issue_creds": {"requests": 2, "per_seconds": 3600}}},
    ]));
    (policy, registry)
}

fn issue(registry: &crate::registry::Registry, policy: &Policy, store: &MemoryStore) -> Outcome {
    let call = req(
        "POST",
        "/mcp",
        &[
            ("x-api-key", "vmb_budget"),
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "db.issue_creds"),
        ],
    );
    run_with(policy, Followed::Yes(registry), store, &call)
}

#[test]
fn a_budget_is_asked_about_and_refused_with_its_own_code() {
    let (policy, registry) = budgeted();
    let store = MemoryStore::default();
    let asking = asked(issue(&registry, &policy, &store));
    let request = sent(&policy, &asking);
    // Kept under the tool's one name whatever the registry spelled; 2 an hour as 2 per HOUR.
    assert_eq!(
        entries(&request.descriptors[1]),
        [("agent", "agent_budget"), ("budget", "db.issue_creds")]
    );
    let limit = request.descriptors[1].limit.clone().unwrap();
    assert_eq!(
        (limit.requests_per_unit, limit.unit),
        (2, wire::Unit::Hour as i32)
    );
    // The service says the budget (second descriptor) is spent: budget_exhausted, Retry-After.
    let answer = asking.question.read_answer(
        0,
        Some(&response(
            wire::CODE_OVER_LIMIT,
            vec![
                status(wire::CODE_OK, 20, 0),
                status(wire::CODE_OVER_LIMIT, 1200, 0),
            ],
        )),
    );
    assert_eq!(
        answer,
        Answer::Over {
            retry_after: 1200,
            kind: Kind::Budget
        }
    );
    let refused = on_answer(&policy, asking, answer);
    assert_eq!(refusal(&refused), (429, "budget_exhausted"));
    // Locally too: this Envoy's third call is refused before any question.
    asked(issue(&registry, &policy, &store));
    assert_eq!(
        refusal(&issue(&registry, &policy, &store)),
        (429, "budget_exhausted")
    );
}

fn status(code: i32, seconds: i64, nanos: i32) -> wire::DescriptorStatus {
    wire::DescriptorStatus {
        code,
        limit_remaining: 0,
        duration_until_reset: Some(wire::Duration { seconds, nanos }),
    }
}

fn response(overall_code: i32, statuses: Vec<wire::DescriptorStatus>) -> Vec<u8> {
    wire::RateLimitResponse {
        overall_code,
        statuses,
    }
    .encode_to_vec()
}

#[test]
fn answers_are_read_or_failed() {
    let policy = policy("local");
    let store = MemoryStore::default();
    let question = asked(run_with(
        &policy,
        Followed::No,
        &store,
        &mcp_call("kv.write"),
    ))
    .question;
    let ok = response(wire::CODE_OK, vec![status(wire::CODE_OK, 5, 0)]);
    assert_eq!(question.read_answer(0, Some(&ok)), Answer::Admit);
    // The latest reset among the limits passed, rounded up.
    let over = response(
        wire::CODE_OVER_LIMIT,
        vec![
            status(wire::CODE_OVER_LIMIT, 7, 1),
            status(wire::CODE_OVER_LIMIT, 3, 0),
        ],
    );
    assert_eq!(
        question.read_answer(0, Some(&over)),
        Answer::Over {
            retry_after: 8,
            kind: Kind::Rate
        }
    );
    let unknown = response(0, vec![]);
    for (status, body, answer) in [
        (0, Some(&unknown[..]), Answer::Failed(Failure::BadAnswer)),
        (
            0,
            Some(&b"\xff\xff\xff"[..]),
            Answer::Failed(Failure::BadAnswer),
        ),
        (0, None, Answer::Failed(Failure::BadAnswer)),
        (4, None, Answer::Failed(Failure::Timeout)),
        (14, None, Answer::Failed(Failure::Unavailable)),
        (3, None, Answer::Failed(Failure::Status(3))),
    ] {
        assert_eq!(question.read_answer(status, body), answer);
    }
}

#[test]
fn rest_routes_count_as_the_tools_they_run() {
    // The attack: a budget or a credential tool's fail-closed dodged through its REST route.
    let (policy, registry) = budgeted();
    let store = MemoryStore::default();
    let issue = |method: &str| {
        let request = req(method, "/db/creds/readonly", &[("x-api-key", "vmb_budget")]);
        run_with(&policy, Followed::Yes(&registry), &store, &request)
    };
    let asking = asked(issue("POST"));
    assert!(asking.question.fail_closed());
    let request = sent(&policy, &asking);
    assert_eq!(
        entries(&request.descriptors[1]),
        [("agent", "agent_budget"), ("budget", "db.issue_creds")]
    );
    // The same budget as MCP's: REST and MCP together get 2 (GET issues too).
    asked(issue("GET"));
    assert_eq!(refusal(&issue("POST")), (429, "budget_exhausted"));
    assert_eq!(
        refusal(&self::issue(&registry, &policy, &store)),
        (429, "budget_exhausted")
    );
}

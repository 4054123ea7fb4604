//! The REST and MCP adapters, in process (`actix_web::test`): the backend in standalone mode
//! with a Vault address where nothing listens. Everything decided before Vault is asserted
//! exactly (identity, scopes, input checks, rate limits, error bodies); a request that gets
//! past them ends at Vault's absence (503 `vault_unavailable`), which proves it got that far.
//! What Vault answers is tested end to end in `tests/e2e/`.

use actix_web::dev::{Service, ServiceResponse};
use actix_web::{App, test};
use figment::Figment;
use figment::providers::Serialized;
use serde_json::{Value, json};
use vault_mcp_bridge::AppState;
use vault_mcp_bridge::config::Config;

const RW: &str = "faces-rw-key";
const RO: &str = "faces-ro-key";

fn sha256(key: &str) -> String {
    hex::encode(vault_mcp_filter::apikey::digest(key))
}

/// Standalone, two agents, `kv.write` limited to two calls per hour per agent.
fn config(dir: &std::path::Path) -> Config {
    let policy = json!({
        "api_keys": [
            {"sha256": sha256(RW), "subject": "agent_rw", "scopes": ["read", "write", "list", "delete"]},
            {"sha256": sha256(RO), "subject": "agent_ro", "scopes": ["read", "list"]},
        ],
        "rate_limit": {
            "requests": 1000,
            "per_seconds": 60,
            "tools": {"kv.write": {"requests": 2, "per_seconds": 3600}},
        },
    });
    let file = dir.join("policy.json");
    std::fs::write(&file, policy.to_string()).unwrap();
    let figment = Figment::new()
        .merge(Serialized::default("vault_token", "unused"))
        // Nothing listens on port 1: every Vault call is refused at once.
        .merge(Serialized::default("vault_addr", "http://127.0.0.1:1"))
        .merge(Serialized::default("vault_timeout_seconds", 2))
        .merge(Serialized::default("standalone", true))
        .merge(Serialized::default(
            "edge_policy_file",
            file.to_str().unwrap(),
        ));
    Config::from_figment(figment).unwrap()
}

async fn app()
-> impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error> {
    let dir = std::env::temp_dir().join(format!("faces-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = AppState::new(&config(&dir)).unwrap();
    test::init_service(App::new().configure(move |cfg| state.configure(cfg))).await
}

/// Sends a request; the status and the JSON body (Null when the body is not JSON).
async fn send(
    app: &impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
    request: test::TestRequest,
) -> (u16, Value) {
    let response = test::call_service(app, request.to_request()).await;
    let status = response.status().as_u16();
    let body = test::read_body(response).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn as_key(request: test::TestRequest, key: &str) -> test::TestRequest {
    request.insert_header(("x-api-key", key))
}

#[actix_web::test]
async fn rest_input_is_checked_once_for_every_route() {
    let app = app().await;
    let cases: Vec<(test::TestRequest, &str, &str)> = vec![
        (
            test::TestRequest::get().uri("/secrets/a/%2e%2e/b"),
            "invalid_path",
            "'..'",
        ),
        (
            test::TestRequest::get().uri("/secrets/a?version=x"),
            "invalid_request",
            "version",
        ),
        (
            test::TestRequest::get().uri("/secrets/a?wrap_ttl=2d"),
            "invalid_request",
            "wrap_ttl",
        ),
        (
            test::TestRequest::get().uri("/secrets/a?path=b"),
            "invalid_request",
            "duplicate field",
        ),
        (
            test::TestRequest::put()
                .uri("/secrets/a")
                .set_json(json!({"path": "b", "data": {}})),
            "invalid_request",
            "comes from the URL",
        ),
        (
            test::TestRequest::put()
                .uri("/secrets/a")
                .set_json(json!({"data": {}, "extra": 1})),
            "invalid_request",
            "unknown field",
        ),
        (
            test::TestRequest::post()
                .uri("/secrets/a:destroy")
                .set_json(json!({"versions": []})),
            "invalid_request",
            "1 to 100",
        ),
        (
            test::TestRequest::post()
                .uri("/secrets/..:undelete")
                .set_json(json!({"versions": [1]})),
            "invalid_path",
            "'..'",
        ),
        (
            test::TestRequest::get().uri("/transit/random?bytes=0"),
            "invalid_request",
            "1 to 1024",
        ),
        (
            test::TestRequest::post()
                .uri("/transit/encrypt")
                .set_json(json!({})),
            "invalid_request",
            "exactly one",
        ),
        (
            test::TestRequest::post()
                .uri("/ssh/otp")
                .set_json(json!({"ip": "not-an-ip"})),
            "invalid_request",
            "ip",
        ),
        (
            test::TestRequest::post().uri("/db/creds/a%20b"),
            "invalid_request",
            "role",
        ),
    ];
    for (request, code, words) in cases {
        let (status, body) = send(&app, as_key(request, RW)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some(code)),
            "{body}"
        );
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(words), "{message:?} should say {words:?}");
    }
}

#[actix_web::test]
async fn rest_scopes_identity_and_the_way_to_vault() {
    let app = app().await;
    let (status, body) = send(&app, test::TestRequest::get().uri("/secrets/a")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("missing_credentials"))
    );
    let write = test::TestRequest::put()
        .uri("/secrets/a")
        .set_json(json!({"data": {"k": "v"}}));
    let (status, body) = send(&app, as_key(write, RO)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("insufficient_scope"))
    );
    let (status, body) = send(&app, as_key(test::TestRequest::get().uri("/whoami"), RO)).await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({"subject": "agent_ro", "scopes": ["list", "read"]})
        )
    );
    // Valid input for a scope it holds: the adapter hands it to Vault, which is not there.
    for request in [
        test::TestRequest::get().uri("/secrets/configs/demo?version=2"),
        test::TestRequest::get().uri("/secrets?prefix=configs/"),
        test::TestRequest::post()
            .uri("/transit/encrypt")
            .set_json(json!({"text": "hi"})),
        test::TestRequest::post()
            .uri("/secrets/a:undelete")
            .set_json(json!({"versions": [1]})),
    ] {
        let (status, body) = send(&app, as_key(request, RW)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (503, Some("vault_unavailable")),
            "{body}"
        );
    }
}

/// A JSON-RPC call to the seed's stateless `/mcp/rpc`.
fn rpc(key: &str, method: &str, params: Value) -> test::TestRequest {
    as_key(test::TestRequest::post().uri("/mcp/rpc"), key)
        .insert_header(("host", "127.0.0.1"))
        .set_json(json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
}

/// The `{error, message}` a tool result with `isError` carries.
fn tool_error(body: &Value) -> Value {
    assert_eq!(body["result"]["isError"], json!(true), "{body}");
    serde_json::from_str(body["result"]["content"][0]["text"].as_str().unwrap()).unwrap()
}

#[actix_web::test]
async fn mcp_tools_check_scope_then_arguments_then_call_vault() {
    let app = app().await;
    let call = |key, name: &str, arguments: Value| {
        rpc(
            key,
            "tools/call",
            json!({"name": name, "arguments": arguments}),
        )
    };
    let (status, body) = send(&app, call(RW, "kv.read", json!({"path": "../x"}))).await;
    assert_eq!(status, 200);
    assert_eq!(tool_error(&body)["error"], "invalid_path");
    let (_, body) = send(&app, call(RW, "transit.random", json!({"bytes": 5000}))).await;
    assert_eq!(tool_error(&body)["error"], "invalid_request");
    // No scope: refused as the edge refuses it (the tool is read from the body), before its
    // arguments are looked at.
    let (status, body) = send(&app, call(RO, "kv.destroy", json!({"path": "../x"}))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("insufficient_scope"))
    );
    let (_, body) = send(&app, call(RW, "kv_list", json!({}))).await;
    assert_eq!(tool_error(&body)["error"], "vault_unavailable");
    let (_, body) = send(&app, rpc(RO, "tools/list", json!({}))).await;
    let names: Vec<&str> = body["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"kv.read") && !names.contains(&"kv.write"),
        "{names:?}"
    );
}

/// Standalone behaves as the edge: a tool named only in the JSON-RPC body (no `Mcp-Name`
/// header) is read from the body and its own rate limit applies.
#[actix_web::test]
async fn standalone_applies_per_tool_limits_to_calls_named_in_the_body() {
    let app = app().await;
    let write = || {
        rpc(
            RW,
            "tools/call",
            json!({"name": "kv.write", "arguments": {"path": "a", "data": {}}}),
        )
    };
    for _ in 0..2 {
        let (status, body) = send(&app, write()).await;
        assert_eq!(status, 200);
        assert_eq!(tool_error(&body)["error"], "vault_unavailable");
    }
    let (status, body) = send(&app, write()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (429, Some("rate_limited")),
        "{body}"
    );
    // Other tools keep their own (unlimited here) budget.
    let (status, _) = send(
        &app,
        rpc(
            RW,
            "tools/call",
            json!({"name": "kv.list", "arguments": {}}),
        ),
    )
    .await;
    assert_eq!(status, 200);
}

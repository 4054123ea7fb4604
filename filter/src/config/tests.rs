use super::*;
use crate::apikey::digest;
use crate::ratelimit::Limit;

fn no_env(_: &str) -> Option<String> {
    None
}

fn key_json(subject: &str, key: &str) -> String {
    format!(
        r#"{{"sha256":"{}","subject":"{subject}","scopes":["read"]}}"#,
        hex::encode(digest(key))
    )
}

const SECRET: &str = "0123456789abcdef0123456789abcdef";

#[test]
fn minimal_config_gets_the_defaults() {
    let json = format!(r#"{{"api_keys":[{}]}}"#, key_json("agent_api", "dev-key"));
    let policy = Policy::from_json(json.as_bytes(), &no_env).unwrap();
    assert_eq!(policy.api_key_header, "x-api-key");
    assert_eq!(
        policy.api_keys.lookup("dev-key").unwrap().subject,
        "agent_api"
    );
    assert_eq!(policy.mcp_path, "/mcp");
    let rate = policy.rate_limit.unwrap();
    assert_eq!(
        rate.default,
        Limit {
            requests: 60,
            per_seconds: 60
        }
    );
    assert!(policy.jwt.is_none() && policy.assertion_key.is_none());
    assert_eq!(policy.routes, default_routes());
}

#[test]
fn secrets_come_from_the_environment() {
    let json = r#"{"jwt":{"issuer":"i","audience":"a","hs256_secret":{"env":"JWT_HS256_SECRET"}},
            "assertion_key":{"env":"AGENT_ASSERTION_KEY"}}"#;
    let env = |name: &str| match name {
        "JWT_HS256_SECRET" | "AGENT_ASSERTION_KEY" => Some(SECRET.to_string()),
        _ => None,
    };
    let policy = Policy::from_json(json.as_bytes(), &env).unwrap();
    assert_eq!(policy.jwt.unwrap().static_keys.keys.len(), 1);
    assert!(policy.assertion_key.is_some());
    assert_eq!(
        Policy::from_json(json.as_bytes(), &no_env).unwrap_err(),
        ConfigError::MissingEnv {
            field: "jwt.hs256_secret",
            name: "JWT_HS256_SECRET".into()
        }
    );
}

#[test]
fn resource_metadata_urls() {
    let json = format!(
        r#"{{"api_keys":[{}],"resource_metadata":{{"resource":"https://edge.test:8443/mcp"}}}}"#,
        key_json("a", "k")
    );
    let meta = Policy::from_json(json.as_bytes(), &no_env)
        .unwrap()
        .resource_metadata
        .unwrap();
    assert_eq!(
        meta.url,
        "https://edge.test:8443/.well-known/oauth-protected-resource/mcp"
    );
    assert_eq!(
        meta.paths,
        [
            "/.well-known/oauth-protected-resource/mcp",
            "/.well-known/oauth-protected-resource"
        ]
    );
    let doc: serde_json::Value = serde_json::from_str(&meta.document).unwrap();
    assert_eq!(doc["resource"], "https://edge.test:8443/mcp");
    assert_eq!(doc["bearer_methods_supported"][0], "header");
}

#[test]
fn invalid_configs_are_refused_with_a_reason() {
    let good = key_json("a", "k");
    let weak_jwks = include_str!("../../tests/fixtures/jwks.json");
    let cases: Vec<(String, &str)> = vec![
        ("not json".into(), "not valid JSON"),
        (
            format!(r#"{{"api_keys":[{good}],"surprise":1}}"#),
            "surprise",
        ),
        (r#"{"api_keys":[]}"#.into(), "no authentication method"),
        (
            r#"{"api_keys":[{"sha256":"abc","subject":"a"}]}"#.into(),
            "64 hex digits",
        ),
        (
            format!(r#"{{"api_keys":[{good},{good}]}}"#),
            "repeats the digest",
        ),
        (
            format!(r#"{{"api_keys":[{}]}}"#, key_json("a/b", "k")),
            "not a valid subject",
        ),
        (
            format!(r#"{{"api_key_header":"X-Key","api_keys":[{good}]}}"#),
            "header name",
        ),
        (
            r#"{"jwt":{"issuer":"i","audience":"a","hs256_secret":{"value":"short"}}}"#.into(),
            "shorter than 32 bytes",
        ),
        (
            format!(r#"{{"jwt":{{"audience":"a","hs256_secret":{{"value":"{SECRET}"}}}}}}"#),
            "validate_issuer needs an issuer",
        ),
        (
            format!(r#"{{"jwt":{{"issuer":"i","hs256_secret":{{"value":"{SECRET}"}}}}}}"#),
            "validate_audience needs an audience",
        ),
        (
            format!(
                r#"{{"jwt":{{"validate_issuer":false,"validate_audience":false,"algorithms":["none"],"hs256_secret":{{"value":"{SECRET}"}}}}}}"#
            ),
            "not supported",
        ),
        (
            r#"{"jwt":{"validate_issuer":false,"validate_audience":false}}"#.into(),
            "no keys",
        ),
        (
            format!(
                r#"{{"jwt":{{"validate_issuer":false,"validate_audience":false,"jwks":{weak_jwks}}}}}"#
            ),
            "under 2048 bits",
        ),
        (
            format!(r#"{{"api_keys":[{good}],"assertion_key":{{"env":"A","value":"b"}}}}"#),
            "exactly one",
        ),
        (
            format!(r#"{{"api_keys":[{good}],"assertion_key":{{"value":"short"}}}}"#),
            "at least 32 bytes",
        ),
        (
            format!(r#"{{"api_keys":[{good}],"rate_limit":{{"requests":0}}}}"#),
            "must be positive",
        ),
        (
            format!(r#"{{"api_keys":[{good}],"resource_metadata":{{"resource":"/mcp"}}}}"#),
            "absolute http(s) URL",
        ),
        (
            r#"{"mtls":{"source":"connection","identities":{"../x":[]}}}"#.into(),
            "not a valid subject",
        ),
        (
            r#"{"mtls":{"source":"sometimes","identities":{}}}"#.into(),
            "unknown variant",
        ),
    ];
    for (json, expected) in cases {
        let error = Policy::from_json(json.as_bytes(), &no_env)
            .unwrap_err()
            .to_string();
        assert!(error.contains(expected), "{json}\n  gave: {error}");
    }
}

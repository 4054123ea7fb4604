//! Configuration loading: defaults, every invalid value named, secrets never printed.

use super::*;
use figment::providers::Serialized;

/// Like the environment provider: values that read as booleans or numbers are typed.
pub(crate) fn figment(pairs: &[(&str, &str)]) -> Figment {
    let mut f = Figment::new();
    for (k, v) in pairs {
        f = match (v.parse::<bool>(), v.parse::<u64>()) {
            (Ok(b), _) => f.merge(Serialized::default(k, b)),
            (_, Ok(n)) => f.merge(Serialized::default(k, n)),
            _ => f.merge(Serialized::default(k, v)),
        };
    }
    f
}

pub(crate) const KEY: (&str, &str) = ("agent_assertion_key", "0123456789abcdef0123456789abcdef");

#[test]
fn defaults_apply() {
    let config = Config::from_figment(figment(&[("vault_token", "t"), KEY])).unwrap();
    assert_eq!(config.kv_mount, "secret");
    assert_eq!(config.default_prefix, "agents");
    assert_eq!(config.port, 8089);
    // Actix's own default: one worker per core.
    assert_eq!(config.http_workers, None);
    assert_eq!(config.confirm_tools(), ["kv.destroy"]);
    // An empty list asks for nothing.
    let none = Config::from_figment(figment(&[
        ("vault_token", "t"),
        KEY,
        ("mcp_confirm_tools", ""),
    ]))
    .unwrap();
    assert!(none.confirm_tools().is_empty());
}

#[test]
fn invalid_values_are_named() {
    let cases = [
        (vec![KEY], "VAULT_TOKEN"),
        (
            vec![KEY, ("vault_token", "t"), ("vault_role_id", "r")],
            "VAULT_TOKEN",
        ),
        (
            vec![("vault_token", "t"), KEY, ("vault_addr", "nope")],
            "VAULT_ADDR",
        ),
        (
            vec![("vault_token", "t"), KEY, ("kv_mount", "a/../b")],
            "KV_MOUNT",
        ),
        (
            vec![("vault_token", "t"), KEY, ("transit_mount", "")],
            "TRANSIT_MOUNT",
        ),
        (
            vec![("vault_token", "t"), KEY, ("default_prefix", "/x")],
            "DEFAULT_PREFIX",
        ),
        (
            vec![("vault_token", "t"), KEY, ("database_roles", "read only")],
            "DATABASE_ROLES",
        ),
        (
            vec![("vault_token", "t"), KEY, ("ssh_otp_roles", ",")],
            "SSH_OTP_ROLES",
        ),
        (
            vec![
                ("vault_token", "t"),
                KEY,
                ("mcp_confirm_tools", "kv.destroy,kv.nuke"),
            ],
            "MCP_CONFIRM_TOOLS",
        ),
        (
            vec![
                ("vault_token", "t"),
                KEY,
                ("mcp_confirm_timeout_seconds", "0"),
            ],
            "MCP_CONFIRM_TIMEOUT_SECONDS",
        ),
        (
            vec![
                ("vault_token", "t"),
                KEY,
                ("mcp_subscription_poll_seconds", "0"),
            ],
            "MCP_SUBSCRIPTION_POLL_SECONDS",
        ),
        (
            vec![
                ("vault_token", "t"),
                KEY,
                ("mcp_subscriptions_per_agent", "0"),
            ],
            "MCP_SUBSCRIPTIONS_PER_AGENT",
        ),
        (
            vec![("vault_token", "t"), KEY, ("console_addr", "localhost")],
            "CONSOLE_ADDR",
        ),
        (
            vec![("vault_token", "t"), KEY, ("console_session_minutes", "0")],
            "CONSOLE_SESSION_MINUTES",
        ),
        (
            vec![
                ("vault_token", "t"),
                KEY,
                ("console_envoy_admin_url", "127.0.0.1:9901"),
            ],
            "CONSOLE_ENVOY_ADMIN_URL",
        ),
        (
            vec![("vault_token", "t"), KEY, ("console_allowed_hosts", " , ")],
            "CONSOLE_ALLOWED_HOSTS",
        ),
        (
            vec![
                ("vault_token", "t"),
                KEY,
                ("console_trusted_proxies", "10.0.0.1, proxy.local"),
            ],
            "CONSOLE_TRUSTED_PROXIES",
        ),
        (
            // figment's message: "expected a nonzero usize for key http_workers".
            vec![("vault_token", "t"), KEY, ("http_workers", "0")],
            "http_workers",
        ),
    ];
    for (pairs, name) in cases {
        let err = Config::from_figment(figment(&pairs))
            .unwrap_err()
            .to_string();
        assert!(err.contains(name), "{err}");
    }
}

#[test]
fn token_is_not_in_debug_output() {
    let config = Config::from_figment(figment(&[("vault_token", "s.supersecret"), KEY])).unwrap();
    let debug = format!("{config:?}");
    assert!(!debug.contains("supersecret") && !debug.contains(KEY.1));
}

/// A setting missing from `VARIABLES` is silently never read from the environment (found:
/// `REGISTRY_REFRESH_SECONDS`, documented and ignored). Every setting `check-config` prints
/// must have its variable.
#[test]
fn every_setting_is_read_from_the_environment() {
    let config = Config::from_figment(figment(&[("vault_token", "t"), KEY])).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&config.summary()).unwrap();
    for key in summary.as_object().unwrap().keys() {
        assert!(
            super::VARIABLES.contains(&key.to_uppercase().as_str()),
            "{key} is not read from the environment"
        );
    }
}

#[test]
fn the_console_answers_its_own_address_and_loopback_names_by_default() {
    let config = Config::from_figment(figment(&[
        ("vault_token", "t"),
        KEY,
        ("console_addr", "127.0.0.1:8091"),
    ]))
    .unwrap();
    assert_eq!(
        config.console_allowed_hosts(),
        ["127.0.0.1:8091", "localhost:8091", "[::1]:8091"]
    );
    let config = Config::from_figment(figment(&[
        ("vault_token", "t"),
        KEY,
        ("console_addr", "0.0.0.0:8091"),
        ("console_allowed_hosts", "console.example, ops.example:443"),
    ]))
    .unwrap();
    assert_eq!(
        config.console_allowed_hosts(),
        ["console.example", "ops.example:443"]
    );
}

#[test]
fn sign_up_never_hands_out_admin() {
    let with = |scopes: &str| {
        Config::from_figment(figment(&[
            ("vault_token", "t"),
            KEY,
            ("users_sign_up_scopes", scopes),
        ]))
    };
    assert_eq!(
        with("read, list").unwrap().sign_up_scopes(),
        Some(vec!["read".to_string(), "list".to_string()])
    );
    for bad in ["read,admin", "root"] {
        let error = with(bad).unwrap_err().to_string();
        assert!(error.contains("USERS_SIGN_UP_SCOPES"), "{error}");
    }
    assert_eq!(with("").unwrap().sign_up_scopes(), None);
}

#[test]
fn every_field_is_a_variable_and_every_variable_a_field() {
    let config = Config::from_figment(figment(&[("vault_token", "t"), KEY])).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&config.summary()).unwrap();
    let fields: std::collections::BTreeSet<String> = summary
        .as_object()
        .unwrap()
        .keys()
        .map(|name| name.to_ascii_uppercase())
        .collect();
    let variables: std::collections::BTreeSet<String> =
        VARIABLES.iter().map(|name| name.to_string()).collect();
    assert_eq!(fields, variables);
    assert_eq!(
        variables.len(),
        VARIABLES.len(),
        "a variable is listed twice"
    );
}

#[test]
fn the_summary_says_a_secret_is_set_and_never_shows_it() {
    let config = Config::from_figment(figment(&[
        ("vault_token", "s.token-value"),
        KEY,
        ("jwt_hs256_secret", "hs-secret-value"),
    ]))
    .unwrap();
    let summary = config.summary();
    for secret in ["s.token-value", KEY.1, "hs-secret-value"] {
        assert!(!summary.contains(secret), "{summary}");
    }
    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(summary["vault_token"], "set");
    assert_eq!(summary["jwt_hs256_secret"], "set");
    assert_eq!(summary["vault_secret_id"], serde_json::Value::Null);
    // The settings summary() used to leave out are there too, and the lists as used.
    assert_eq!(summary["jwt_validate_issuer"], true);
    assert_eq!(summary["rate_limit_requests"], config.rate_limit_requests);
    assert_eq!(
        summary["mcp_confirm_tools"],
        serde_json::json!(["kv.destroy"])
    );
    assert_eq!(summary["cors_allow_origins"], serde_json::json!([]));
}

#[test]
fn a_setting_that_may_hold_a_key_is_only_said_to_be_set() {
    let jwks = r#"{"keys":[{"kty":"oct","k":"c2VjcmV0LWtleS1tYXRlcmlhbA"}]}"#;
    let shared = [
        KEY,
        ("api_keys_json", "api-keys-value"),
        ("jwt_hs256_secret", "hs-secret-value"),
        ("jwt_jwks_json", jwks),
    ];
    // A token, or an AppRole (the two ways the service logs in, never both).
    let logins: [&[(&str, &str)]; 2] = [
        &[("vault_token", "s.token-value")],
        &[
            ("vault_role_id", "role"),
            ("vault_secret_id", "secret-id-value"),
        ],
    ];
    for login in logins {
        let pairs: Vec<(&str, &str)> = login.iter().chain(&shared).copied().collect();
        let text = Config::from_figment(figment(&pairs)).unwrap().summary();
        for secret in [
            "s.token-value",
            "secret-id-value",
            KEY.1,
            "api-keys-value",
            "hs-secret-value",
            "c2VjcmV0",
        ] {
            assert!(!text.contains(secret), "{text}");
        }
        let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut set = 0;
        for (name, value) in summary.as_object().unwrap() {
            if ["secret", "token", "key", "jwks"]
                .iter()
                .any(|word| name.contains(word))
                && !name.ends_with("_ttl")
                && !name.starts_with("agent_token_")
            {
                assert!(value.is_null() || value == "set", "{name}: {value}");
                set += usize::from(value == "set");
            }
        }
        // The login's secret, the assertion key, the API keys, the HS256 secret, the JWKS.
        assert_eq!(set, 5, "{summary}");
    }
}

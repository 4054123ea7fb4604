//! What each route and each MCP call needs: the one table the filter enforces and the backend
//! checks again, so the two can never disagree. The seed project's table, exactly, except where
//! this bridge is deliberately stricter: destroying secret versions and revoking database
//! leases need `delete` as well as the seed's `write` (a value written as several
//! space-separated scopes needs all of them).

use std::collections::BTreeMap;

use serde::Deserialize;

/// Scopes of the seed.
pub const READ: &str = "read";
pub const WRITE: &str = "write";
pub const LIST: &str = "list";
pub const DELETE: &str = "delete";
/// Operators: the agent registry (`/admin/agents`).
pub const ADMIN: &str = "admin";
/// Every scope a route or tool can require: what an agent may be granted.
pub const KNOWN: &[&str] = &[READ, WRITE, LIST, DELETE, ADMIN];

/// Both `write` and `delete`: for what cannot be undone.
pub const WRITE_AND_DELETE: &str = "write delete";

/// What a refusal says a requirement is: "the 'read' scope is required", or for several
/// "the scopes 'write' and 'delete' are all required".
pub fn requirement(required: &str) -> String {
    let scopes: Vec<String> = required
        .split_ascii_whitespace()
        .map(|s| format!("'{s}'"))
        .collect();
    match scopes.as_slice() {
        [one] => format!("the {one} scope is required"),
        many => format!("the scopes {} are all required", many.join(" and ")),
    }
}

/// The scope each MCP tool needs.
pub const TOOL_SCOPES: &[(&str, &str)] = &[
    ("kv.read", READ),
    ("kv.write", WRITE),
    ("kv.list", LIST),
    ("kv.delete", DELETE),
    ("kv.undelete", WRITE),
    ("kv.destroy", WRITE_AND_DELETE),
    ("transit.encrypt", WRITE),
    ("transit.decrypt", READ),
    ("transit.sign", WRITE),
    ("transit.verify", READ),
    ("transit.rewrap", WRITE),
    ("transit.random", READ),
    ("transit.create_key", WRITE),
    // Every credential minted or extended needs `write`: a read-only agent logs in nowhere.
    ("db.issue_creds", WRITE),
    ("db.renew", WRITE),
    ("db.revoke", WRITE_AND_DELETE),
    ("ssh.otp", WRITE),
    ("ssh.sign", WRITE),
    ("pki.issue", WRITE),
    ("pki.revoke", WRITE_AND_DELETE),
    ("pki.ca", READ),
];

/// The scope an MCP tool needs; `None` for a tool the bridge does not offer. Underscore names
/// (`kv_read`, for clients that refuse dots) map like their dotted form.
pub fn tool_scope(tool: &str) -> Option<&'static str> {
    tool_entry(tool).map(|(_, scope)| *scope)
}

/// A tool's one name (`kv_read` → `kv.read`): what limits and counts are kept under, so the
/// underscore spelling is the same tool to them, not a second allowance.
pub fn tool_name(tool: &str) -> Option<&'static str> {
    tool_entry(tool).map(|(name, _)| *name)
}

fn tool_entry(tool: &str) -> Option<&'static (&'static str, &'static str)> {
    TOOL_SCOPES.iter().find(|(name, _)| {
        *name == tool
            || (name.len() == tool.len()
                && name
                    .bytes()
                    .zip(tool.bytes())
                    .all(|(a, b)| a == b || (a == b'.' && b == b'_')))
    })
}

/// The tool an MCP method other than `tools/call` amounts to, for limits and budgets: reading
/// a resource is a `kv.read`.
pub fn method_tool(method: &str) -> Option<&'static str> {
    match method {
        "resources/read" | "resources/get" => Some("kv.read"),
        _ => None,
    }
}

/// The scope an MCP method needs apart from `tools/call`: reading a resource reads a secret,
/// and watching one learns when it changes (a folder needs `list` too: the backend checks it).
pub fn method_scope(method: &str) -> Option<&'static str> {
    match method {
        "resources/read" | "resources/get" | "resources/subscribe" | "subscriptions/listen" => {
            Some(READ)
        }
        _ => None,
    }
}

/// One row of the route table: requests whose path starts with `prefix` (and ends with `suffix`
/// when given) and whose method is listed need that scope. `null` means "authenticated, no
/// scope needed".
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RouteRule {
    pub prefix: String,
    #[serde(default)]
    pub suffix: Option<String>,
    /// Method → scope; `*` matches any method.
    pub methods: BTreeMap<String, Option<String>>,
    /// Method → the MCP tool that method runs (`POST /db/creds/…` is `db.issue_creds`), so the
    /// tool's scope, per-tool limits and budgets hold whichever face an agent uses.
    #[serde(default)]
    pub tools: BTreeMap<String, String>,
}

/// The routes of the seed, first match wins.
pub fn default_routes() -> Vec<RouteRule> {
    /// Each method with its scope and the tool it runs (if it is one).
    type Methods<'a> = &'a [(&'a str, Option<&'a str>, Option<&'a str>)];
    fn rule(prefix: &str, suffix: Option<&str>, methods: Methods<'_>) -> RouteRule {
        RouteRule {
            prefix: prefix.into(),
            suffix: suffix.map(Into::into),
            methods: methods
                .iter()
                .map(|(m, s, _)| (m.to_string(), s.map(String::from)))
                .collect(),
            tools: methods
                .iter()
                .filter_map(|(m, _, t)| Some((m.to_string(), t.map(String::from)?)))
                .collect(),
        }
    }
    let post = |scope, tool| [("POST", Some(scope), Some(tool))];
    vec![
        rule("/secrets/", Some(":undelete"), &post(WRITE, "kv.undelete")),
        rule(
            "/secrets/",
            Some(":destroy"),
            &post(WRITE_AND_DELETE, "kv.destroy"),
        ),
        rule(
            "/secrets/",
            None,
            &[
                ("GET", Some(READ), Some("kv.read")),
                ("PUT", Some(WRITE), Some("kv.write")),
                ("DELETE", Some(DELETE), Some("kv.delete")),
            ],
        ),
        rule("/secrets", None, &[("GET", Some(LIST), Some("kv.list"))]),
        rule("/transit/encrypt", None, &post(WRITE, "transit.encrypt")),
        rule("/transit/decrypt", None, &post(READ, "transit.decrypt")),
        rule("/transit/rewrap", None, &post(WRITE, "transit.rewrap")),
        rule("/transit/sign", None, &post(WRITE, "transit.sign")),
        rule("/transit/verify", None, &post(READ, "transit.verify")),
        rule(
            "/transit/random",
            None,
            &[("GET", Some(READ), Some("transit.random"))],
        ),
        rule("/transit/keys/", None, &post(WRITE, "transit.create_key")),
        rule("/transit/", None, &[("POST", Some(WRITE), None)]),
        rule("/db/revoke", None, &post(WRITE_AND_DELETE, "db.revoke")),
        rule("/db/renew", None, &post(WRITE, "db.renew")),
        rule(
            "/db/creds/",
            None,
            &[
                ("GET", Some(WRITE), Some("db.issue_creds")),
                ("POST", Some(WRITE), Some("db.issue_creds")),
            ],
        ),
        rule(
            "/db/",
            None,
            &[("GET", Some(WRITE), None), ("POST", Some(WRITE), None)],
        ),
        rule("/ssh/sign", None, &post(WRITE, "ssh.sign")),
        rule("/ssh/otp", None, &post(WRITE, "ssh.otp")),
        rule("/pki/issue", None, &post(WRITE, "pki.issue")),
        rule("/pki/revoke", None, &post(WRITE_AND_DELETE, "pki.revoke")),
        rule("/pki/ca", None, &[("GET", Some(READ), Some("pki.ca"))]),
        rule("/admin/agents", None, &[("*", Some(ADMIN), None)]),
        rule("/whoami", None, &[("GET", None, None)]),
        rule("/healthz", None, &[("GET", None, None)]),
        rule("/livez", None, &[("GET", None, None)]),
        rule("/readyz", None, &[("GET", None, None)]),
    ]
}

/// What the route table says of a request outside MCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteScope<'a> {
    /// Authenticated callers may pass; this scope (if any) is needed.
    Needs(Option<&'a str>),
    /// No rule matches: refused, so a new backend route is closed until the table says otherwise.
    Unknown,
}

pub fn route_scope<'a>(rules: &'a [RouteRule], method: &str, path: &str) -> RouteScope<'a> {
    match route(rules, method, path) {
        Some((rule, key)) => RouteScope::Needs(rule.methods[key].as_deref()),
        None => RouteScope::Unknown,
    }
}

/// The MCP tool a request outside MCP runs, if its route names one.
pub fn route_tool<'a>(rules: &'a [RouteRule], method: &str, path: &str) -> Option<&'a str> {
    let (rule, key) = route(rules, method, path)?;
    rule.tools.get(key).map(String::as_str)
}

/// The first rule matching the request, and the key of `methods` (the method, or `*`).
fn route<'a>(rules: &'a [RouteRule], method: &str, path: &str) -> Option<(&'a RouteRule, &'a str)> {
    // The query string never takes part in matching.
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let path_matches = |rule: &RouteRule| {
        let exact_or_under = if rule.prefix.ends_with('/') {
            path.starts_with(&rule.prefix)
        } else {
            path == rule.prefix
                || path
                    .strip_prefix(&rule.prefix)
                    .is_some_and(|rest| rest.starts_with('/'))
        };
        exact_or_under && rule.suffix.as_deref().is_none_or(|s| path.ends_with(s))
    };
    for rule in rules.iter().filter(|r| path_matches(r)) {
        if let Some((key, _)) = rule
            .methods
            .get_key_value(method)
            .or_else(|| rule.methods.get_key_value("*"))
        {
            return Some((rule, key.as_str()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements_read_well() {
        assert_eq!(requirement("read"), "the 'read' scope is required");
        assert_eq!(
            requirement(WRITE_AND_DELETE),
            "the scopes 'write' and 'delete' are all required"
        );
    }

    #[test]
    fn tools_and_underscore_aliases() {
        assert_eq!(tool_scope("kv.read"), Some(READ));
        assert_eq!(tool_scope("kv_read"), Some(READ));
        assert_eq!(tool_scope("transit_rewrap"), Some(WRITE));
        assert_eq!(tool_scope("kv.readx"), None);
        assert_eq!(tool_scope("kvxread"), None);
        assert_eq!(tool_scope(""), None);
    }

    #[test]
    fn methods_that_read_need_read() {
        for method in [
            "resources/read",
            "resources/get",
            "resources/subscribe",
            "subscriptions/listen",
        ] {
            assert_eq!(method_scope(method), Some(READ), "{method}");
        }
        for method in ["resources/unsubscribe", "resources/list", "initialize"] {
            assert_eq!(method_scope(method), None, "{method}");
        }
    }

    #[test]
    fn seed_routes() {
        let rules = default_routes();
        let cases = [
            (
                "GET",
                "/secrets/configs/demo",
                RouteScope::Needs(Some(READ)),
            ),
            (
                "GET",
                "/secrets/configs/demo?version=2",
                RouteScope::Needs(Some(READ)),
            ),
            ("PUT", "/secrets/a", RouteScope::Needs(Some(WRITE))),
            ("DELETE", "/secrets/a", RouteScope::Needs(Some(DELETE))),
            (
                "POST",
                "/secrets/a:undelete",
                RouteScope::Needs(Some(WRITE)),
            ),
            (
                "POST",
                "/secrets/a:destroy",
                RouteScope::Needs(Some(WRITE_AND_DELETE)),
            ),
            ("POST", "/secrets/a", RouteScope::Unknown),
            ("GET", "/secrets", RouteScope::Needs(Some(LIST))),
            ("GET", "/secrets?prefix=a/", RouteScope::Needs(Some(LIST))),
            ("GET", "/secretsX", RouteScope::Unknown),
            ("POST", "/transit/encrypt", RouteScope::Needs(Some(WRITE))),
            ("POST", "/transit/decrypt", RouteScope::Needs(Some(READ))),
            ("GET", "/transit/random", RouteScope::Needs(Some(READ))),
            ("POST", "/db/creds/readonly", RouteScope::Needs(Some(WRITE))),
            ("GET", "/db/creds/readonly", RouteScope::Needs(Some(WRITE))),
            ("POST", "/db/renew", RouteScope::Needs(Some(WRITE))),
            (
                "POST",
                "/db/revoke",
                RouteScope::Needs(Some(WRITE_AND_DELETE)),
            ),
            ("POST", "/ssh/otp", RouteScope::Needs(Some(WRITE))),
            ("POST", "/pki/issue", RouteScope::Needs(Some(WRITE))),
            ("GET", "/pki/ca", RouteScope::Needs(Some(READ))),
            ("GET", "/pki/issue", RouteScope::Unknown),
            (
                "POST",
                "/pki/revoke",
                RouteScope::Needs(Some(WRITE_AND_DELETE)),
            ),
            ("GET", "/whoami", RouteScope::Needs(None)),
            ("GET", "/metrics", RouteScope::Unknown),
            ("GET", "/admin", RouteScope::Unknown),
        ];
        for (method, path, expected) in cases {
            assert_eq!(
                route_scope(&rules, method, path),
                expected,
                "{method} {path}"
            );
        }
        // Each route that runs a tool names it (its limits and budget hold there too).
        for (method, path, tool) in [
            ("GET", "/secrets/a", Some("kv.read")),
            ("PUT", "/secrets/a", Some("kv.write")),
            ("POST", "/secrets/a:destroy", Some("kv.destroy")),
            ("GET", "/secrets?prefix=a/", Some("kv.list")),
            ("POST", "/transit/encrypt", Some("transit.encrypt")),
            ("POST", "/transit/keys/k", Some("transit.create_key")),
            ("GET", "/db/creds/readonly", Some("db.issue_creds")),
            ("POST", "/db/renew", Some("db.renew")),
            ("POST", "/ssh/sign", Some("ssh.sign")),
            ("POST", "/ssh/otp", Some("ssh.otp")),
            ("POST", "/pki/issue", Some("pki.issue")),
            ("POST", "/pki/revoke", Some("pki.revoke")),
            ("GET", "/pki/ca", Some("pki.ca")),
            ("GET", "/whoami", None),
        ] {
            assert_eq!(route_tool(&rules, method, path), tool, "{method} {path}");
        }
        // Every tool a route names is a tool (with its own scope no wider than the route's).
        for rule in &rules {
            for (method, tool) in &rule.tools {
                assert_eq!(tool_scope(tool), rule.methods[method].as_deref(), "{tool}");
            }
        }
    }
}

//! The agent registry as the edge sees it: a snapshot the backend builds from the records in
//! Vault (`_bridge/agents/{subject}`), fetched by the filter every few seconds (see
//! `wasm/registry.rs`) and read by the backend's standalone mode.
//!
//! The snapshot holds what the edge decides with and nothing more: per agent, whether it is
//! enabled, its scopes, its rate limit, and its API keys as SHA-256 digests with an optional
//! expiry (a rotated key's grace period). Never a key itself. The same types serialize it on
//! the backend and parse it here, so the two sides cannot drift apart. Unknown fields are
//! ignored, so an older edge keeps working with a newer backend.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::apikey::{self, KeyDigest};
use crate::identity::{Identity, is_user_subject, is_valid_subject};
use crate::mtls::is_valid_certificate_name;
use crate::ratelimit::Limit;
use crate::scopes::{tool_name, tool_scope};

/// Longest key id (the backend makes 12 hex digits).
pub const MAX_KEY_ID: usize = 64;

/// The document `GET /_bridge/registry` answers with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub agents: Vec<SnapshotAgent>,
    /// When people sign up on their first sign-in (the backend's `USERS_SIGN_UP_SCOPES`): the
    /// scopes a person the registry does not know yet comes in with (the backend registers
    /// them). Absent: such a person is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_up_scopes: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotAgent {
    pub subject: String,
    pub enabled: bool,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub keys: Vec<SnapshotKey>,
    /// Overrides the edge's default rate limit for this agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<Limit>,
    /// The client-certificate name (CN without the configured prefix) this agent answers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// Hex SHA-256 of each unexpired client certificate of this agent that was revoked: refused
    /// even while the agent is enabled (Envoy checks no CRL; see `decision::credentials`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revoked_certificates: Vec<String>,
    /// MCP tool → a bucket of this agent's own for that tool (beside `rate_limit.tools`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tool_rates: BTreeMap<String, Limit>,
    /// MCP tool → how many calls over a long window (`db.issue_creds`: 10 an hour), counted
    /// across every Envoy by the rate-limit service; refused with `budget_exhausted`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub budgets: BTreeMap<String, Limit>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotKey {
    pub id: String,
    /// Hex SHA-256 of the key.
    pub sha256: String,
    /// Unix seconds after which the key is refused (a rotated key's grace period).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RegistryError {
    #[error("the registry snapshot is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the registry snapshot is not valid: {0}")]
    Malformed(String),
    #[error("agents[{index}]: {subject:?} is not a valid subject")]
    BadSubject { index: usize, subject: String },
    #[error("agents[{index}]: subject {subject:?} appears twice")]
    DuplicateSubject { index: usize, subject: String },
    #[error("agents[{index}].keys[{key}]: sha256 must be 64 hex digits")]
    BadDigest { index: usize, key: usize },
    #[error("agents[{index}].keys[{key}]: the id must be 1 to {MAX_KEY_ID} of A-Z a-z 0-9 _ . -")]
    BadKeyId { index: usize, key: usize },
    #[error("agents[{index}].keys[{key}]: the digest belongs to another key already")]
    DuplicateDigest { index: usize, key: usize },
    #[error(
        "agents[{index}]: rates and budgets need positive requests and per_seconds, for known tools (budgets: a second, minute, hour or day)"
    )]
    BadRate { index: usize },
    #[error("agents[{index}].certificate: not a valid certificate name, or another agent's")]
    BadCertificate { index: usize },
    #[error("agents[{index}].revoked_certificates: each must be a hex SHA-256")]
    BadRevokedCertificate { index: usize },
    #[error(
        "agents[{index}]: a person signs in through the authorization server, not with keys or certificates"
    )]
    UserCredentials { index: usize },
    #[error("sign_up_scopes: {0:?} is not a scope")]
    BadSignUpScope(String),
}

/// What the host holds of the registry, for one decision.
#[derive(Debug, Clone, Copy)]
pub enum Followed<'a> {
    /// The host follows no registry: only the configured credentials count.
    No,
    /// It follows one but holds no snapshot yet: only static API keys are served (fail closed).
    Pending,
    /// The last good snapshot.
    Yes(&'a Registry),
}

/// One registered agent, ready for decisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredAgent {
    pub identity: Identity,
    pub enabled: bool,
    pub limits: AgentLimits,
    /// Digests of its revoked client certificates (few: only the unexpired ones).
    pub revoked_certificates: Vec<apikey::KeyDigest>,
}

impl RegisteredAgent {
    /// Whether the client certificate with this hex SHA-256 was revoked.
    pub fn revoked(&self, certificate_sha256: &str) -> bool {
        apikey::parse_digest(certificate_sha256)
            .is_some_and(|d| self.revoked_certificates.contains(&d))
    }
}

/// An agent's own rate limits: overall, per MCP tool, and its budgets per tool (shared, not
/// copied per request).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentLimits {
    pub overall: Option<Limit>,
    pub tools: Option<Arc<BTreeMap<String, Limit>>>,
    pub budgets: Option<Arc<BTreeMap<String, Limit>>>,
}

impl AgentLimits {
    pub fn tool(&self, tool: &str) -> Option<Limit> {
        self.tools.as_ref()?.get(tool).copied()
    }

    pub fn budget(&self, tool: &str) -> Option<Limit> {
        self.budgets.as_ref()?.get(tool).copied()
    }
}

/// Per-tool limits under each tool's one name; `None` when there are none. The caller checked
/// that every key names a tool.
fn by_tool_name(limits: BTreeMap<String, Limit>) -> Option<Arc<BTreeMap<String, Limit>>> {
    (!limits.is_empty()).then(|| {
        Arc::new(
            limits
                .into_iter()
                .filter_map(|(tool, limit)| Some((tool_name(&tool)?.into(), limit)))
                .collect(),
        )
    })
}

/// Whose a key is, until when, and its id.
#[derive(Debug, Clone)]
struct KeyEntry {
    agent: usize,
    expires: Option<u64>,
    id: String,
}

/// A parsed, validated snapshot, indexed for the request path: a key is found by its digest in
/// one hash lookup whatever the number of agents (the presented key is hashed first, so the
/// lookup's timing depends on a digest the caller already knows, never on a stored key).
#[derive(Debug, Clone, Default)]
pub struct Registry {
    agents: Vec<RegisteredAgent>,
    subjects: HashMap<String, usize>,
    keys: HashMap<KeyDigest, KeyEntry>,
    certificates: HashMap<String, usize>,
    /// The scopes of a person signing in for the first time, when people sign up (an identity
    /// with no name: only its scopes are used).
    sign_up: Option<Identity>,
}

impl Registry {
    /// Parses a snapshot document of at most `max_bytes`.
    pub fn parse(bytes: &[u8], max_bytes: usize) -> Result<Self, RegistryError> {
        if bytes.len() > max_bytes {
            return Err(RegistryError::TooLarge(max_bytes));
        }
        let snapshot: Snapshot =
            serde_json::from_slice(bytes).map_err(|e| RegistryError::Malformed(e.to_string()))?;
        Self::from_snapshot(snapshot)
    }

    pub fn from_snapshot(snapshot: Snapshot) -> Result<Self, RegistryError> {
        let mut registry = Registry::default();
        if let Some(scopes) = snapshot.sign_up_scopes {
            // Never `admin`: anyone who can sign in would get it.
            if let Some(bad) = scopes.iter().find(|s| {
                s.as_str() == crate::scopes::ADMIN || !crate::scopes::KNOWN.contains(&s.as_str())
            }) {
                return Err(RegistryError::BadSignUpScope(bad.clone()));
            }
            registry.sign_up = Some(Identity::new("", scopes));
        }
        for (index, agent) in snapshot.agents.into_iter().enumerate() {
            if !is_valid_subject(&agent.subject) {
                return Err(RegistryError::BadSubject {
                    index,
                    subject: agent.subject,
                });
            }
            if registry.subjects.contains_key(&agent.subject) {
                return Err(RegistryError::DuplicateSubject {
                    index,
                    subject: agent.subject,
                });
            }
            if is_user_subject(&agent.subject)
                && (!agent.keys.is_empty() || agent.certificate.is_some())
            {
                return Err(RegistryError::UserCredentials { index });
            }
            let positive = |r: &Limit| r.requests > 0 && r.per_seconds > 0;
            let per_tool = |limits: &BTreeMap<String, Limit>| {
                limits
                    .iter()
                    .all(|(tool, r)| tool_scope(tool).is_some() && positive(r))
            };
            if !agent.rate.iter().all(positive)
                || !per_tool(&agent.tool_rates)
                || !per_tool(&agent.budgets)
                || !agent
                    .budgets
                    .values()
                    .all(|b| crate::global::is_unit_window(b.per_seconds))
            {
                return Err(RegistryError::BadRate { index });
            }
            for (key, entry) in agent.keys.into_iter().enumerate() {
                let digest = apikey::parse_digest(&entry.sha256)
                    .ok_or(RegistryError::BadDigest { index, key })?;
                // The id travels in a header to the backend.
                if !is_valid_subject(&entry.id) || entry.id.len() > MAX_KEY_ID {
                    return Err(RegistryError::BadKeyId { index, key });
                }
                let entry = KeyEntry {
                    agent: index,
                    expires: entry.expires,
                    id: entry.id,
                };
                if registry.keys.insert(digest, entry).is_some() {
                    return Err(RegistryError::DuplicateDigest { index, key });
                }
            }
            if let Some(name) = agent.certificate
                && (!is_valid_certificate_name(&name)
                    || registry.certificates.insert(name, index).is_some())
            {
                return Err(RegistryError::BadCertificate { index });
            }
            let revoked_certificates = agent
                .revoked_certificates
                .iter()
                .map(|hex| apikey::parse_digest(hex))
                .collect::<Option<Vec<_>>>()
                .ok_or(RegistryError::BadRevokedCertificate { index })?;
            registry.subjects.insert(agent.subject.clone(), index);
            registry.agents.push(RegisteredAgent {
                identity: Identity::new(agent.subject, agent.scopes),
                enabled: agent.enabled,
                limits: AgentLimits {
                    overall: agent.rate,
                    tools: by_tool_name(agent.tool_rates),
                    budgets: by_tool_name(agent.budgets),
                },
                revoked_certificates,
            });
        }
        Ok(registry)
    }

    /// The agent a presented API key belongs to and the key's id, unless the key has expired.
    pub fn by_key(&self, presented: &str, now_s: u64) -> Option<(&RegisteredAgent, &str)> {
        let key = self.keys.get(&apikey::digest(presented))?;
        if key.expires.is_some_and(|at| now_s >= at) {
            return None;
        }
        Some((self.agents.get(key.agent)?, key.id.as_str()))
    }

    /// The agent a client certificate's name belongs to.
    pub fn by_certificate(&self, name: &str) -> Option<&RegisteredAgent> {
        self.agents.get(*self.certificates.get(name)?)
    }

    pub fn agent(&self, subject: &str) -> Option<&RegisteredAgent> {
        self.agents.get(*self.subjects.get(subject)?)
    }

    /// The scopes a person unknown to the registry comes in with, when people sign up.
    pub fn sign_up(&self) -> Option<&Identity> {
        self.sign_up.as_ref()
    }

    pub fn agents(&self) -> impl Iterator<Item = &RegisteredAgent> {
        self.agents.iter()
    }

    pub fn len(&self) -> usize {
        self.agents.len()
    }

    pub fn is_empty(&self) -> bool {
        self.agents.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(agents: serde_json::Value) -> Vec<u8> {
        serde_json::json!({ "agents": agents })
            .to_string()
            .into_bytes()
    }

    fn digest(key: &str) -> String {
        hex::encode(apikey::digest(key))
    }

    #[test]
    fn keys_find_their_agent_until_they_expire() {
        let doc = snapshot(serde_json::json!([
            { "subject": "a1", "enabled": true, "scopes": ["write", "read"],
              "keys": [{ "id": "k1", "sha256": digest("new") },
                       { "id": "k0", "sha256": digest("old"), "expires": 100 }],
              "rate": { "requests": 5, "per_seconds": 1 },
              "tool_rates": { "kv.write": { "requests": 1, "per_seconds": 60 } } },
            { "subject": "a2", "enabled": false, "keys": [{ "id": "k2", "sha256": digest("b") }],
              "certificate": "a2.clients", "future_field": 1 },
        ]));
        let registry = Registry::parse(&doc, 1 << 20).unwrap();
        assert_eq!(registry.len(), 2);
        let (a1, id) = registry.by_key("new", 1_000).unwrap();
        assert_eq!(id, "k1");
        assert_eq!(a1.identity.subject, "a1");
        assert_eq!(a1.identity.scopes, ["read", "write"]);
        assert_eq!(a1.limits.overall.unwrap().requests, 5);
        assert_eq!(a1.limits.tool("kv.write").unwrap().per_seconds, 60);
        assert!(a1.limits.tool("kv.read").is_none());
        assert_eq!(registry.by_key("old", 99).unwrap().0.identity.subject, "a1");
        assert_eq!(registry.by_key("old", 99).unwrap().1, "k0");
        assert!(registry.by_key("old", 100).is_none(), "expired");
        assert!(!registry.by_key("b", 0).unwrap().0.enabled);
        assert!(registry.by_key("c", 0).is_none());
        assert!(registry.agent("a2").is_some() && registry.agent("a3").is_none());
        assert_eq!(
            registry
                .by_certificate("a2.clients")
                .unwrap()
                .identity
                .subject,
            "a2"
        );
        assert!(registry.by_certificate("a1").is_none());
    }

    #[test]
    fn bad_snapshots_are_refused_with_the_reason() {
        let cases = [
            (
                serde_json::json!([{ "subject": "a/b", "enabled": true }]),
                "valid subject",
            ),
            (
                serde_json::json!([{ "subject": "a", "enabled": true }, { "subject": "a", "enabled": true }]),
                "appears twice",
            ),
            (
                serde_json::json!([{ "subject": "a", "enabled": true, "keys": [{ "id": "k", "sha256": "zz" }] }]),
                "64 hex digits",
            ),
            (
                serde_json::json!([
                    { "subject": "a", "enabled": true, "keys": [{ "id": "k", "sha256": digest("x") }] },
                    { "subject": "b", "enabled": true, "keys": [{ "id": "k", "sha256": digest("x") }] }]),
                "another key",
            ),
            (
                serde_json::json!([{ "subject": "a", "enabled": true, "keys": [{ "id": "k\r\n", "sha256": digest("x") }] }]),
                "the id must be",
            ),
            (
                serde_json::json!([{ "subject": "a", "enabled": true, "rate": { "requests": 0, "per_seconds": 1 } }]),
                "positive",
            ),
            (
                serde_json::json!([{ "subject": "a" }]),
                "missing field `enabled`",
            ),
            (
                serde_json::json!([{ "subject": "a", "enabled": true, "certificate": "x,y" }]),
                "certificate",
            ),
            (
                serde_json::json!([{ "subject": "a", "enabled": true, "tool_rates": { "kv.nope": { "requests": 1, "per_seconds": 1 } } }]),
                "known tools",
            ),
            (
                serde_json::json!([{ "subject": "a", "enabled": true, "budgets": { "kv.nope": { "requests": 1, "per_seconds": 1 } } }]),
                "known tools",
            ),
            (
                serde_json::json!([{ "subject": "a", "enabled": true, "budgets": { "ssh.sign": { "requests": 5, "per_seconds": 0 } } }]),
                "positive",
            ),
            (
                serde_json::json!([
                    { "subject": "a", "enabled": true, "certificate": "c" },
                    { "subject": "b", "enabled": true, "certificate": "c" }]),
                "another agent's",
            ),
        ];
        for (agents, expected) in cases {
            let error = Registry::parse(&snapshot(agents.clone()), 1 << 20).unwrap_err();
            assert!(error.to_string().contains(expected), "{agents}: {error}");
        }
        for broken in [&b"{"[..], b"[]", b"", b"{\"agents\": 1}"] {
            assert!(matches!(
                Registry::parse(broken, 1 << 20),
                Err(RegistryError::Malformed(_))
            ));
        }
        let sign_up = br#"{"agents": [], "sign_up_scopes": ["read", "root"]}"#;
        assert_eq!(
            Registry::parse(sign_up, 1 << 20).unwrap_err(),
            RegistryError::BadSignUpScope("root".into())
        );
        let doc = snapshot(serde_json::json!([]));
        assert_eq!(
            Registry::parse(&doc, doc.len() - 1).unwrap_err(),
            RegistryError::TooLarge(doc.len() - 1)
        );
    }

    #[test]
    fn serializes_what_it_parses() {
        let original = Snapshot {
            agents: vec![SnapshotAgent {
                subject: "a".into(),
                enabled: true,
                scopes: vec!["read".into()],
                keys: vec![SnapshotKey {
                    id: "k".into(),
                    sha256: digest("x"),
                    expires: None,
                }],
                rate: None,
                certificate: Some("c".into()),
                revoked_certificates: vec![digest("y")],
                tool_rates: BTreeMap::new(),
                budgets: BTreeMap::from([(
                    "ssh.sign".into(),
                    Limit {
                        requests: 50,
                        per_seconds: 86_400,
                    },
                )]),
            }],
            sign_up_scopes: Some(vec!["read".into()]),
        };
        let bytes = serde_json::to_vec(&original).unwrap();
        assert_eq!(
            serde_json::from_slice::<Snapshot>(&bytes).unwrap(),
            original
        );
        assert!(!String::from_utf8(bytes).unwrap().contains("expires"));
    }
}

//! What the registry's operations take and give: the errors, a new agent, a change to one, and
//! the views operators see (never a key after it was shown once, never a digest).

use std::collections::BTreeMap;

use serde::Serialize;
use thiserror::Error;
use vault_mcp_filter::ratelimit::Limit;

use crate::vault::VaultError;
use crate::vault::registry::{AgentRecord, AgentRoles};
use crate::vault::revocation::Revocation;

#[derive(Debug, Error)]
pub enum RegistryError {
    #[error(
        "{0:?} is not a valid agent name (lower-case letters, digits, '_', '-', '.'; at most 128)"
    )]
    InvalidName(String),
    #[error(
        "{0:?}: names starting with \"user.\" are people's; add a person by the name their authorization server gives them, as a user"
    )]
    PeoplesName(String),
    #[error("{0:?} cannot name a person (empty, or too long once written as a subject)")]
    InvalidUserName(String),
    #[error(
        "{0:?} is a person: they sign in at the authorization server, with no API key or client certificate"
    )]
    PersonHasNoKeys(String),
    #[error("unknown scope {0:?} (known: read, write, list, delete, admin)")]
    InvalidScope(String),
    #[error("an agent needs at least one scope")]
    NoScopes,
    #[error("a rate limit needs positive requests and seconds")]
    InvalidRate,
    #[error("{0:?} is not an MCP tool the bridge offers (tools/list names them)")]
    UnknownTool(String),
    #[error("{0:?} is named twice (its dotted and underscore names are one tool)")]
    DuplicateTool(String),
    #[error(
        "the budget for {0:?} needs a window of 1, 60, 3600 or 86400 seconds (a second, minute, hour or day: what every Envoy counts exactly)"
    )]
    BudgetWindow(String),
    #[error("a key digest must be 64 hex digits")]
    InvalidDigest,
    #[error(
        "{0:?} is not a valid certificate name (printable ASCII, none of , / \\ \" = + ; < > #)"
    )]
    InvalidCertificate(String),
    #[error("the {engine} role {role:?} is not one of the configured ones ({configured})")]
    InvalidRole {
        engine: &'static str,
        role: String,
        configured: String,
    },
    #[error("{0} belongs to agent {1:?} already")]
    Taken(&'static str, String),
    #[error("no agent {0:?}")]
    UnknownAgent(String),
    #[error("agent {0:?} exists already")]
    Exists(String),
    #[error("agent {subject:?} has no key {key_id:?}")]
    UnknownKey { subject: String, key_id: String },
    #[error("the agent changed meanwhile; try again")]
    Conflict,
    #[error(transparent)]
    Vault(VaultError),
}

impl From<VaultError> for RegistryError {
    fn from(error: VaultError) -> Self {
        match error {
            // A check-and-set mismatch: someone else wrote the record since it was read.
            VaultError::Rejected(message) if message.contains("check-and-set") => {
                RegistryError::Conflict
            }
            other => RegistryError::Vault(other),
        }
    }
}

/// What `add` needs.
#[derive(Debug, Clone)]
pub struct NewAgent {
    /// The agent's name; for a person, the name their authorization server gives them (the
    /// filter's `oauth.subject_claim`), which becomes the subject `user.…`.
    pub subject: String,
    /// A person who signs in through the OAuth authorization server: no key is made.
    pub user: bool,
    pub scopes: Vec<String>,
    pub rate: Option<Limit>,
    /// Register an existing key by its digest instead of making one (migrating static keys).
    pub key_sha256: Option<String>,
    /// MCP tool → the agent's own limit for it.
    pub tool_rates: BTreeMap<String, Limit>,
    /// MCP tool → how many calls over a long window (`db.issue_creds`: 10 an hour).
    pub budgets: BTreeMap<String, Limit>,
    /// The client-certificate name it answers to.
    pub certificate: Option<String>,
    pub roles: AgentRoles,
}

/// A change to an agent: each field given replaces what it has (`Some(None)` clears).
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub enabled: Option<bool>,
    pub scopes: Option<Vec<String>>,
    pub rate: Option<Option<Limit>>,
    pub tool_rates: Option<BTreeMap<String, Limit>>,
    pub budgets: Option<BTreeMap<String, Limit>>,
    pub certificate: Option<Option<String>>,
    pub roles: Option<AgentRoles>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.enabled.is_none()
            && self.scopes.is_none()
            && self.rate.is_none()
            && self.tool_rates.is_none()
            && self.budgets.is_none()
            && self.certificate.is_none()
            && self.roles.is_none()
    }
}

/// A key just made: shown once, never stored.
#[derive(Debug, Clone, Serialize)]
pub struct IssuedKey {
    pub subject: String,
    /// Absent for a person (they sign in at the authorization server).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Absent when the key was registered by its digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
}

/// An agent as operators see it: never a key or its digest.
#[derive(Debug, Clone, Serialize)]
pub struct AgentView {
    pub subject: String,
    /// A person signing in through the authorization server, not an agent.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub user: bool,
    pub enabled: bool,
    pub scopes: Vec<String>,
    pub keys: Vec<KeyView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<Limit>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tool_rates: BTreeMap<String, Limit>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub budgets: BTreeMap<String, Limit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    #[serde(skip_serializing_if = "AgentRoles::is_unrestricted")]
    pub roles: AgentRoles,
    pub created: u64,
    pub updated: u64,
    /// What disabling it cut off in Vault (only in the answer to a change that disabled it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked: Option<Revocation>,
}

#[derive(Debug, Clone, Serialize)]
pub struct KeyView {
    pub id: String,
    pub created: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<u64>,
}

impl From<&AgentRecord> for AgentView {
    fn from(record: &AgentRecord) -> Self {
        AgentView {
            subject: record.subject.clone(),
            user: record.user,
            enabled: record.enabled,
            scopes: record.scopes.clone(),
            keys: record
                .keys
                .iter()
                .map(|k| KeyView {
                    id: k.id.clone(),
                    created: k.created,
                    expires: k.expires,
                })
                .collect(),
            rate: record.rate,
            tool_rates: record.tool_rates.clone(),
            budgets: record.budgets.clone(),
            certificate: record.certificate.clone(),
            roles: record.roles.clone(),
            created: record.created,
            updated: record.updated,
            revoked: None,
        }
    }
}

/// What `remove` did.
#[derive(Debug, Clone, Serialize)]
pub struct Removed {
    pub subject: String,
    /// Secrets erased (only with `destroy_data`).
    pub secrets_erased: usize,
    /// What it held in Vault, cut off: its leases revoked, its entity deleted.
    pub revoked: Revocation,
}

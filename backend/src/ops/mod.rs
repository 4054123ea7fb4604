//! The operation catalogue: every capability the bridge offers, written once.
//!
//! Each operation is one type whose fields check themselves while it is deserialized (paths,
//! version lists, sizes, payloads), so holding one means holding valid input. Its [`NAME`]
//! is the MCP tool name and the key of the scope table the edge enforces too
//! (`vault_mcp_filter::scopes`); its `run` acts on the Vault layer for one agent. The REST
//! routes (`rest/`) and MCP tools (`mcp/`) are thin adapters: they turn a request into an
//! operation, call [`execute`], and shape the answer or the [`ApiError`] for their protocol.
//!
//! [`NAME`]: Operation::NAME

pub mod database;
pub mod input;
pub mod kv;
pub mod pki;
pub mod ssh;
pub mod transit;

use std::future::Future;
use std::marker::PhantomData;

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use vault_mcp_filter::scopes;

use crate::error::ApiError;
use crate::identity::{Agent, require_scope};
use crate::vault::{Subject, Vault, VaultError};

/// What an operation does to the world, for clients that ask before acting (MCP annotations)
/// and for people reading the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Changes nothing.
    Reads,
    /// Adds (a version, a credential, a ciphertext) and destroys nothing.
    Adds,
    /// Removes or invalidates something.
    Removes,
}

/// How an operation behaves, beyond its input and output: `Traits::adds().open_world()`.
#[derive(Debug, Clone, Copy)]
pub struct Traits {
    pub effect: Effect,
    /// Repeating the call with the same input changes nothing more.
    pub idempotent: bool,
    /// It reaches past Vault (a database, SSH hosts).
    pub open_world: bool,
}

impl Traits {
    const fn of(effect: Effect) -> Self {
        Self {
            effect,
            idempotent: false,
            open_world: false,
        }
    }

    pub const fn reads() -> Self {
        Self::of(Effect::Reads)
    }

    pub const fn adds() -> Self {
        Self::of(Effect::Adds)
    }

    pub const fn removes() -> Self {
        Self::of(Effect::Removes)
    }

    pub const fn idempotent(self) -> Self {
        Self {
            idempotent: true,
            ..self
        }
    }

    pub const fn open_world(self) -> Self {
        Self {
            open_world: true,
            ..self
        }
    }
}

/// One capability of the bridge.
pub trait Operation: DeserializeOwned + JsonSchema + Send + Sync + 'static {
    /// The tool name, and the key of the scope table.
    const NAME: &'static str;
    /// What it does, for people and models (the scope it needs is added from the table).
    const DESCRIPTION: &'static str;
    const TRAITS: Traits;
    type Output: Serialize + JsonSchema + Send + 'static;

    /// Acts for the agent `agent` was allowed for: only an allowance, made by [`allow`] once
    /// the agent was found to hold the scope, can run an operation.
    fn run(
        &self,
        vault: &Vault,
        agent: &Allowed<'_, Self>,
    ) -> impl Future<Output = Result<Self::Output, ApiError>> + Send;

    /// What running it would do, for a person asked to confirm it (`MCP_CONFIRM_TOOLS`),
    /// completing "The agent … asks to …": it names paths, versions and leases, never a value.
    fn summary(&self) -> String {
        format!(
            "run {}: {}",
            Self::NAME,
            Self::DESCRIPTION.trim_end_matches('.')
        )
    }
}

/// The scope an operation needs, from the one table the edge enforces too.
pub fn scope_of(name: &str) -> &'static str {
    scopes::tool_scope(name).expect("every operation is in the scope table (tested)")
}

/// Proof that an agent holds the scope the table names for `O`: only [`allow`] makes one, and
/// only an allowance runs `O` ([`Allowed::run`]), so the scope is checked once per call and no
/// face can run an operation without it.
pub struct Allowed<'a, O> {
    agent: &'a Agent,
    operation: PhantomData<fn() -> O>,
}

/// The agent's allowance to run `O`, or the refusal of an agent without its scope.
pub fn allow<O: Operation>(agent: &Agent) -> Result<Allowed<'_, O>, ApiError> {
    require_scope(agent, scope_of(O::NAME))?;
    Ok(Allowed {
        agent,
        operation: PhantomData,
    })
}

impl<O: Operation> Allowed<'_, O> {
    /// Runs `operation` for the agent this allowance was checked for.
    pub async fn run(self, vault: &Vault, operation: O) -> Result<O::Output, ApiError> {
        match operation.run(vault, &self).await {
            // Vault refuses a token it no longer knows as it refuses a path outside the policy:
            // once more with a new token (a 403 did nothing).
            Err(ApiError::Vault(VaultError::Forbidden))
                if vault.agent_token_is_dead(&self.agent.subject).await =>
            {
                operation.run(vault, &self).await
            }
            other => other,
        }
    }
}

/// The agent an allowance was checked for, for the operation it runs.
impl<O> std::ops::Deref for Allowed<'_, O> {
    type Target = Agent;

    fn deref(&self) -> &Agent {
        self.agent
    }
}

impl<'a, O> From<&'a Allowed<'a, O>> for Subject<'a> {
    fn from(allowed: &'a Allowed<'a, O>) -> Self {
        allowed.agent.into()
    }
}

/// Runs `operation` for `agent` once it holds the scope the table names for it: for faces that
/// have nothing to do between the check and the run.
pub async fn execute<O: Operation>(
    vault: &Vault,
    agent: &Agent,
    operation: O,
) -> Result<O::Output, ApiError> {
    allow::<O>(agent)?.run(vault, operation).await
}

/// Every operation's name, for the tests that keep the catalogue, the scope table and the
/// faces in step.
pub const NAMES: &[&str] = &[
    kv::KvRead::NAME,
    kv::KvWrite::NAME,
    kv::KvList::NAME,
    kv::KvDelete::NAME,
    kv::KvUndelete::NAME,
    kv::KvDestroy::NAME,
    transit::TransitEncrypt::NAME,
    transit::TransitDecrypt::NAME,
    transit::TransitRewrap::NAME,
    transit::TransitSign::NAME,
    transit::TransitVerify::NAME,
    transit::TransitRandom::NAME,
    transit::TransitCreateKey::NAME,
    database::DbIssueCreds::NAME,
    database::DbRenew::NAME,
    database::DbRevoke::NAME,
    ssh::SshOtp::NAME,
    ssh::SshSign::NAME,
    pki::PkiIssue::NAME,
    pki::PkiRevoke::NAME,
    pki::PkiCa::NAME,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_and_the_scope_table_name_the_same_operations() {
        let catalogue: std::collections::BTreeSet<&str> = NAMES.iter().copied().collect();
        let table: std::collections::BTreeSet<&str> =
            scopes::TOOL_SCOPES.iter().map(|(name, _)| *name).collect();
        assert_eq!(catalogue, table);
        assert_eq!(catalogue.len(), NAMES.len(), "a name is listed twice");
    }
}

//! What a registry written by an earlier version must change before this one serves it, checked
//! at start (`serve` refuses, naming what to run) and done by `agents migrate`:
//! - agents with upper-case letters in their names: subjects are lower case now, since Vault
//!   folds policy names (`RT-1` and `rt-1` shared `agent-rt-1`). Such an agent is removed and
//!   added again in lower case (its data stays under the old name until then).
//! - signing keys in the Transit mount under `{subject}-signing`, a name agent
//!   `{subject}-signing` would take for its encryption key. `agents migrate` keeps their public
//!   keys (to verify old signatures outside the bridge: `_bridge/retired-keys/{subject}`),
//!   deletes them, and makes
//!   each agent its signing key among its own keys (`vault::transit::SIGNING_KEY`).

use serde::Serialize;
use vault_mcp_filter::identity::{is_user_subject, is_valid_subject};

use super::{Registry, RegistryError};

/// What `agents migrate` did.
#[derive(Debug, Default, Serialize)]
pub struct Migrated {
    /// Agents whose signing key moved (the old key's public keys kept, the old key deleted).
    pub signing_keys_moved: Vec<String>,
    /// Agents whose names must be added again in lower case (migrate cannot rename them).
    pub names_to_redo: Vec<String>,
}

impl Registry {
    /// The agents that need `agents migrate` (legacy signing keys) and those with names no
    /// longer valid: upper case, or `user.…` (people's names now) on an agent's record.
    async fn legacy(&self) -> Result<(Vec<String>, Vec<String>), RegistryError> {
        let subjects = self.vault.registry_subjects().await?;
        let (valid, mut invalid): (Vec<String>, Vec<String>) =
            subjects.into_iter().partition(|s| is_valid_subject(s));
        for subject in valid.iter().filter(|s| is_user_subject(s)) {
            if self
                .vault
                .registry_record(subject)
                .await?
                .is_some_and(|record| !record.user)
            {
                invalid.push(subject.clone());
            }
        }
        let legacy_keys = self.vault.legacy_signing_keys(&valid).await?;
        Ok((legacy_keys, invalid))
    }

    /// Before serving: `Err` with what the operator must run when the registry is an earlier
    /// version's.
    pub async fn check_upgraded(&self) -> Result<(), String> {
        let (keys, names) = match self.legacy().await {
            Ok(found) => found,
            // The service starts without Vault (`/readyz` says so); nothing to check then.
            Err(RegistryError::Vault(
                crate::vault::VaultError::Unavailable | crate::vault::VaultError::Timeout,
            )) => {
                tracing::warn!(
                    "Vault not reachable at start: the registry's version is not checked"
                );
                return Ok(());
            }
            Err(other) => return Err(other.to_string()),
        };
        let mut problems = Vec::new();
        if !names.is_empty() {
            problems.push(format!(
                "agents whose names have upper-case letters, which Vault cannot keep apart from \
                 their lower-case spelling, or start with `user.`, which names people signing \
                 in now: {}; remove each (`vault-mcp-bridge agents remove NAME`) and add it \
                 again under a lower-case name that does not start with `user.`",
                names.join(", ")
            ));
        }
        if !keys.is_empty() {
            problems.push(format!(
                "agents whose signing keys are still named `{{subject}}-signing` in the Transit \
                 mount, a name another agent could take: {}; run `vault-mcp-bridge agents \
                 migrate` (it keeps their public keys and gives each a new signing key)",
                keys.join(", ")
            ));
        }
        match problems.is_empty() {
            true => Ok(()),
            false => Err(format!(
                "the agent registry was written by an earlier version: {}",
                problems.join("; ")
            )),
        }
    }

    /// `agents migrate`: moves every legacy signing key (idempotent).
    pub async fn migrate(&self) -> Result<Migrated, RegistryError> {
        let (keys, names_to_redo) = self.legacy().await?;
        for subject in &keys {
            self.vault.retire_legacy_signing_key(subject).await?;
            self.vault.create_agent_keys(subject).await?;
        }
        Ok(Migrated {
            signing_keys_moved: keys,
            names_to_redo,
        })
    }
}

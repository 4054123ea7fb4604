//! Each agent's identity entity in Vault: the one behind its alias `{AGENT_TOKEN_ROLE}:{subject}`
//! on the token auth mount, made by Vault at the agent's first token. The service labels it
//! with the metadata the agents' policy is templated on, and mints no token on an entity that
//! carries anything the bridge did not give it: a policy, a group, another alias. Those
//! would reach the agent's tokens beside the agents' policy (an operator's entity taken over by
//! a look-alike alias, or privileges added by hand).

use std::collections::HashMap;

use rustify_derive::Endpoint;
use serde::Deserialize;

use super::policy::entity_metadata;
use super::{Vault, VaultError, exec};

#[derive(Debug, Endpoint)]
#[endpoint(
    path = "sys/auth",
    response = "std::collections::HashMap<String, AuthMount>"
)]
struct ListAuthMounts {}

#[derive(Debug, Deserialize)]
struct AuthMount {
    accessor: String,
}

#[derive(Debug, Endpoint)]
#[endpoint(path = "identity/lookup/entity", method = "POST", response = "Entity")]
struct LookupEntity {
    alias_name: String,
    alias_mount_accessor: String,
}

/// What the service reads of an entity.
#[derive(Debug, Deserialize)]
pub(super) struct Entity {
    pub id: String,
    #[serde(default)]
    policies: Option<Vec<String>>,
    #[serde(default)]
    direct_group_ids: Option<Vec<String>>,
    #[serde(default)]
    inherited_group_ids: Option<Vec<String>>,
    #[serde(default)]
    aliases: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    metadata: Option<HashMap<String, String>>,
    #[serde(default)]
    disabled: bool,
}

impl Entity {
    /// What the entity carries beyond its own alias and metadata, described for the log.
    fn foreign(&self) -> Option<String> {
        let count = |list: &Option<Vec<String>>| list.as_ref().map_or(0, Vec::len);
        let aliases = self.aliases.as_ref().map_or(0, Vec::len);
        let (policies, groups) = (
            count(&self.policies),
            count(&self.direct_group_ids) + count(&self.inherited_group_ids),
        );
        (policies + groups > 0 || aliases != 1).then(|| {
            format!("{policies} policies, {groups} groups and {aliases} aliases (1 expected)")
        })
    }
}

/// Updates only the entity's metadata: the service's policy allows no other field.
#[derive(Debug, Endpoint)]
#[endpoint(path = "identity/entity/id/{self.id}", method = "POST")]
struct LabelEntity {
    #[endpoint(skip)]
    id: String,
    metadata: HashMap<String, String>,
}

/// Updates only whether the entity is disabled.
#[derive(Debug, Endpoint)]
#[endpoint(path = "identity/entity/id/{self.id}", method = "POST")]
struct SwitchEntity {
    #[endpoint(skip)]
    id: String,
    disabled: bool,
}

impl Vault {
    /// The alias on the token mount behind every token of the agent.
    pub(super) fn entity_alias(&self, subject: &str) -> String {
        format!("{}:{subject}", self.agent_tokens.role)
    }

    /// The token auth mount's accessor, which names the agents' aliases (asked once, and again
    /// after [`Self::agent_entity`] found no entity: a Vault reset changes it).
    async fn token_mount_accessor(&self) -> Result<String, VaultError> {
        if let Some(known) = self
            .agent_tokens
            .token_mount
            .lock()
            .expect("accessor lock")
            .clone()
        {
            return Ok(known);
        }
        let mounts = exec::data(&self.base(), ListAuthMounts {}).await?;
        let accessor = mounts
            .get("token/")
            .map(|m| m.accessor.clone())
            .ok_or(VaultError::Upstream)?;
        *self.agent_tokens.token_mount.lock().expect("accessor lock") = Some(accessor.clone());
        Ok(accessor)
    }

    /// The agent's entity; `None` until its first token.
    pub(super) async fn agent_entity(&self, subject: &str) -> Result<Option<Entity>, VaultError> {
        let lookup = || async {
            let lookup = LookupEntity {
                alias_name: self.entity_alias(subject),
                alias_mount_accessor: self.token_mount_accessor().await?,
            };
            exec::maybe_data(&self.base(), lookup).await
        };
        match lookup().await? {
            Some(entity) => Ok(Some(entity)),
            None => {
                // Perhaps a Vault reset or restored: its token mount has another accessor.
                self.agent_tokens
                    .token_mount
                    .lock()
                    .expect("accessor lock")
                    .take();
                lookup().await
            }
        }
    }

    /// Whether the agent's entity is disabled now (the kill switch).
    pub(super) async fn agent_entity_disabled(&self, subject: &str) -> Result<bool, VaultError> {
        Ok(self
            .agent_entity(subject)
            .await?
            .is_some_and(|entity| entity.disabled))
    }

    /// The agent's entity (`None` before its first token), refused if it carries anything the
    /// bridge did not give it, or is disabled: asked before a token is minted, so no token is
    /// made on such an entity, and again after.
    pub(super) async fn clean_agent_entity(
        &self,
        subject: &str,
    ) -> Result<Option<Entity>, VaultError> {
        let Some(entity) = self.agent_entity(subject).await? else {
            return Ok(None);
        };
        if let Some(foreign) = entity.foreign() {
            tracing::error!(
                agent = subject,
                entity = %entity.id,
                "the agent's Vault entity carries {foreign}: the bridge gave it none of \
                 them and acts for the agent only once an operator removes them"
            );
            return Err(VaultError::AgentToken);
        }
        if entity.disabled {
            return Err(VaultError::AgentDisabled);
        }
        Ok(Some(entity))
    }

    /// After a token is minted for the agent: its entity (which the mint made if there was
    /// none) is still clean, and carries the metadata its policy is templated on (written when
    /// missing or different).
    pub(super) async fn label_agent_entity(&self, subject: &str) -> Result<(), VaultError> {
        self.observed("identity", "entity_label", async {
            let entity = self
                .clean_agent_entity(subject)
                .await?
                .ok_or(VaultError::Upstream)?;
            let wanted = entity_metadata(subject);
            if entity.metadata.as_ref() != Some(&wanted) {
                let label = LabelEntity {
                    id: entity.id,
                    metadata: wanted,
                };
                exec::empty(&self.base(), label).await?;
            }
            Ok(())
        })
        .await
    }

    /// Disables (or enables again) the agent's entity: every token of it stops (or works) at
    /// once. False when the agent has no entity yet.
    pub async fn set_agent_entity_enabled(
        &self,
        subject: &str,
        enabled: bool,
    ) -> Result<bool, VaultError> {
        let found = self
            .observed("identity", "entity_update", async {
                let Some(entity) = self.agent_entity(subject).await? else {
                    return Ok(false);
                };
                let switch = SwitchEntity {
                    id: entity.id,
                    disabled: !enabled,
                };
                exec::empty(&self.base(), switch).await?;
                Ok(true)
            })
            .await?;
        self.agent_tokens.forget(subject);
        Ok(found)
    }
}

//! Before serving: the operator's part of the agents' identities is in place and no broader
//! than it should be. The token role must grant `AGENT_POLICY` alone and bind tokens only to
//! aliases under its own name (`{role}:*`): a role allowing any alias would let the service
//! mint tokens on an operator's entity, with that entity's policies. The agents' policy must be
//! what this version and configuration print, or agents would meet refusals (a database role
//! added to the configuration but not to the policy) or keep access taken from them.

use super::policy::agent_policy;
use super::{Vault, VaultError, exec};

/// `GET auth/token/roles/{role}`.
#[derive(Debug, rustify_derive::Endpoint)]
#[endpoint(path = "auth/token/roles/{self.role}", response = "TokenRole")]
struct ReadTokenRole {
    #[endpoint(skip)]
    role: String,
}

#[derive(Debug, serde::Deserialize)]
struct TokenRole {
    #[serde(default)]
    allowed_policies: Option<Vec<String>>,
    #[serde(default)]
    allowed_policies_glob: Option<Vec<String>>,
    #[serde(default)]
    allowed_entity_aliases: Option<Vec<String>>,
    #[serde(default)]
    orphan: bool,
}

impl TokenRole {
    /// What is wrong with the role, if anything.
    fn problem(&self, role: &str, policy: &str) -> Option<String> {
        let list = |l: &Option<Vec<String>>| l.clone().unwrap_or_default();
        let aliases = list(&self.allowed_entity_aliases);
        let own = format!("{role}:");
        if list(&self.allowed_policies) != [policy] || !list(&self.allowed_policies_glob).is_empty()
        {
            Some(format!(
                "allows the policies {:?} and globs {:?}, not {policy:?} alone",
                list(&self.allowed_policies),
                list(&self.allowed_policies_glob)
            ))
        } else if aliases.is_empty() || aliases.iter().any(|a| !a.starts_with(&own)) {
            Some(format!(
                "allows the entity aliases {aliases:?}, not only {own}* (an alias outside it may \
                 be an operator's, whose entity's policies its tokens would carry)"
            ))
        } else if !self.orphan {
            Some("makes child tokens of the service's own, not orphans".into())
        } else {
            None
        }
    }
}

impl Vault {
    /// What an operator runs to put the agents' role and policy in place for this
    /// configuration.
    fn agent_setup_commands(&self) -> String {
        let m = self.mounts();
        let role = &self.agent_tokens.role;
        let policy = &self.agent_tokens.policy;
        format!(
            "vault-mcp-bridge gen-policy --agents --mount {} --prefix {} --transit-mount {} \
             --transit-named-mount {} --database-mount {} --ssh-mount {} --database-roles '{}' \
             --ssh-otp-roles '{}' --ssh-sign-roles '{}' | vault policy write {policy} - ; \
             vault write auth/token/roles/{role} allowed_policies={policy} \
             allowed_entity_aliases='{role}:*' orphan=true token_no_default_policy=true \
             renewable=true (README, \"Vault identity of agents\"; the dev stack's \
             local-vault/provision.py does both)",
            m.kv,
            m.prefix,
            m.transit,
            m.transit_named,
            m.database,
            m.ssh,
            m.roles.database.join(","),
            m.roles.ssh_otp.join(","),
            m.roles.ssh_sign.join(","),
        )
    }

    /// Before serving: the token role and the agents' policy are as [`agent_setup_commands`]
    /// makes them. The error says what to run, for the operator.
    pub async fn check_agent_tokens(&self) -> Result<(), String> {
        let role = &self.agent_tokens.role;
        let policy = &self.agent_tokens.policy;
        let setup = self.agent_setup_commands();
        let read = ReadTokenRole { role: role.clone() };
        let unreachable = |what: &str| {
            tracing::warn!(role = %role, "Vault not reachable at start: {what} not checked");
            Ok(())
        };
        match exec::data(&self.base(), read).await {
            Ok(found) => {
                if let Some(problem) = found.problem(role, policy) {
                    return Err(format!(
                        "Vault's token role {role:?} (AGENT_TOKEN_ROLE) {problem}: {setup}"
                    ));
                }
            }
            Err(VaultError::NotFound) => {
                return Err(format!(
                    "Vault has no token role {role:?} (AGENT_TOKEN_ROLE) for agents' tokens: {setup}"
                ));
            }
            Err(VaultError::Forbidden) => {
                return Err(format!(
                    "the service's Vault token may not read auth/token/roles/{role}: give it the \
                     policy `vault-mcp-bridge gen-policy --service` prints"
                ));
            }
            // The service starts without Vault (`/readyz` says so) and mints when it can.
            Err(VaultError::Unavailable | VaultError::Timeout) => {
                return unreachable("its token role");
            }
            Err(other) => return Err(format!("checking Vault's token role {role:?}: {other}")),
        }
        let written = vaultrs::sys::policy::read(&*self.base(), policy)
            .await
            .map_err(VaultError::from);
        match written {
            Ok(found) if found.rules.trim() == agent_policy(&self.mounts()).trim() => Ok(()),
            Ok(_) => Err(format!(
                "Vault's policy {policy:?} (AGENT_POLICY) is not the one this version and \
                 configuration give agents: {setup}"
            )),
            Err(VaultError::NotFound) => Err(format!(
                "Vault has no policy {policy:?} (AGENT_POLICY) for agents' tokens: {setup}"
            )),
            Err(VaultError::Forbidden) => Err(format!(
                "the service's Vault token may not read sys/policy/{policy}: give it the policy \
                 `vault-mcp-bridge gen-policy --service` prints"
            )),
            Err(VaultError::Unavailable | VaultError::Timeout) => unreachable("the agents' policy"),
            Err(other) => Err(format!("checking Vault's policy {policy:?}: {other}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TokenRole;

    fn role(policies: &[&str], glob: &[&str], aliases: &[&str]) -> TokenRole {
        let list = |l: &[&str]| Some(l.iter().map(|s| s.to_string()).collect());
        TokenRole {
            allowed_policies: list(policies),
            allowed_policies_glob: list(glob),
            allowed_entity_aliases: list(aliases),
            orphan: true,
        }
    }

    #[test]
    fn the_role_grants_the_agents_policy_on_its_own_aliases_only() {
        let (name, policy) = ("r", "p");
        assert!(role(&["p"], &[], &["r:*"]).problem(name, policy).is_none());
        for wrong in [
            role(&["p", "admin"], &[], &["r:*"]),
            role(&["p"], &["agent-*"], &["r:*"]),
            role(&[], &[], &["r:*"]),
            role(&["p"], &[], &["*"]),
            role(&["p"], &[], &["r:*", "ops"]),
            role(&["p"], &[], &[]),
            TokenRole {
                orphan: false,
                ..role(&["p"], &[], &["r:*"])
            },
        ] {
            assert!(wrong.problem(name, policy).is_some(), "{wrong:?}");
        }
    }
}

//! Before serving: the operator's part of the agents' identities is in place and no broader
//! than it should be. The token role must grant the agents' two policies (`AGENT_POLICY` and
//! `{AGENT_POLICY}-roles`) and no other, and bind tokens only to
//! aliases under its own name (`{role}:*`): a role allowing any alias would let the service
//! mint tokens on an operator's entity, with that entity's policies. The agents' policies must
//! be what this version and configuration print, or agents would meet refusals (a database role
//! added to the configuration but not to the policy) or keep access taken from them.

use super::policy::{agent_policy, agent_roles_policy, roles_policy_name};
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
    fn problem(&self, role: &str, policies: &[String]) -> Option<String> {
        let list = |l: &Option<Vec<String>>| l.clone().unwrap_or_default();
        let aliases = list(&self.allowed_entity_aliases);
        let own = format!("{role}:");
        let mut allowed = list(&self.allowed_policies);
        allowed.sort();
        let mut wanted = policies.to_vec();
        wanted.sort();
        if allowed != wanted || !list(&self.allowed_policies_glob).is_empty() {
            Some(format!(
                "allows the policies {allowed:?} and globs {:?}, not {wanted:?} alone",
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
        let roles_policy = roles_policy_name(policy);
        let flags = format!(
            "--mount {} --prefix {} --transit-mount {} --transit-named-mount {} \
             --database-mount {} --ssh-mount {} --database-roles '{}' --ssh-otp-roles '{}' \
             --ssh-sign-roles '{}' --pki-mount {} --pki-roles '{}'",
            m.kv,
            m.prefix,
            m.transit,
            m.transit_named,
            m.database,
            m.ssh,
            m.roles.database.join(","),
            m.roles.ssh_otp.join(","),
            m.roles.ssh_sign.join(","),
            m.pki,
            m.roles.pki.join(","),
        );
        format!(
            "vault-mcp-bridge gen-policy --agents {flags} | vault policy write {policy} - ; \
             vault-mcp-bridge gen-policy --agent-roles {flags} | vault policy write \
             {roles_policy} - ; vault write auth/token/roles/{role} \
             allowed_policies={policy},{roles_policy} allowed_entity_aliases='{role}:*' \
             orphan=true token_no_default_policy=true renewable=true (docs/OPERATING-AGENTS.md, \"Vault identity \
             of agents\"; the dev stack's local-vault/provision.py does all three)"
        )
    }

    /// Before serving: the token role and the agents' policies are as
    /// [`Self::agent_setup_commands`] makes them. The error says what to run, for the operator.
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
                let policies = [policy.clone(), roles_policy_name(policy)];
                if let Some(problem) = found.problem(role, &policies) {
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
        let mounts = self.mounts();
        let expected = [
            (policy.clone(), agent_policy(&mounts)),
            (roles_policy_name(policy), agent_roles_policy(&mounts)),
        ];
        for (name, hcl) in expected {
            let written = vaultrs::sys::policy::read(&*self.base(), &name)
                .await
                .map_err(VaultError::from);
            match written {
                Ok(found) if found.rules.trim() == hcl.trim() => {}
                Ok(_) => {
                    return Err(format!(
                        "Vault's policy {name:?} (from AGENT_POLICY) is not the one this version \
                         and configuration give agents: {setup}"
                    ));
                }
                Err(VaultError::NotFound) => {
                    return Err(format!(
                        "Vault has no policy {name:?} (from AGENT_POLICY) for agents' tokens: \
                         {setup}"
                    ));
                }
                Err(VaultError::Forbidden) => {
                    return Err(format!(
                        "the service's Vault token may not read sys/policy/{name}: give it the \
                         policy `vault-mcp-bridge gen-policy --service` prints"
                    ));
                }
                Err(VaultError::Unavailable | VaultError::Timeout) => {
                    return unreachable("the agents' policies");
                }
                Err(other) => return Err(format!("checking Vault's policy {name:?}: {other}")),
            }
        }
        Ok(())
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
    fn the_role_grants_the_agents_policies_on_its_own_aliases_only() {
        let name = "r";
        let policies = ["p".to_string(), "p-roles".to_string()];
        let good = role(&["p-roles", "p"], &[], &["r:*"]);
        assert!(good.problem(name, &policies).is_none());
        for wrong in [
            role(&["p", "p-roles", "admin"], &[], &["r:*"]),
            role(&["p"], &[], &["r:*"]),
            role(&["p", "p-roles"], &["agent-*"], &["r:*"]),
            role(&[], &[], &["r:*"]),
            role(&["p", "p-roles"], &[], &["*"]),
            role(&["p", "p-roles"], &[], &["r:*", "ops"]),
            role(&["p", "p-roles"], &[], &[]),
            TokenRole {
                orphan: false,
                ..role(&["p", "p-roles"], &[], &["r:*"])
            },
        ] {
            assert!(wrong.problem(name, &policies).is_some(), "{wrong:?}");
        }
    }
}

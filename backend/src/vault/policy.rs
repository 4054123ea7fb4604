//! The Vault policies: an agent's (its own KV v2 folder, its own Transit keys, and the
//! database and SSH roles, nothing else) and the service's own.

use super::transit::named_key;
use crate::config::Roles;

/// Where an agent's policy points.
pub struct Mounts<'a> {
    pub kv: &'a str,
    pub prefix: &'a str,
    pub transit: &'a str,
    /// The mount of the keys agents name themselves.
    pub transit_named: &'a str,
    pub database: &'a str,
    pub ssh: &'a str,
    /// The database and SSH roles agents may use (`DATABASE_ROLES`, `SSH_OTP_ROLES`,
    /// `SSH_SIGN_ROLES`): the policy names these and no other.
    pub roles: &'a Roles,
}

/// One stanza per role: `{mount}/{verb}/{role}` with `capability`.
fn role_paths(mount: &str, verb: &str, roles: &[String], capability: &str) -> String {
    roles
        .iter()
        .map(|role| {
            format!("path \"{mount}/{verb}/{role}\" {{\n  capabilities = [\"{capability}\"]\n}}\n")
        })
        .collect()
}

/// HCL granting `subject` full use of `{kv}/*/{prefix}/{subject}/…` in a KV v2 mount, its own
/// two Transit keys, database credentials and the SSH roles: what its child token may do.
pub fn agent_policy(subject: &str, mounts: &Mounts<'_>) -> String {
    let Mounts {
        kv: mount,
        prefix,
        transit,
        transit_named,
        database,
        ssh,
        roles,
    } = mounts;
    let folder = format!("{prefix}/{subject}");
    let credentials = [
        role_paths(database, "creds", &roles.database, "read"),
        role_paths(ssh, "creds", &roles.ssh_otp, "update"),
        role_paths(ssh, "sign", &roles.ssh_sign, "update"),
    ]
    .concat();
    // Every name of this agent's own keys starts so, and no other agent's does.
    let keys = named_key(subject, "*");
    format!(
        r#"# Vault MCP Bridge: access for agent "{subject}", limited to its own KV folder and keys.
path "{mount}/data/{folder}/*" {{
  capabilities = ["create", "read", "update", "delete"]
}}
path "{mount}/metadata/{folder}/*" {{
  capabilities = ["read", "list", "delete"]
}}
path "{mount}/delete/{folder}/*" {{
  capabilities = ["update"]
}}
path "{mount}/undelete/{folder}/*" {{
  capabilities = ["update"]
}}
path "{mount}/destroy/{folder}/*" {{
  capabilities = ["update"]
}}
path "{transit}/encrypt/{subject}" {{
  capabilities = ["update"]
}}
path "{transit}/decrypt/{subject}" {{
  capabilities = ["update"]
}}
path "{transit}/rewrap/{subject}" {{
  capabilities = ["update"]
}}
path "{transit_named}/encrypt/{keys}" {{
  capabilities = ["create", "update"]
}}
path "{transit_named}/decrypt/{keys}" {{
  capabilities = ["update"]
}}
path "{transit_named}/rewrap/{keys}" {{
  capabilities = ["update"]
}}
path "{transit_named}/sign/{keys}" {{
  capabilities = ["update"]
}}
path "{transit_named}/verify/{keys}" {{
  capabilities = ["update"]
}}
path "{transit_named}/keys/{keys}" {{
  capabilities = ["create", "update", "read"]
}}
path "{transit}/random" {{
  capabilities = ["update"]
}}
path "{transit}/random/*" {{
  capabilities = ["update"]
}}
# Whether Vault still knows this token (the service asks after a refusal).
path "auth/token/lookup-self" {{
  capabilities = ["read"]
}}
{credentials}"#
    )
}

/// HCL for the service's own token: the registry and its records under `{kv}/_bridge/`, the
/// agents' policies, minting their tokens through `role`, their identity entities (the kill
/// switch), their Transit keys (made at `agents add`, erased by `--destroy-data`), leases on
/// their behalf after the ownership check, and single-use confirmation tickets. It reads no
/// agent's secret itself (the agents' folders only listed and erased), but the `agent-*`
/// policies it writes and the tokens it mints with them make it as strong as any policy.
pub fn service_policy(mounts: &Mounts<'_>, role: &str, policy_prefix: &str) -> String {
    let Mounts {
        kv,
        prefix,
        transit,
        transit_named,
        database,
        ..
    } = mounts;
    format!(
        r#"# Vault MCP Bridge: the service's own token (`vault-mcp-bridge gen-policy --service`).
# The agent registry, lease ownership records and the registry's generation marker.
path "{kv}/data/_bridge/*" {{
  capabilities = ["create", "read", "update", "delete"]
}}
path "{kv}/metadata/_bridge/*" {{
  capabilities = ["read", "list", "delete"]
}}
# `agents remove --destroy-data`: an agent's folder is listed and erased, never read.
path "{kv}/metadata/{prefix}/*" {{
  capabilities = ["list", "delete"]
}}
# Each agent's policy, written at `agents add` and before its first token (vaultrs writes
# them through the older `sys/policy/` path).
path "sys/policy/{policy_prefix}*" {{
  capabilities = ["create", "update", "delete"]
}}
# Each agent's own token, bound to its entity alias.
path "auth/token/create/{role}" {{
  capabilities = ["update"]
}}
path "auth/token/roles/{role}" {{
  capabilities = ["read"]
}}
# The kill switch: find an agent's entity by its alias, disable, enable or delete it.
path "sys/auth" {{
  capabilities = ["read"]
}}
path "identity/lookup/entity" {{
  capabilities = ["update"]
}}
path "identity/entity/id/*" {{
  capabilities = ["update"]
}}
# Each agent's Transit keys: created at `agents add`, erased by `--destroy-data` (listed at
# start, for keys of an earlier version).
path "{transit}/keys/*" {{
  capabilities = ["create", "read", "update", "delete", "list"]
}}
path "{transit_named}/keys/*" {{
  capabilities = ["create", "read", "update", "delete"]
}}
# Database leases, renewed and revoked for the agent they were issued to (no other lease).
path "sys/leases/renew/{database}/creds/*" {{
  capabilities = ["update"]
}}
path "sys/leases/revoke/{database}/creds/*" {{
  capabilities = ["update"]
}}
# Single-use tickets of MCP confirmations.
path "sys/wrapping/wrap" {{
  capabilities = ["update"]
}}
path "sys/wrapping/unwrap" {{
  capabilities = ["update"]
}}
# Its own token: readiness, TTL and renewal.
path "auth/token/lookup-self" {{
  capabilities = ["read"]
}}
path "auth/token/renew-self" {{
  capabilities = ["update"]
}}
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_is_confined_to_the_agents_folder() {
        let hcl = agent_policy(
            "agent_a",
            &Mounts {
                kv: "secret",
                prefix: "agents",
                transit: "transit",
                transit_named: "transit-agents",
                database: "database",
                ssh: "ssh",
                roles: &Roles {
                    database: vec!["readonly".into(), "reporting".into()],
                    ssh_otp: vec!["otp".into()],
                    ssh_sign: vec!["agent".into()],
                },
            },
        );
        let paths: Vec<&str> = hcl
            .lines()
            .filter_map(|l| l.strip_prefix("path \""))
            .map(|l| l.split('"').next().unwrap())
            .collect();
        let (kv, others): (Vec<&str>, Vec<&str>) =
            paths.iter().partition(|p| p.starts_with("secret/"));
        let (transit, others): (Vec<&str>, Vec<&str>) =
            others.iter().partition(|p| p.starts_with("transit/"));
        let (named, engines): (Vec<&str>, Vec<&str>) = others
            .iter()
            .partition(|p| p.starts_with("transit-agents/"));
        assert_eq!(named.len(), 6);
        for path in named {
            assert!(path.ends_with("/7_agent_a_*"), "{path}");
        }
        // Its own token's look-up, and the configured roles by name: no other role.
        assert_eq!(
            engines,
            [
                "auth/token/lookup-self",
                "database/creds/readonly",
                "database/creds/reporting",
                "ssh/creds/otp",
                "ssh/sign/agent"
            ]
        );
        assert_eq!(kv.len(), 5);
        for path in kv {
            assert!(path.ends_with("/agents/agent_a/*"), "{path}");
        }
        for path in transit {
            assert!(
                path.contains("/agent_a") || path.starts_with("transit/random"),
                "{path}"
            );
        }
    }
}

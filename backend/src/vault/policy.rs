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
    pub pki: &'a str,
    /// The database, SSH and PKI roles agents may use (`DATABASE_ROLES`, `SSH_OTP_ROLES`,
    /// `SSH_SIGN_ROLES`, `PKI_ROLES`): the policy names these and no other.
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

/// The entity metadata the agent's policy is templated on, written by the service on the
/// agent's entity (`vault::entity`): its subject, and the start of its own Transit keys' names
/// (`{len}_{subject}_`, which a template cannot compute).
pub const SUBJECT_METADATA: &str = "subject";
pub const KEYS_METADATA: &str = "key_prefix";

/// The metadata the agent's entity carries for [`agent_policy`].
pub fn entity_metadata(subject: &str) -> std::collections::HashMap<String, String> {
    std::collections::HashMap::from([
        (SUBJECT_METADATA.to_string(), subject.to_string()),
        (KEYS_METADATA.to_string(), named_key(subject, "")),
    ])
}

/// The name of the second policy agents' tokens carry, beside `AGENT_POLICY`:
/// [`agent_roles_policy`].
pub fn roles_policy_name(agent_policy: &str) -> String {
    format!("{agent_policy}-roles")
}

/// HCL of the policy every agent's token carries (`AGENT_POLICY`), templated on the token's
/// identity entity: the whole of the agent's KV v2 folder `{kv}/*/{prefix}/{subject}/…` (data,
/// metadata, deletion), its encryption key and its own Transit keys, nothing else. An operator
/// writes it (`gen-policy --agents`); the service only mints tokens with it, so it cannot give
/// itself or any agent more. A token whose entity lacks the metadata matches none of it.
///
/// Three paths, one per mount, each with `+` for the engine's verb: Vault parses a templated
/// policy again on every request, so its length is paid on every call (measured: the same
/// grants as 14 templated paths read at about half the rate of a plain policy, as 3 at about
/// 80 %). What `+` adds to the verbs the bridge uses stays in the agent's corner (the metadata
/// settings of its own secrets, HMACs of its own keys), except for the Transit verbs that name
/// a second key or move key material (`derive-key`, `byok-export`, `backup`, `restore`,
/// `export`): [`agent_roles_policy`] denies those by name, a plain path that wins over `+`.
pub fn agent_policy(mounts: &Mounts<'_>) -> String {
    let Mounts {
        kv,
        prefix,
        transit,
        transit_named,
        ..
    } = mounts;
    let subject = format!("{{{{identity.entity.metadata.{SUBJECT_METADATA}}}}}");
    // Every name of this agent's own keys starts so, and no other agent's does.
    let keys = format!("{{{{identity.entity.metadata.{KEYS_METADATA}}}}}*");
    format!(
        r#"# Vault MCP Bridge: every agent's own corner (`vault-mcp-bridge gen-policy --agents`).
path "{kv}/+/{prefix}/{subject}/*" {{
  capabilities = ["create", "read", "update", "delete", "list"]
}}
path "{transit}/+/{subject}" {{
  capabilities = ["update"]
}}
path "{transit_named}/+/{keys}" {{
  capabilities = ["create", "read", "update"]
}}
"#
    )
}

/// HCL of the plain policy agents' tokens carry beside [`agent_policy`]
/// (`{AGENT_POLICY}-roles`, `gen-policy --agent-roles`): the database and SSH roles named
/// here, random bytes, and the token's own look-up. Kept apart so that Vault does not parse it
/// again on every request as it does a templated one.
pub fn agent_roles_policy(mounts: &Mounts<'_>) -> String {
    let Mounts {
        transit,
        transit_named,
        database,
        ssh,
        pki,
        roles,
        ..
    } = mounts;
    // A PKI role signs only for the name its `allowed_domains` template makes of the token's
    // entity metadata (`{{identity.entity.metadata.subject}}`): this agent's own.
    let credentials = [
        role_paths(database, "creds", &roles.database, "read"),
        role_paths(ssh, "creds", &roles.ssh_otp, "update"),
        role_paths(ssh, "sign", &roles.ssh_sign, "update"),
        role_paths(pki, "sign", &roles.pki, "update"),
        role_paths(pki, "issue", &roles.pki, "update"),
    ]
    .concat();
    let denied: String = [transit, transit_named]
        .iter()
        .flat_map(|mount| {
            DENIED_TRANSIT_VERBS.iter().map(move |verb| {
                format!("path \"{mount}/{verb}/*\" {{\n  capabilities = [\"deny\"]\n}}\n")
            })
        })
        .collect();
    format!(
        r#"# Vault MCP Bridge: what every agent may use besides its own corner
# (`vault-mcp-bridge gen-policy --agent-roles`).
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
{credentials}# What the agents' templated `+` would otherwise reach: verbs that name a second key in
# their path or body, or move key material out of (or into) Vault.
{denied}"#
    )
}

/// The Transit verbs no agent's token may use on either Transit mount.
const DENIED_TRANSIT_VERBS: [&str; 5] =
    ["derive-key", "byok-export", "backup", "restore", "export"];

/// HCL for the service's own token: the registry and its records under `{kv}/_bridge/`,
/// minting agents' tokens through `role` (which grants the agents' two policies and no other),
/// the metadata and the on/off switch of identity entities (no other field: an entity's
/// policies would be privileges), the agents' Transit keys (made at `agents add`, erased by
/// `--destroy-data`), leases on their behalf after the ownership check, and single-use
/// confirmation tickets. It reads no agent's secret itself (the agents' folders only listed and
/// erased) and writes no policy. What remains is the power of the agents' identity provider:
/// it can act as any agent, and give one token every agent's corner (entity metadata is its to
/// write, and a template resolves `+` in it), within the bridge's mounts.
pub fn service_policy(mounts: &Mounts<'_>, role: &str, agent_policy: &str) -> String {
    let Mounts {
        kv,
        prefix,
        transit,
        transit_named,
        database,
        pki,
        roles,
        ..
    } = mounts;
    let pki_roles = role_paths(pki, "roles", &roles.pki, "read");
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
# The agents' policies, read at start to check they are what this version and configuration
# print (vaultrs reads them through the older `sys/policy/` path).
path "sys/policy/{agent_policy}" {{
  capabilities = ["read"]
}}
path "sys/policy/{agent_policy}-roles" {{
  capabilities = ["read"]
}}
# Each agent's own token, bound to its entity alias.
path "auth/token/create/{role}" {{
  capabilities = ["update"]
}}
path "auth/token/roles/{role}" {{
  capabilities = ["read"]
}}
# Agents' entities: found by their alias, labelled with the metadata the agents' policy is
# templated on, disabled and enabled (the kill switch). No other field: not their policies.
path "sys/auth" {{
  capabilities = ["read"]
}}
path "identity/lookup/entity" {{
  capabilities = ["update"]
}}
path "identity/entity/id/*" {{
  capabilities = ["update"]
  allowed_parameters = {{
    "metadata" = []
    "disabled" = []
  }}
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
# The PKI roles agents use, read for their longest lifetime (Vault shortens a longer request
# silently; the bridge refuses it), and certificates revoked for the agent they were issued to
# (the bridge's records say which).
{pki_roles}path "{pki}/revoke" {{
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

    fn paths(hcl: &str) -> Vec<&str> {
        hcl.lines()
            .filter_map(|l| l.strip_prefix("path \""))
            .map(|l| l.split('"').next().unwrap())
            .collect()
    }

    #[test]
    fn each_agent_gets_its_own_corner_and_the_configured_roles_by_name() {
        let roles = Roles {
            database: vec!["readonly".into(), "reporting".into()],
            ssh_otp: vec!["otp".into()],
            ssh_sign: vec!["agent".into()],
            pki: vec!["agent".into()],
        };
        let mounts = Mounts {
            kv: "secret",
            prefix: "agents",
            transit: "transit",
            transit_named: "transit-agents",
            database: "database",
            ssh: "ssh",
            pki: "pki_int",
            roles: &roles,
        };
        // Every templated path ends in the agent's own folder, key or keys: nothing beside.
        assert_eq!(
            paths(&agent_policy(&mounts)),
            [
                "secret/+/agents/{{identity.entity.metadata.subject}}/*",
                "transit/+/{{identity.entity.metadata.subject}}",
                "transit-agents/+/{{identity.entity.metadata.key_prefix}}*",
            ]
        );
        // Its own token's look-up, random bytes and the configured roles by name: no other role.
        let plain = agent_roles_policy(&mounts);
        assert!(!plain.contains("{{"));
        let plain_paths = paths(&plain);
        assert_eq!(
            plain_paths[..9],
            [
                "transit/random",
                "transit/random/*",
                "auth/token/lookup-self",
                "database/creds/readonly",
                "database/creds/reporting",
                "ssh/creds/otp",
                "ssh/sign/agent",
                "pki_int/sign/agent",
                "pki_int/issue/agent"
            ]
        );
        // The rest are denials, of each verb on each Transit mount.
        assert_eq!(plain_paths.len(), 9 + 10);
        assert_eq!(plain.matches("[\"deny\"]").count(), 10);
        assert!(plain_paths.contains(&"transit-agents/derive-key/*"));
    }

    #[test]
    fn the_metadata_names_exactly_the_agents_own_keys() {
        let metadata = entity_metadata("agent_a");
        assert_eq!(metadata[SUBJECT_METADATA], "agent_a");
        let prefix = &metadata[KEYS_METADATA];
        assert!(named_key("agent_a", "k").starts_with(prefix.as_str()));
        assert!(!named_key("agent_a_b", "k").starts_with(prefix.as_str()));
        assert!(!named_key("agent", "a_k").starts_with(prefix.as_str()));
    }
}

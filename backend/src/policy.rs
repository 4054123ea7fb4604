//! The Vault policy an agent needs: its own KV v2 folder, its own Transit keys, and the
//! database and SSH roles, nothing else.

use crate::vault::transit::named_key;

/// Where an agent's policy points.
pub struct Mounts<'a> {
    pub kv: &'a str,
    pub prefix: &'a str,
    pub transit: &'a str,
    /// The mount of the keys agents name themselves.
    pub transit_named: &'a str,
    pub database: &'a str,
    pub ssh: &'a str,
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
    } = mounts;
    let folder = format!("{prefix}/{subject}");
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
path "{transit}/sign/{subject}-signing" {{
  capabilities = ["update"]
}}
path "{transit}/sign/{subject}-signing/*" {{
  capabilities = ["update"]
}}
path "{transit}/verify/{subject}-signing" {{
  capabilities = ["update"]
}}
path "{transit}/verify/{subject}-signing/*" {{
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
path "{database}/creds/*" {{
  capabilities = ["read"]
}}
path "{ssh}/creds/otp" {{
  capabilities = ["update"]
}}
path "{ssh}/sign/agent" {{
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
        assert_eq!(
            engines,
            ["database/creds/*", "ssh/creds/otp", "ssh/sign/agent"]
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

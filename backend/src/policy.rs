//! The Vault policy an agent needs: its own KV v2 folder and nothing else.

/// HCL granting `subject` full use of `{mount}/*/{prefix}/{subject}/…` in a KV v2 mount and of
/// its own two Transit keys.
pub fn agent_policy(subject: &str, mount: &str, prefix: &str, transit: &str) -> String {
    let folder = format!("{prefix}/{subject}");
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
path "{transit}/random" {{
  capabilities = ["update"]
}}
path "{transit}/random/*" {{
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
        let hcl = agent_policy("agent_a", "secret", "agents", "transit");
        let paths: Vec<&str> = hcl
            .lines()
            .filter_map(|l| l.strip_prefix("path \""))
            .map(|l| l.split('"').next().unwrap())
            .collect();
        let (kv, transit): (Vec<&str>, Vec<&str>) =
            paths.iter().partition(|p| p.starts_with("secret/"));
        assert_eq!(kv.len(), 5);
        for path in kv {
            assert!(path.ends_with("/agents/agent_a/*"), "{path}");
        }
        for path in transit {
            assert!(path.starts_with("transit/"), "{path}");
            assert!(
                path.contains("/agent_a") || path.starts_with("transit/random"),
                "{path}"
            );
        }
    }
}

//! The Vault policy an agent needs: its own KV v2 folder and nothing else.

/// HCL granting `subject` full use of `{mount}/*/{prefix}/{subject}/…` in a KV v2 mount.
pub fn agent_policy(subject: &str, mount: &str, prefix: &str) -> String {
    let folder = format!("{prefix}/{subject}");
    format!(
        r#"# Vault MCP Bridge: KV v2 access for agent "{subject}", limited to its own folder.
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
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_is_confined_to_the_agents_folder() {
        let hcl = agent_policy("agent_a", "secret", "agents");
        let paths: Vec<&str> = hcl
            .lines()
            .filter_map(|l| l.strip_prefix("path \""))
            .map(|l| l.split('"').next().unwrap())
            .collect();
        assert_eq!(paths.len(), 5);
        for path in paths {
            assert!(path.starts_with("secret/"), "{path}");
            assert!(path.ends_with("/agents/agent_a/*"), "{path}");
        }
    }
}

//! What a value must be beyond its type: each failure names the variable and says why, so
//! the service refuses to start with a message an operator can act on.

use super::{Config, ConfigError, split_list};
use vault_mcp_filter::scopes;

impl Config {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        match (
            &self.vault_token,
            &self.vault_role_id,
            &self.vault_secret_id,
        ) {
            (Some(_), None, None) | (None, Some(_), Some(_)) => {}
            _ => {
                return Err(ConfigError::Invalid {
                    name: "VAULT_TOKEN",
                    reason: "give VAULT_TOKEN, or VAULT_ROLE_ID with VAULT_SECRET_ID".into(),
                });
            }
        }
        if let Some(address) = &self.console_addr
            && address.parse::<std::net::SocketAddr>().is_err()
        {
            return Err(ConfigError::Invalid {
                name: "CONSOLE_ADDR",
                reason: "must be an IP address and port, e.g. 127.0.0.1:8091".into(),
            });
        }
        if self.console_allowed_hosts.is_some() && self.console_allowed_hosts().is_empty() {
            // An empty list would refuse every request; there is no "any host".
            return Err(ConfigError::Invalid {
                name: "CONSOLE_ALLOWED_HOSTS",
                reason: "must name at least one host".into(),
            });
        }
        if let Some(bad) = split_list(self.console_trusted_proxies.as_deref())
            .into_iter()
            .find(|ip| ip.parse::<std::net::IpAddr>().is_err())
        {
            return Err(ConfigError::Invalid {
                name: "CONSOLE_TRUSTED_PROXIES",
                reason: format!("{bad:?} is not an IP address"),
            });
        }
        if let Some(url) = &self.console_envoy_admin_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError::Invalid {
                name: "CONSOLE_ENVOY_ADMIN_URL",
                reason: "must be an http(s) URL, e.g. http://127.0.0.1:9901".into(),
            });
        }
        if !(1..=1440).contains(&self.console_session_minutes) {
            return Err(ConfigError::Invalid {
                name: "CONSOLE_SESSION_MINUTES",
                reason: "must be between 1 and 1440".into(),
            });
        }
        if self.agent_lease_token_ttl < self.agent_token_ttl {
            return Err(ConfigError::Invalid {
                name: "AGENT_LEASE_TOKEN_TTL",
                reason: "must be at least AGENT_TOKEN_TTL".into(),
            });
        }
        if self.agent_token_ttl < 60 {
            return Err(ConfigError::Invalid {
                name: "AGENT_TOKEN_TTL",
                reason: "must be at least 60 seconds".into(),
            });
        }
        // Both name Vault objects: a role, and the agents' policy (and its `-roles` companion).
        let vault_name = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        };
        if !vault_name(&self.agent_token_role) {
            return Err(ConfigError::Invalid {
                name: "AGENT_TOKEN_ROLE",
                reason: "must be lower-case letters, digits, '-' and '_'".into(),
            });
        }
        if !vault_name(&self.agent_policy) {
            return Err(ConfigError::Invalid {
                name: "AGENT_POLICY",
                reason: "must be lower-case letters, digits, '-' and '_'".into(),
            });
        }
        if !matches!(self.mcp_tool_names.as_str(), "dotted" | "underscore") {
            return Err(ConfigError::Invalid {
                name: "MCP_TOOL_NAMES",
                reason: "must be dotted or underscore".into(),
            });
        }
        if let Some(unknown) = self
            .confirm_tools()
            .into_iter()
            // The tools' one table (shared with the edge), by their dotted names.
            .find(|tool| {
                !vault_mcp_filter::scopes::TOOL_SCOPES
                    .iter()
                    .any(|(name, _)| name == tool)
            })
        {
            return Err(ConfigError::Invalid {
                name: "MCP_CONFIRM_TOOLS",
                reason: format!("{unknown:?} is not a tool of the bridge"),
            });
        }
        if !(1..=60).contains(&self.mcp_subscription_poll_seconds) {
            return Err(ConfigError::Invalid {
                name: "MCP_SUBSCRIPTION_POLL_SECONDS",
                reason: "must be 1 to 60 seconds".into(),
            });
        }
        if !(1..=1000).contains(&self.mcp_subscriptions_per_agent) {
            return Err(ConfigError::Invalid {
                name: "MCP_SUBSCRIPTIONS_PER_AGENT",
                reason: "must be 1 to 1000".into(),
            });
        }
        if !(1..=3600).contains(&self.mcp_confirm_timeout_seconds) {
            return Err(ConfigError::Invalid {
                name: "MCP_CONFIRM_TIMEOUT_SECONDS",
                reason: "must be 1 to 3600 seconds".into(),
            });
        }
        for origin in self.allowed_origins() {
            if !(origin.starts_with("http://") || origin.starts_with("https://")) {
                return Err(ConfigError::Invalid {
                    name: "CORS_ALLOW_ORIGINS",
                    reason: format!("{origin:?} needs a scheme (http:// or https://)"),
                });
            }
        }
        if self.allowed_hosts().is_some_and(|hosts| hosts.is_empty()) {
            // An empty list would switch the Host check off entirely.
            return Err(ConfigError::Invalid {
                name: "ALLOWED_HOSTS",
                reason: "must name at least one host".into(),
            });
        }
        let url = url::Url::parse(&self.vault_addr).map_err(|e| ConfigError::Invalid {
            name: "VAULT_ADDR",
            reason: e.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ConfigError::Invalid {
                name: "VAULT_ADDR",
                reason: "must be an http:// or https:// URL".into(),
            });
        }
        // At least a kilobyte: a smaller cap would rotate on every line.
        if !(self.log_max_mb >= 0.001 && self.log_max_mb.is_finite()) {
            return Err(ConfigError::Invalid {
                name: "LOG_MAX_MB",
                reason: "must be a number of megabytes, at least 0.001".into(),
            });
        }
        if let Some(scopes) = self.sign_up_scopes()
            && let Some(bad) = scopes
                .iter()
                .find(|s| s.as_str() == scopes::ADMIN || !scopes::KNOWN.contains(&s.as_str()))
        {
            return Err(ConfigError::Invalid {
                name: "USERS_SIGN_UP_SCOPES",
                reason: format!(
                    "{bad:?}: a comma-separated list of read, write, list, delete (never admin: anyone who can sign in would get it)"
                ),
            });
        }
        for (name, list) in [
            ("DATABASE_ROLES", &self.database_roles),
            ("SSH_OTP_ROLES", &self.ssh_otp_roles),
            ("SSH_SIGN_ROLES", &self.ssh_sign_roles),
            ("PKI_ROLES", &self.pki_roles),
        ] {
            let roles = split_list(Some(list));
            let is_role = |r: &String| {
                r.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            };
            if roles.is_empty() || !roles.iter().all(is_role) {
                return Err(ConfigError::Invalid {
                    name,
                    reason: "a comma-separated list of role names (letters, digits, - and _)"
                        .into(),
                });
            }
        }
        for (name, value) in [
            ("KV_MOUNT", &self.kv_mount),
            ("TRANSIT_MOUNT", &self.transit_mount),
            ("TRANSIT_NAMED_MOUNT", &self.transit_named_mount),
            ("DATABASE_MOUNT", &self.database_mount),
            ("SSH_MOUNT", &self.ssh_mount),
            ("PKI_MOUNT", &self.pki_mount),
            ("DEFAULT_PREFIX", &self.default_prefix),
        ] {
            if value.is_empty()
                || value
                    .split('/')
                    .any(|s| s.is_empty() || s == "." || s == "..")
            {
                return Err(ConfigError::Invalid {
                    name,
                    reason: "must be a relative path with no empty, '.' or '..' segment".into(),
                });
            }
        }
        Ok(())
    }
}

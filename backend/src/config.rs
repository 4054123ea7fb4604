//! Service configuration, with the seed's variable names. Precedence: environment variables,
//! then a file (`APP_CONFIG_FILE`, or `config.toml` / `config.json` / `config.yaml` in the
//! working directory), then defaults. Keys in files are the variable names in lower case.
//! One struct lists every variable with its doc and default, which operators read as one
//! table; the checks of their values are in `config/checks.rs`, the defaults in
//! `config/defaults.rs`, the tests in `config/tests.rs`.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Json, Toml, Yaml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use vault_mcp_filter::assertion::AssertionKey;

/// Variables of earlier versions whose meaning changed: set, they stop the start with a reason.
const RETIRED: &[(&str, &str)] = &[
    ("CHILD_TOKEN_ENABLED", CHILD_TOKENS_GONE),
    ("CHILD_TOKEN_POLICY_PREFIX", CHILD_TOKENS_GONE),
    ("CHILD_TOKEN_TTL", CHILD_TOKENS_GONE),
    (
        "AGENT_POLICY_PREFIX",
        "is gone: every agent's token carries the agents' policies, AGENT_POLICY (templated) and \
         its `-roles` companion, which the operator writes (`vault-mcp-bridge gen-policy \
         --agents` and `--agent-roles`); unset it",
    ),
];
const CHILD_TOKENS_GONE: &str = "is gone: every agent now acts in Vault with a token of its own \
                                 (AGENT_TOKEN_ROLE, AGENT_POLICY, AGENT_TOKEN_TTL); unset it";

/// Every variable the service reads. Names are matched case-insensitively by figment.
const VARIABLES: &[&str] = &[
    "VAULT_ADDR",
    "VAULT_TOKEN",
    "VAULT_ROLE_ID",
    "VAULT_SECRET_ID",
    "VAULT_APPROLE_MOUNT",
    "VAULT_NAMESPACE",
    "VAULT_TIMEOUT_SECONDS",
    "KV_MOUNT",
    "TRANSIT_MOUNT",
    "TRANSIT_NAMED_MOUNT",
    "DATABASE_ROLES",
    "SSH_OTP_ROLES",
    "SSH_SIGN_ROLES",
    "DATABASE_MOUNT",
    "SSH_MOUNT",
    "PKI_ROLES",
    "PKI_MOUNT",
    "DEFAULT_PREFIX",
    "HOST",
    "PORT",
    "HTTP_WORKERS",
    "LOG_LEVEL",
    "AGENT_ASSERTION_KEY",
    "AGENT_ASSERTION_MAX_AGE",
    "LOG_DIR",
    "LOG_MAX_MB",
    "LOG_KEEP",
    "LOG_REQUESTS",
    "EXPOSE_REST_ROUTES",
    "CORS_ALLOW_ORIGINS",
    "MCP_TOOL_NAMES",
    "MCP_CONFIRM_TOOLS",
    "MCP_CONFIRM_TIMEOUT_SECONDS",
    "MCP_SUBSCRIPTION_POLL_SECONDS",
    "MCP_SUBSCRIPTIONS_PER_AGENT",
    "ALLOWED_HOSTS",
    "AGENT_TOKEN_ROLE",
    "AGENT_POLICY",
    "AGENT_TOKEN_TTL",
    "AGENT_LEASE_TOKEN_TTL",
    "STANDALONE",
    "REGISTRY_REFRESH_SECONDS",
    "USERS_SIGN_UP_SCOPES",
    "CONSOLE_ADDR",
    "CONSOLE_SESSION_MINUTES",
    "CONSOLE_ENVOY_ADMIN_URL",
    "CONSOLE_RATELIMIT_URL",
    "CONSOLE_VAULT_AUDIT_LOG",
    "CONSOLE_OAUTH_CLIENT_ID",
    "CONSOLE_OAUTH_CA_FILE",
    "CONSOLE_ALLOWED_HOSTS",
    "CONSOLE_TRUSTED_PROXIES",
    "EDGE_POLICY_FILE",
    "API_KEYS_JSON",
    "JWT_HS256_SECRET",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "JWT_VALIDATE_ISSUER",
    "JWT_VALIDATE_AUDIENCE",
    "JWT_LEEWAY_SECONDS",
    "JWT_JWKS_JSON",
    "MTLS_IDENTITIES_JSON",
    "MTLS_CN_PREFIX",
    "RATE_LIMIT_REQUESTS",
    "RATE_LIMIT_WINDOW_SECONDS",
];

/// Files looked for in the working directory when `APP_CONFIG_FILE` is not set.
const AUTO_FILES: &[&str] = &["config.toml", "config.json", "config.yaml", "config.yml"];

/// Serialised for `check-config`, secrets as `"set"` (or null when unset).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address of the Vault or OpenBao server.
    #[serde(default = "defaults::vault_addr")]
    pub vault_addr: String,
    /// Token for the service's own Vault calls; or log in with an AppRole instead.
    #[serde(default, serialize_with = "redacted")]
    pub vault_token: Option<SecretString>,
    /// AppRole login (with `VAULT_SECRET_ID`): the token is renewed and replaced as needed.
    #[serde(default)]
    pub vault_role_id: Option<String>,
    #[serde(default, serialize_with = "redacted")]
    pub vault_secret_id: Option<SecretString>,
    #[serde(default = "defaults::approle_mount")]
    pub vault_approle_mount: String,
    /// Vault Enterprise / OpenBao namespace, sent with every call when set.
    #[serde(default)]
    pub vault_namespace: Option<String>,
    /// How long one Vault call may take before it is answered 504.
    #[serde(default = "defaults::vault_timeout")]
    pub vault_timeout_seconds: u64,
    /// Mount of the KV v2 engine.
    #[serde(default = "defaults::kv_mount")]
    pub kv_mount: String,
    /// Mount of the Transit engine (each agent's encryption and signing keys).
    #[serde(default = "defaults::transit_mount")]
    pub transit_mount: String,
    /// Mount of the Transit engine holding the keys agents name themselves (`key` in a
    /// request), each under a name only its agent can reach (`vault::transit::named_key`).
    #[serde(default = "defaults::transit_named_mount")]
    pub transit_named_mount: String,
    /// Database roles agents may ask credentials of (comma-separated; the first is the default).
    #[serde(default = "defaults::database_roles")]
    pub database_roles: String,
    /// SSH roles of the OTP key type agents may use (the first is the default).
    #[serde(default = "defaults::ssh_otp_roles")]
    pub ssh_otp_roles: String,
    /// SSH roles of the CA key type agents may have keys signed by (the first is the default).
    #[serde(default = "defaults::ssh_sign_roles")]
    pub ssh_sign_roles: String,
    /// Mount of the database secrets engine.
    #[serde(default = "defaults::database_mount")]
    pub database_mount: String,
    /// Mount of the SSH secrets engine (roles `otp` and `agent`).
    #[serde(default = "defaults::ssh_mount")]
    pub ssh_mount: String,
    /// PKI roles that sign agents' client certificates (the first is the default).
    #[serde(default = "defaults::pki_roles")]
    pub pki_roles: String,
    /// Mount of the PKI secrets engine (the CA that issues agents' client certificates).
    #[serde(default = "defaults::pki_mount")]
    pub pki_mount: String,
    /// Folder under the mount that holds one sub-folder per agent.
    #[serde(default = "defaults::default_prefix")]
    pub default_prefix: String,
    #[serde(default = "defaults::host")]
    pub host: String,
    #[serde(default = "defaults::port")]
    pub port: u16,
    /// Threads serving HTTP, each with its own runtime, which also sends its requests' Vault
    /// calls (`vault/exec.rs`); unset: actix's default, one per CPU the process may use.
    #[serde(default)]
    pub http_workers: Option<std::num::NonZeroUsize>,
    /// `tracing` filter directive, e.g. `info` or `vault_mcp_bridge=debug`.
    #[serde(default = "defaults::log_level")]
    pub log_level: String,
    /// Key shared with the edge filter: requests must carry its `x-agent-assertion`.
    /// Required unless `STANDALONE`.
    #[serde(default, serialize_with = "redacted")]
    pub agent_assertion_key: Option<SecretString>,
    /// How old (or how far in the future) an assertion may be, in seconds.
    #[serde(default = "defaults::assertion_max_age")]
    pub agent_assertion_max_age: u64,
    /// When set, JSON logs go to `requests.log`, `responses.log` and `server.log` here
    /// (metadata only); otherwise everything goes to stderr.
    #[serde(default)]
    pub log_dir: Option<PathBuf>,
    /// Size at which each log file under `LOG_DIR` is rotated, in MB (fractions allowed).
    #[serde(default = "defaults::log_max_mb")]
    pub log_max_mb: f64,
    /// Rotated files kept per log; older ones are deleted. Each log takes at most
    /// `(LOG_KEEP + 1) × LOG_MAX_MB` (plus one line).
    #[serde(default = "defaults::log_keep")]
    pub log_keep: usize,
    /// Write `requests.log` and `responses.log` (one line per request each).
    #[serde(default = "defaults::yes")]
    pub log_requests: bool,
    /// `false` leaves only health, metrics and MCP.
    #[serde(default = "defaults::yes")]
    pub expose_rest_routes: bool,
    /// `dotted` (`kv.read`, the default) or `underscore` (`kv_read`, for clients that refuse
    /// dots in tool names).
    #[serde(default = "defaults::tool_names")]
    pub mcp_tool_names: String,
    /// MCP tools that run only once the person at the client confirms (comma-separated tool
    /// names; empty for none): asked with elicitation, refused when the client cannot ask.
    #[serde(default = "defaults::confirm_tools")]
    pub mcp_confirm_tools: String,
    /// How long a confirmation waits for the person's answer.
    #[serde(default = "defaults::confirm_timeout")]
    pub mcp_confirm_timeout_seconds: u64,
    /// How often subscribed resources are compared with Vault: a change is reported within
    /// this (plus one Vault read).
    #[serde(default = "defaults::subscription_poll")]
    pub mcp_subscription_poll_seconds: u64,
    /// Live subscribed URIs per agent in this process, across its sessions.
    #[serde(default = "defaults::subscriptions_per_agent")]
    pub mcp_subscriptions_per_agent: usize,
    /// Browser origins allowed to call MCP (comma-separated, with scheme, e.g. the hosted
    /// Inspector's); other `Origin`s get 403. Requests without `Origin` (non-browser) pass.
    #[serde(default)]
    pub cors_allow_origins: Option<String>,
    /// `Host` values MCP accepts (comma-separated, `host` or `host:port`): a DNS-rebinding
    /// defence. Default: loopback only; set it to the names the bridge is reached under.
    #[serde(default)]
    pub allowed_hosts: Option<String>,
    /// The Vault token role the service mints each agent's own token with (the agent's entity
    /// alias `{role}:{subject}`, the agents' two policies alone): see `vault::tokens`.
    #[serde(default = "defaults::agent_token_role")]
    pub agent_token_role: String,
    /// The Vault policy every agent's token carries, templated on the agent's identity entity
    /// (`vault::policy::agent_policy`), with `{AGENT_POLICY}-roles` beside it; both written by
    /// the operator, never by the service.
    #[serde(default = "defaults::agent_policy")]
    pub agent_policy: String,
    /// An agent token's lifetime in seconds; the service uses it for the first half of it.
    #[serde(default = "defaults::agent_token_ttl")]
    pub agent_token_ttl: u64,
    /// The lifetime in seconds of the token each database lease is issued with: Vault ends a
    /// lease with its token, so this caps every lease (set it to the database roles' max TTL).
    #[serde(default = "defaults::agent_lease_token_ttl")]
    pub agent_lease_token_ttl: u64,
    /// Run without Envoy: authenticate callers here, with the edge's own decision code.
    #[serde(default)]
    pub standalone: bool,
    /// Standalone: seconds between reads of the agent registry from Vault (0: follow none).
    #[serde(default = "defaults::registry_refresh_seconds")]
    pub registry_refresh_seconds: u64,
    /// People signing in through the OAuth authorization server for the first time are
    /// registered with these scopes (comma-separated; `admin` is refused); unset: a person the
    /// registry does not know is refused (403 `unknown_user`).
    #[serde(default)]
    pub users_sign_up_scopes: Option<String>,
    /// The operator console's address (`host:port`, e.g. `127.0.0.1:8091`); off when unset.
    #[serde(default)]
    pub console_addr: Option<String>,
    /// How long a console sign-in lasts.
    #[serde(default = "defaults::console_session_minutes")]
    pub console_session_minutes: u64,
    /// An Envoy admin address (`http://127.0.0.1:9901`) whose filter counters the console's
    /// Health page shows (JWKS and registry fetches, refusals by code); unset: not shown.
    #[serde(default)]
    pub console_envoy_admin_url: Option<String>,
    /// The rate-limit service the edge counts with (`http://127.0.0.1:8093`): the console's
    /// Agents page shows what is left of each budget; unset: the budgets without it.
    #[serde(default)]
    pub console_ratelimit_url: Option<String>,
    /// Vault's file audit log, where the console's Activity page finds a request's entries
    /// by the `X-Request-Id` the bridge sends (an audited header); unset: no links.
    #[serde(default)]
    pub console_vault_audit_log: Option<PathBuf>,
    /// The console signs operators in through the edge policy's OAuth authorization server
    /// (`oauth`) too: its client id there; unset, the console registers itself (RFC 7591).
    #[serde(default)]
    pub console_oauth_client_id: Option<String>,
    /// A PEM file of the CA the authorization server's certificate comes from, when it is not
    /// one the system trusts (the dev stack's `--edge`).
    #[serde(default)]
    pub console_oauth_ca_file: Option<PathBuf>,
    /// `Host` (and `Origin`) values the console answers (comma-separated, `host` for any port
    /// or `host:port`): a DNS-rebinding defence. Default: `CONSOLE_ADDR` itself and
    /// `localhost`, `127.0.0.1`, `[::1]` on its port.
    #[serde(default)]
    pub console_allowed_hosts: Option<String>,
    /// Addresses of the proxies in front of the console whose `X-Forwarded-Host` and
    /// `X-Forwarded-Proto` are believed (comma-separated IPs); from anyone else they are ignored.
    #[serde(default)]
    pub console_trusted_proxies: Option<String>,
    /// Standalone and the console's sign-in: the filter's JSON configuration, used as is
    /// (secrets named by env variable). When unset, the policy is built from the variables below.
    #[serde(default)]
    pub edge_policy_file: Option<PathBuf>,
    /// Standalone: `{"<api key>": {"subject": "…", "scopes": ["read", …]}}` (hashed at load).
    #[serde(default, serialize_with = "redacted")]
    pub api_keys_json: Option<SecretString>,
    #[serde(default, serialize_with = "redacted")]
    pub jwt_hs256_secret: Option<SecretString>,
    #[serde(default)]
    pub jwt_issuer: Option<String>,
    #[serde(default)]
    pub jwt_audience: Option<String>,
    #[serde(default = "defaults::yes")]
    pub jwt_validate_issuer: bool,
    #[serde(default = "defaults::yes")]
    pub jwt_validate_audience: bool,
    #[serde(default = "defaults::leeway")]
    pub jwt_leeway_seconds: u64,
    /// Standalone: an inline JWKS document (RS256 / ES256 keys).
    #[serde(default, serialize_with = "redacted_text")]
    pub jwt_jwks_json: Option<String>,
    /// Standalone: client-certificate identities, `{"subject": ["scope", …]}`, read from the
    /// `x-ssl-client-verify` / `x-ssl-client-s-dn` headers of a TLS proxy in front.
    #[serde(default)]
    pub mtls_identities_json: Option<String>,
    /// What client-certificate CNs start with before the agent's name: read in standalone
    /// mode, and put before the subject in the CN of the certificates `pki.issue` makes (the
    /// edge's `mtls.cn_prefix` and the PKI role's `allowed_domains` say the same).
    #[serde(default)]
    pub mtls_cn_prefix: String,
    #[serde(default = "defaults::rate")]
    pub rate_limit_requests: u32,
    #[serde(default = "defaults::rate")]
    pub rate_limit_window_seconds: u32,
}

/// Roles agents may use; the first of each list is the one used when a request names none.
#[derive(Debug, Clone, Default)]
pub struct Roles {
    pub database: Vec<String>,
    pub ssh_otp: Vec<String>,
    pub ssh_sign: Vec<String>,
    pub pki: Vec<String>,
}

fn split_list(text: Option<&str>) -> Vec<String> {
    text.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("configuration: APP_CONFIG_FILE {0} does not exist")]
    MissingFile(PathBuf),
    #[error("configuration: {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

impl Config {
    /// Environment over file over defaults; `dir` is where `config.*` files are looked for.
    pub fn load(dir: &Path) -> Result<Self, ConfigError> {
        let file = match std::env::var_os("APP_CONFIG_FILE") {
            Some(path) => {
                let path = PathBuf::from(path);
                if !path.is_file() {
                    return Err(ConfigError::MissingFile(path));
                }
                Some(path)
            }
            None => AUTO_FILES.iter().map(|f| dir.join(f)).find(|p| p.is_file()),
        };
        let mut figment = Figment::new();
        if let Some(file) = &file {
            figment = match file.extension().and_then(|e| e.to_str()) {
                Some("json") => figment.merge(Json::file(file)),
                Some("yaml" | "yml") => figment.merge(Yaml::file(file)),
                _ => figment.merge(Toml::file(file)),
            };
        }
        if let Some((name, reason)) = RETIRED
            .iter()
            .find(|(name, _)| std::env::var_os(name).is_some())
        {
            return Err(ConfigError::Invalid {
                name,
                reason: (*reason).into(),
            });
        }
        Self::from_figment(figment.merge(Env::raw().only(VARIABLES)))
    }

    pub fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let config: Config = figment.extract().map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    /// `MCP_CONFIRM_TOOLS` as a list.
    pub fn confirm_tools(&self) -> Vec<String> {
        split_list(Some(&self.mcp_confirm_tools))
    }

    /// `CORS_ALLOW_ORIGINS` as a list (empty when unset).
    pub fn allowed_origins(&self) -> Vec<String> {
        split_list(self.cors_allow_origins.as_deref())
    }

    /// The roles agents may use, engine by engine (until each agent's own list lives in the
    /// agent registry).
    pub fn roles(&self) -> Roles {
        Roles {
            database: split_list(Some(&self.database_roles)),
            ssh_otp: split_list(Some(&self.ssh_otp_roles)),
            ssh_sign: split_list(Some(&self.ssh_sign_roles)),
            pki: split_list(Some(&self.pki_roles)),
        }
    }

    /// `USERS_SIGN_UP_SCOPES` as a list, or `None` when people do not sign up.
    pub fn sign_up_scopes(&self) -> Option<Vec<String>> {
        let scopes = split_list(self.users_sign_up_scopes.as_deref());
        (!scopes.is_empty()).then_some(scopes)
    }

    /// `ALLOWED_HOSTS` as a list, or `None` for the loopback default.
    pub fn allowed_hosts(&self) -> Option<Vec<String>> {
        self.allowed_hosts.as_deref().map(|h| split_list(Some(h)))
    }

    /// The host names the console answers under: `CONSOLE_ALLOWED_HOSTS`, or `CONSOLE_ADDR`
    /// and the loopback names on its port.
    pub fn console_allowed_hosts(&self) -> Vec<String> {
        if self.console_allowed_hosts.is_some() {
            return split_list(self.console_allowed_hosts.as_deref());
        }
        let Some(address) = self
            .console_addr
            .as_deref()
            .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
        else {
            return Vec::new();
        };
        let port = address.port();
        let mut hosts = vec![address.to_string()];
        for name in ["localhost", "127.0.0.1", "[::1]"] {
            let host = format!("{name}:{port}");
            if !hosts.contains(&host) {
                hosts.push(host);
            }
        }
        hosts
    }

    /// `CONSOLE_TRUSTED_PROXIES` as addresses (checked at start).
    pub fn console_trusted_proxies(&self) -> Vec<std::net::IpAddr> {
        split_list(self.console_trusted_proxies.as_deref())
            .iter()
            .filter_map(|ip| ip.parse().ok())
            .collect()
    }

    /// The key of the edge's assertions (required behind Envoy).
    pub fn assertion_key(&self) -> Result<AssertionKey, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid {
            name: "AGENT_ASSERTION_KEY",
            reason,
        };
        let key = self
            .agent_assertion_key
            .as_ref()
            .ok_or_else(|| invalid("required unless STANDALONE=true".into()))?;
        AssertionKey::new(key.expose_secret().as_bytes()).map_err(|e| invalid(e.to_string()))
    }

    /// The configuration as `check-config` prints it: every field, secrets only said to be set,
    /// and the lists the service derives from a field as it will use them (the console's
    /// allowed hosts default to its own address, for one).
    pub fn summary(&self) -> String {
        let mut summary = serde_json::to_value(self).expect("plain JSON");
        for (name, effective) in [
            ("mcp_confirm_tools", serde_json::json!(self.confirm_tools())),
            (
                "cors_allow_origins",
                serde_json::json!(self.allowed_origins()),
            ),
            ("allowed_hosts", serde_json::json!(self.allowed_hosts())),
            (
                "console_allowed_hosts",
                serde_json::json!(self.console_allowed_hosts()),
            ),
        ] {
            summary[name] = effective;
        }
        serde_json::to_string_pretty(&summary).expect("plain JSON")
    }

    pub fn bind_address(&self) -> (String, u16) {
        (self.host.clone(), self.port)
    }
}

mod checks;
mod defaults;
mod redact;

use redact::{redacted, redacted_text};
#[cfg(test)]
pub(crate) mod tests;

//! Rate limits: per subject, per subject override, and per MCP tool, exact across workers.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{ConfigError, defaults};
use crate::global::{CREDENTIAL_TOOLS, DEFAULT_DOMAIN, GlobalPolicy, OnFailure};
use crate::ratelimit::{Limit, Limiter};
use crate::scopes::tool_name;
/// Prefix of the shared-data keys of the rate limiter's slots.
pub const RATE_LIMIT_SLOT_PREFIX: &str = "vault_mcp_filter.rl.";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    #[serde(default = "defaults::yes")]
    pub enabled: bool,
    /// `RATE_LIMIT_REQUESTS` per `RATE_LIMIT_WINDOW_SECONDS`, per subject.
    #[serde(default = "defaults::rate_requests")]
    pub requests: u32,
    #[serde(default = "defaults::rate_window")]
    pub per_seconds: u32,
    /// Per-subject overrides of the default.
    #[serde(default)]
    pub subjects: BTreeMap<String, Limit>,
    /// Extra per-subject buckets for individual MCP tools.
    #[serde(default)]
    pub tools: BTreeMap<String, Limit>,
    /// Size of the shared slot table: the most buckets active at once.
    #[serde(default = "defaults::rate_slots")]
    pub slots: u32,
    /// Limits counted across every Envoy by a rate-limit service (see `crate::global`); the
    /// local buckets stay as the first line.
    #[serde(default)]
    pub global: Option<GlobalConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalConfig {
    /// Envoy's cluster of the service (HTTP/2, gRPC).
    pub cluster: String,
    #[serde(default = "default_domain")]
    pub domain: String,
    /// How long a request waits for the answer before `on_failure` applies.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u32,
    #[serde(default = "default_on_failure")]
    pub on_failure: OnFailure,
    /// Refused when the service cannot answer, whatever `on_failure` says; by default the tools
    /// that mint or extend credentials.
    #[serde(default = "default_closed_tools")]
    pub closed_tools: Vec<String>,
}

fn default_domain() -> String {
    DEFAULT_DOMAIN.into()
}
fn default_timeout_ms() -> u32 {
    100
}
fn default_on_failure() -> OnFailure {
    OnFailure::Local
}
fn default_closed_tools() -> Vec<String> {
    CREDENTIAL_TOOLS.iter().map(|t| t.to_string()).collect()
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        serde_json::from_str("{}").expect("defaults")
    }
}

#[derive(Debug, Clone)]
pub struct RateLimitPolicy {
    pub default: Limit,
    pub subjects: BTreeMap<String, Limit>,
    pub tools: BTreeMap<String, Limit>,
    pub limiter: Limiter,
    pub global: Option<GlobalPolicy>,
}

pub(super) fn policy(rate: RateLimitConfig) -> Result<Option<RateLimitPolicy>, ConfigError> {
    if !rate.enabled {
        if rate.global.is_some() {
            return Err(ConfigError::Invalid(
                "rate_limit: global needs the limits enabled (the local buckets come first)".into(),
            ));
        }
        return Ok(None);
    }
    let invalid = |what: String| Err(ConfigError::Invalid(format!("rate_limit: {what}")));
    // Tools are kept under their one name, as requests' tools are looked up.
    let mut tools = BTreeMap::new();
    for (tool, limit) in rate.tools {
        let Some(name) = tool_name(&tool) else {
            return invalid(format!("tools: unknown tool '{tool}'"));
        };
        tools.insert(name.to_string(), limit);
    }
    let default = Limit {
        requests: rate.requests,
        per_seconds: rate.per_seconds,
    };
    let limits = std::iter::once(&default)
        .chain(rate.subjects.values())
        .chain(tools.values());
    if limits
        .into_iter()
        .any(|l| l.requests == 0 || l.per_seconds == 0)
    {
        return invalid("requests and per_seconds must be positive".into());
    }
    let global = match rate.global {
        None => None,
        Some(global) => {
            if global.cluster.is_empty() || global.domain.is_empty() {
                return invalid("global: cluster and domain must not be empty".into());
            }
            if global.timeout_ms == 0 {
                return invalid("global: timeout_ms must be positive".into());
            }
            let mut closed_tools = Vec::new();
            for tool in &global.closed_tools {
                let Some(name) = tool_name(tool) else {
                    return invalid(format!("global.closed_tools: unknown tool '{tool}'"));
                };
                closed_tools.push(name.to_string());
            }
            Some(GlobalPolicy {
                cluster: global.cluster,
                domain: global.domain,
                timeout_ms: global.timeout_ms,
                on_failure: global.on_failure,
                closed_tools,
            })
        }
    };
    Ok(Some(RateLimitPolicy {
        default,
        subjects: rate.subjects,
        tools,
        limiter: Limiter::new(RATE_LIMIT_SLOT_PREFIX, rate.slots),
        global,
    }))
}

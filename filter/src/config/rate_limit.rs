//! Rate limits: per subject, per subject override, and per MCP tool, exact across workers.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{ConfigError, defaults};
use crate::ratelimit::{Limit, Limiter};
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
}

pub(super) fn policy(rate: RateLimitConfig) -> Result<Option<RateLimitPolicy>, ConfigError> {
    let rate_limit = rate.enabled.then(|| RateLimitPolicy {
        default: Limit {
            requests: rate.requests,
            per_seconds: rate.per_seconds,
        },
        subjects: rate.subjects,
        tools: rate.tools,
        limiter: Limiter::new(RATE_LIMIT_SLOT_PREFIX, rate.slots),
    });
    if let Some(rate) = &rate_limit {
        let limits = std::iter::once(&rate.default)
            .chain(rate.subjects.values())
            .chain(rate.tools.values());
        if limits
            .into_iter()
            .any(|l| l.requests == 0 || l.per_seconds == 0)
        {
            return Err(ConfigError::Invalid(
                "rate_limit: requests and per_seconds must be positive".into(),
            ));
        }
    }
    Ok(rate_limit)
}

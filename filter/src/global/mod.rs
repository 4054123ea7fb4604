//! Limits held across every Envoy: one question per admitted request to a rate-limit service
//! speaking Envoy's `RateLimitService` protocol (ours, `vault-mcp-ratelimit` on Redis, or
//! Envoy's reference service), asked after the local buckets admitted the request.
//!
//! Each descriptor carries its limit in the protocol's `limit` override, so the registry stays
//! the one place limits are written and the service needs no configuration of its own.
//! Nothing here calls the host: it builds the question's bytes and reads the answer's.

use prost::Message;

use crate::ratelimit::Limit;

pub mod wire;

use wire::Unit;

/// The keys of the descriptors' entries: `[agent]`, `[agent, tool]`, `[agent, budget]`.
pub const AGENT: &str = "agent";
pub const TOOL: &str = "tool";
pub const BUDGET: &str = "budget";

/// The domain the filter counts in unless configured otherwise.
pub const DEFAULT_DOMAIN: &str = "vault_mcp";

/// The gRPC service and method the host calls.
pub const SERVICE: &str = "envoy.service.ratelimit.v3.RateLimitService";
pub const METHOD: &str = "ShouldRateLimit";

/// What the filter does when the service cannot answer (unreachable, late, or an answer it
/// cannot read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// The local buckets (per Envoy) decide, except for the `closed_tools`.
    Local,
    /// Every request is refused with 503 `rate_limiter_unavailable`.
    Deny,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalPolicy {
    /// Envoy's cluster of the rate-limit service (HTTP/2).
    pub cluster: String,
    pub domain: String,
    pub timeout_ms: u32,
    pub on_failure: OnFailure,
    /// Tools refused when the service cannot answer, whatever `on_failure` says.
    pub closed_tools: Vec<String>,
}

/// Tools that mint or extend credentials: without the global count an agent could mint N times
/// its limit across N Envoys, so by default they are refused when the count is unavailable.
pub const CREDENTIAL_TOOLS: &[&str] = &[
    "db.issue_creds",
    "db.renew",
    "ssh.otp",
    "ssh.sign",
    "pki.issue",
];

/// One request's question: its descriptors (and what each counts), and whether it must be
/// refused if unanswered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    descriptors: Vec<wire::RateLimitDescriptor>,
    kinds: Vec<Kind>,
    fail_closed: bool,
}

/// What a descriptor counts: a rate (`rate_limited` when over) or a budget (`budget_exhausted`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Rate,
    Budget,
}

/// One tool call's limits: the tool, its rate limit and its budget, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolLimits<'t> {
    pub tool: &'t str,
    pub rate: Option<Limit>,
    pub budget: Option<Limit>,
}

/// Whether a window is one of the protocol's units (a second, minute, hour or day): then a
/// limit over it is counted exactly across Envoys. Budgets must have one.
pub fn is_unit_window(per_seconds: u32) -> bool {
    Unit::ALL.iter().any(|unit| unit.seconds() == per_seconds)
}

/// A limit over any window, in the protocol's units: exact when the window is one of them.
/// Otherwise the same rate over the next larger unit (3 per 10 s counts as 18 per minute,
/// which may come in one burst), and a window longer than a day as at least one a day: across
/// Envoys only approximately the rate, while each Envoy's local bucket keeps the window as
/// written. Budgets take exact units only (`is_unit_window`).
pub fn in_units(limit: Limit) -> (u32, Unit) {
    let window = limit.per_seconds.max(1);
    let unit = Unit::ALL
        .into_iter()
        .find(|unit| unit.seconds() >= window)
        .unwrap_or(Unit::Day);
    let scaled = u64::from(limit.requests) * u64::from(unit.seconds()) / u64::from(window);
    (u32::try_from(scaled.max(1)).unwrap_or(u32::MAX), unit)
}

impl Question {
    /// The agent's overall limit, and for each tool it calls that tool's limit and budget if it
    /// has them (`[agent]`, `[agent, tool]`, `[agent, budget=tool]`).
    pub fn new<'t>(
        policy: &GlobalPolicy,
        subject: &str,
        overall: Limit,
        tools: impl IntoIterator<Item = ToolLimits<'t>>,
    ) -> Self {
        let agent = || wire::Entry {
            key: AGENT.into(),
            value: subject.into(),
        };
        let limited = |entries, limit| {
            let (requests_per_unit, unit) = in_units(limit);
            wire::RateLimitDescriptor {
                entries,
                limit: Some(wire::RateLimitOverride {
                    requests_per_unit,
                    unit: unit as i32,
                }),
            }
        };
        // A budget is a fleet-wide count: without the service it cannot be held, so a call
        // under one is refused rather than counted per Envoy.
        let mut fail_closed = policy.on_failure == OnFailure::Deny;
        let mut descriptors = vec![limited(vec![agent()], overall)];
        let mut kinds = vec![Kind::Rate];
        for limits in tools {
            fail_closed |= policy.closed_tools.iter().any(|t| t == limits.tool);
            for (key, kind, limit) in [
                (TOOL, Kind::Rate, limits.rate),
                (BUDGET, Kind::Budget, limits.budget),
            ] {
                if let Some(limit) = limit {
                    fail_closed |= kind == Kind::Budget;
                    let entry = wire::Entry {
                        key: key.into(),
                        value: limits.tool.into(),
                    };
                    descriptors.push(limited(vec![agent(), entry], limit));
                    kinds.push(kind);
                }
            }
        }
        Question {
            descriptors,
            kinds,
            fail_closed,
        }
    }

    pub fn fail_closed(&self) -> bool {
        self.fail_closed
    }

    /// The gRPC message (without the gRPC frame: the host adds it).
    pub fn encode(&self, policy: &GlobalPolicy) -> Vec<u8> {
        wire::RateLimitRequest {
            domain: policy.domain.clone(),
            descriptors: self.descriptors.clone(),
            hits_addend: 1,
        }
        .encode_to_vec()
    }

    /// Reads the host's gRPC result for this question: its status code and, for status 0, the
    /// message, whose statuses answer the descriptors in order.
    pub fn read_answer(&self, status: u32, body: Option<&[u8]>) -> Answer {
        match status {
            0 => {}
            4 => return Answer::Failed(Failure::Timeout),
            14 => return Answer::Failed(Failure::Unavailable),
            other => return Answer::Failed(Failure::Status(other)),
        }
        let Ok(response) = wire::RateLimitResponse::decode(body.unwrap_or_default()) else {
            return Answer::Failed(Failure::BadAnswer);
        };
        match response.overall_code {
            wire::CODE_OK => Answer::Admit,
            wire::CODE_OVER_LIMIT => {
                let over = || {
                    response
                        .statuses
                        .iter()
                        .zip(&self.kinds)
                        .filter(|(s, _)| s.code == wire::CODE_OVER_LIMIT)
                };
                // The latest reset among the limits passed: only then would a retry be admitted.
                let retry_after = over()
                    .filter_map(|(s, _)| s.duration_until_reset.as_ref())
                    .map(|d| u64::try_from(d.seconds).unwrap_or(0) + u64::from(d.nanos > 0))
                    .max()
                    .unwrap_or(1);
                let budget = over().any(|(_, kind)| *kind == Kind::Budget);
                Answer::Over {
                    retry_after: retry_after.max(1),
                    kind: if budget { Kind::Budget } else { Kind::Rate },
                }
            }
            _ => Answer::Failed(Failure::BadAnswer),
        }
    }
}

/// The service's answer as the filter reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Admit,
    /// `kind`: a budget when any budget is spent, else a rate.
    Over {
        retry_after: u64,
        kind: Kind,
    },
    Failed(Failure),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No answer within `timeout_ms` (gRPC DEADLINE_EXCEEDED).
    Timeout,
    /// The service or its cluster could not be reached, or it said it cannot count
    /// (gRPC UNAVAILABLE: Redis is down).
    Unavailable,
    /// Any other gRPC status.
    Status(u32),
    /// An answer that is not a `RateLimitResponse` the filter can act on.
    BadAnswer,
}

impl Failure {
    /// For metrics and logs.
    pub fn code(self) -> &'static str {
        match self {
            Failure::Timeout => "timeout",
            Failure::Unavailable => "unavailable",
            Failure::Status(_) => "error",
            Failure::BadAnswer => "bad_answer",
        }
    }

    pub const CODES: [&'static str; 4] = ["timeout", "unavailable", "error", "bad_answer"];
}

#[cfg(test)]
mod tests;

//! Scopes of the MCP calls, then the rate limits of an authenticated request: the local
//! buckets (per Envoy), then the question to the rate-limit service when one is configured.

use super::{Forward, Next, require};
use crate::config::Policy;
use crate::error::Reason;
use crate::global::{Kind, Question, ToolLimits};
use crate::mcp::Call;
use crate::ratelimit::{Refusal, SlotStore};
use crate::scopes;

/// Scope checks for the MCP calls, then the rate limits: the local buckets, and then the global
/// count when one is configured.
pub(super) fn admit(
    policy: &Policy,
    store: &impl SlotStore,
    now_ms: u64,
    forward: &Forward,
    calls: &[Call],
) -> Result<Next, Reason> {
    let mut tools = Vec::new();
    for call in calls {
        if let Some(tool) = &call.tool {
            let name = scopes::tool_name(tool).ok_or_else(|| Reason::UnknownTool(tool.clone()))?;
            require(
                &forward.identity,
                scopes::tool_scope(name).unwrap_or_default(),
            )?;
            tools.push(name);
        } else if let Some(scope) = scopes::method_scope(&call.method) {
            require(&forward.identity, scope)?;
            tools.extend(scopes::method_tool(&call.method));
        }
    }
    let Some(rate) = &policy.rate_limit else {
        return Ok(Next::Forward);
    };
    let subject = forward.identity.subject.as_str();
    // The registry's limit for this agent, else the edge's override, else the default; per
    // tool, the agent's own, else the edge's.
    let limits = &forward.limits;
    let limit = limits
        .overall
        .or_else(|| rate.subjects.get(subject).copied())
        .unwrap_or(rate.default);
    let tool_limits: Vec<ToolLimits> = tools
        .iter()
        .map(|&tool| ToolLimits {
            tool,
            rate: limits.tool(tool).or_else(|| rate.tools.get(tool).copied()),
            budget: limits.budget(tool),
        })
        .collect();
    // Buckets: the agent's, then per tool its rate and its budget (a budget's bucket refuses
    // with its own code). Locally they hold per Envoy; the global count holds them fleet-wide.
    let mut buckets = vec![(subject.to_string(), limit, Kind::Rate)];
    for limits in &tool_limits {
        let tool = limits.tool;
        if let Some(rate) = limits.rate {
            buckets.push((format!("{subject}\u{1f}{tool}"), rate, Kind::Rate));
        }
        if let Some(budget) = limits.budget {
            buckets.push((
                format!("{subject}\u{1f}{tool}\u{1f}budget"),
                budget,
                Kind::Budget,
            ));
        }
    }
    for (bucket, limit, kind) in buckets {
        rate.limiter
            .take(store, &bucket, limit, now_ms)
            .map_err(|refusal| match (refusal, kind) {
                (Refusal::Limited { retry_after }, Kind::Rate) => {
                    Reason::RateLimited { retry_after }
                }
                (Refusal::Limited { retry_after }, Kind::Budget) => {
                    Reason::BudgetExhausted { retry_after }
                }
                (Refusal::NoSlot, _) => Reason::RateLimitCapacity,
                (Refusal::Unavailable, _) => Reason::RateLimiterUnavailable,
            })?;
    }
    Ok(match &rate.global {
        None => Next::Forward,
        Some(global) => Next::Ask(Question::new(global, subject, limit, tool_limits)),
    })
}

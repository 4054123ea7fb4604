//! Envoy's `RateLimitService`: descriptors in, one answer per descriptor out.
//!
//! The service keeps no limits of its own: each descriptor carries its limit in the protocol's
//! `limit` override (the filter puts the registry's limits there), so the registry stays the one
//! place limits are written. A descriptor without an override is not limited (as Envoy's
//! reference service answers a descriptor no rule matches).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use envoy_types::pb::envoy::extensions::common::ratelimit::v3::RateLimitDescriptor;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::rate_limit::Unit;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::{
    Code, DescriptorStatus, RateLimit,
};
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_server::RateLimitService;
use envoy_types::pb::envoy::service::ratelimit::v3::{RateLimitRequest, RateLimitResponse};
use envoy_types::pb::google::protobuf;
use tonic::{Request, Response, Status};

use crate::counter::{Count, Counter, Counters, Window};

/// What one request may name. The filter sends one descriptor for the agent and two per tool
/// call (its rate and its budget); the console's look names every budget of an agent (at most
/// one per tool). Whatever reaches the service is bounded by these, so a caller cannot fill
/// Redis with keys of its choosing.
const MAX_DESCRIPTORS: usize = 40;
const MAX_ENTRIES: usize = 4;
const MAX_ENTRY_BYTES: usize = 256;

pub struct Service {
    counters: Counters,
    /// The domains counted here (the filter's `rate_limit.global.domain`); others are refused.
    domains: Vec<String>,
}

impl Service {
    pub fn new(counters: Counters, domains: Vec<String>) -> Self {
        Self { counters, domains }
    }
}

#[tonic::async_trait]
impl RateLimitService for Service {
    async fn should_rate_limit(
        &self,
        request: Request<RateLimitRequest>,
    ) -> Result<Response<RateLimitResponse>, Status> {
        let request = request.into_inner();
        if !self.domains.contains(&request.domain) {
            return Err(Status::invalid_argument(
                "this service does not count that domain",
            ));
        }
        let limited = counters(&request)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let wanted: Vec<Counter> = limited.iter().flatten().cloned().collect();
        let counts = self
            .counters
            .take(&request.domain, &wanted, now)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "counting failed");
                // The details stay in this log: callers learn only that it cannot count now.
                Status::unavailable("the counts are not reachable")
            })?;
        let mut counts = counts.into_iter();
        let statuses: Vec<DescriptorStatus> = limited
            .iter()
            .map(|counter| match counter {
                None => DescriptorStatus {
                    code: Code::Ok.into(),
                    ..Default::default()
                },
                Some(counter) => status(counter, counts.next().expect("one count per counter")),
            })
            .collect();
        let over = statuses
            .iter()
            .any(|s| s.code == i32::from(Code::OverLimit));
        Ok(Response::new(RateLimitResponse {
            overall_code: if over { Code::OverLimit } else { Code::Ok }.into(),
            statuses,
            ..Default::default()
        }))
    }
}

/// Each descriptor's counter, `None` for one without a limit override.
fn counters(request: &RateLimitRequest) -> Result<Vec<Option<Counter>>, Status> {
    if request.domain.is_empty() {
        return Err(Status::invalid_argument("domain is empty"));
    }
    if request.descriptors.is_empty() || request.descriptors.len() > MAX_DESCRIPTORS {
        return Err(Status::invalid_argument(format!(
            "a request names 1 to {MAX_DESCRIPTORS} descriptors"
        )));
    }
    // The request's hits apply to every descriptor without its own; 0 means 1 (the protocol).
    let hits = u64::from(request.hits_addend.max(1));
    request
        .descriptors
        .iter()
        .map(|descriptor| counter(descriptor, hits))
        .collect()
}

fn counter(descriptor: &RateLimitDescriptor, hits: u64) -> Result<Option<Counter>, Status> {
    if descriptor.entries.is_empty() {
        return Err(Status::invalid_argument("a descriptor has no entries"));
    }
    if descriptor.entries.len() > MAX_ENTRIES
        || descriptor
            .entries
            .iter()
            .any(|e| e.key.len() > MAX_ENTRY_BYTES || e.value.len() > MAX_ENTRY_BYTES)
    {
        return Err(Status::invalid_argument(format!(
            "a descriptor has at most {MAX_ENTRIES} entries of at most {MAX_ENTRY_BYTES} bytes each"
        )));
    }
    if descriptor.is_negative_hits {
        // Refilling would let one client hand another its budget back: not offered.
        return Err(Status::invalid_argument("negative hits are not supported"));
    }
    let Some(limit) = &descriptor.limit else {
        return Ok(None);
    };
    let window = match Unit::try_from(limit.unit) {
        Ok(Unit::Second) => Window::Second,
        Ok(Unit::Minute) => Window::Minute,
        Ok(Unit::Hour) => Window::Hour,
        Ok(Unit::Day) => Window::Day,
        _ => {
            return Err(Status::invalid_argument(
                "limit unit must be SECOND, MINUTE, HOUR or DAY",
            ));
        }
    };
    Ok(Some(Counter {
        entries: descriptor
            .entries
            .iter()
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect(),
        limit: limit.requests_per_unit,
        window,
        hits: descriptor.hits_addend.map_or(hits, |h| h.value),
    }))
}

fn status(counter: &Counter, count: Count) -> DescriptorStatus {
    let unit = match counter.window {
        Window::Second => Unit::Second,
        Window::Minute => Unit::Minute,
        Window::Hour => Unit::Hour,
        Window::Day => Unit::Day,
    };
    DescriptorStatus {
        code: if count.over {
            Code::OverLimit
        } else {
            Code::Ok
        }
        .into(),
        current_limit: Some(RateLimit {
            name: String::new(),
            requests_per_unit: counter.limit,
            unit: unit.into(),
        }),
        limit_remaining: count.remaining,
        duration_until_reset: Some(duration(count.resets_in)),
        quota: None,
    }
}

fn duration(d: Duration) -> protobuf::Duration {
    protobuf::Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

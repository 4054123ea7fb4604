//! What is left of each agent's budgets, asked of the rate-limit service the edge counts with:
//! the same question as the filter's (`[agent, budget=tool]`, its limit in the protocol's
//! units), with hits 0, so looking takes nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use envoy_types::pb::envoy::extensions::common::ratelimit::v3::RateLimitDescriptor;
use envoy_types::pb::envoy::extensions::common::ratelimit::v3::rate_limit_descriptor::{
    Entry, RateLimitOverride,
};
use envoy_types::pb::envoy::service::ratelimit::v3::RateLimitRequest;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_client::RateLimitServiceClient;
use envoy_types::pb::google::protobuf::UInt64Value;
use serde::Serialize;
use tonic::transport::{Channel, Endpoint};
use vault_mcp_filter::global::{AGENT, BUDGET, in_units};
use vault_mcp_filter::ratelimit::Limit;

use super::Console;
use crate::error::ApiError;
use crate::registry::Registry;

/// A look must not hold the page: past this the page shows the budgets without what is left.
const TIMEOUT: Duration = Duration::from_secs(2);

pub struct BudgetCounts {
    service: Option<RateLimitServiceClient<Channel>>,
    domain: String,
}

#[derive(Debug, Serialize)]
pub struct Left {
    pub requests: u32,
    pub per_seconds: u32,
    /// Calls left in the current window; `None` when the service could not be asked.
    pub left: Option<u32>,
    pub resets_in_seconds: Option<i64>,
}

impl BudgetCounts {
    /// `url`: the service (`http://host:port`); `domain`: the filter's `rate_limit.global.domain`.
    pub fn new(url: Option<&str>, domain: String) -> Result<Self, String> {
        let service = url
            .map(|url| {
                let endpoint = Endpoint::from_shared(url.to_string())
                    .map_err(|e| format!("not a URL: {e}"))?
                    .connect_timeout(TIMEOUT)
                    .timeout(TIMEOUT);
                // Connected at the first look: the console starts whether or not it is up.
                Ok::<_, String>(RateLimitServiceClient::new(endpoint.connect_lazy()))
            })
            .transpose()?;
        Ok(Self { service, domain })
    }

    /// One agent's budgets with what is left of each.
    async fn look(
        &self,
        subject: &str,
        budgets: &BTreeMap<String, Limit>,
    ) -> BTreeMap<String, Left> {
        let mut out: BTreeMap<String, Left> = budgets
            .iter()
            .map(|(tool, limit)| {
                let left = Left {
                    requests: limit.requests,
                    per_seconds: limit.per_seconds,
                    left: None,
                    resets_in_seconds: None,
                };
                (tool.clone(), left)
            })
            .collect();
        let Some(service) = &self.service else {
            return out;
        };
        let descriptors = budgets
            .iter()
            .map(|(tool, limit)| {
                let (requests_per_unit, unit) = in_units(*limit);
                let entry = |key: &str, value: &str| Entry {
                    key: key.into(),
                    value: value.into(),
                };
                RateLimitDescriptor {
                    entries: vec![entry(AGENT, subject), entry(BUDGET, tool)],
                    limit: Some(RateLimitOverride {
                        requests_per_unit,
                        unit: unit as i32,
                    }),
                    hits_addend: Some(UInt64Value { value: 0 }),
                    is_negative_hits: false,
                }
            })
            .collect();
        let request = RateLimitRequest {
            domain: self.domain.clone(),
            descriptors,
            hits_addend: 0,
        };
        match service.clone().should_rate_limit(request).await {
            Ok(answer) => {
                for (left, status) in out.values_mut().zip(answer.into_inner().statuses) {
                    left.left = Some(status.limit_remaining);
                    left.resets_in_seconds = status.duration_until_reset.map(|d| d.seconds);
                }
            }
            Err(status) => {
                tracing::warn!(code = ?status.code(), "the rate-limit service could not be asked about budgets");
            }
        }
        out
    }
}

#[derive(Serialize)]
struct Budgets {
    /// Whether what is left comes from the rate-limit service (`CONSOLE_RATELIMIT_URL`).
    counted: bool,
    agents: BTreeMap<String, BTreeMap<String, Left>>,
}

/// `GET /api/budgets`: every agent that has budgets, each with what is left.
pub async fn budgets(
    console: web::Data<Console>,
    registry: web::Data<Registry>,
) -> Result<HttpResponse, ApiError> {
    let listed = registry.list().await?;
    // Every agent's look at once, each bounded by TIMEOUT.
    let looks = listed
        .iter()
        .filter(|agent| !agent.budgets.is_empty())
        .map(|agent| async {
            let left = console.budgets.look(&agent.subject, &agent.budgets).await;
            (agent.subject.clone(), left)
        });
    let agents: BTreeMap<_, _> = futures_util::future::join_all(looks)
        .await
        .into_iter()
        .collect();
    Ok(HttpResponse::Ok().json(Budgets {
        counted: console.budgets.service.is_some(),
        agents,
    }))
}

//! Standalone mode: the backend authenticates callers itself, for running without Envoy (local
//! development, MCP Inspector, stdio). It links the filter's decision code natively, so API
//! keys, JWTs, client-certificate headers, scopes and rate limits behave exactly as at the edge:
//! there is no second implementation.

use actix_web::HttpResponse;
use actix_web::dev::ServiceRequest;
use actix_web::http::StatusCode;
use vault_mcp_filter::decision::{self, Request, Verdict};
use vault_mcp_filter::error::Denial;
use vault_mcp_filter::jwt::KeySet;
use vault_mcp_filter::ratelimit::MemoryStore;
use vault_mcp_filter::{Identity, Policy};

/// The edge policy and its rate-limit slots, in this process.
pub struct Standalone {
    pub policy: Policy,
    store: MemoryStore,
}

impl Standalone {
    pub fn new(policy: Policy) -> Self {
        let store = MemoryStore::default();
        if let Some(rate) = &policy.rate_limit {
            rate.limiter.create_slots(&store);
        }
        Self { policy, store }
    }

    /// The caller, or the reply that refuses it.
    pub fn authenticate(&self, request: &ServiceRequest, now_ms: u64) -> Result<Identity, Denial> {
        let path = request
            .uri()
            .path_and_query()
            .map_or(request.path(), |pq| pq.as_str());
        let mut headers: Vec<(String, String)> = vec![
            (":method".into(), request.method().to_string()),
            (":path".into(), path.to_string()),
        ];
        headers.extend(request.headers().iter().filter_map(|(name, value)| {
            Some((name.as_str().to_string(), value.to_str().ok()?.to_string()))
        }));
        // Borrowed, not cloned: the keys were built once, at start-up.
        let no_keys = KeySet::default();
        let keys = self
            .policy
            .jwt
            .as_ref()
            .map_or(&no_keys, |j| &j.static_keys);
        let has_body = request
            .headers()
            .get("content-length")
            .is_some_and(|v| v != "0")
            || request.headers().contains_key("transfer-encoding");
        let decision_request = Request {
            headers: &headers,
            peer_subject: None,
            envoy_jwt: None,
            now_ms,
            has_body,
        };
        match decision::on_headers(&self.policy, keys, &self.store, &decision_request).verdict {
            Verdict::Forward(forward) => Ok(forward.identity),
            // The MCP body is not read here: every tool checks its own scope in the backend.
            Verdict::ReadBody(pending) => Ok(pending.forward().identity.clone()),
            Verdict::Respond(reply) => Err(reply),
        }
    }
}

/// The edge's local reply, as an HTTP response of the backend.
pub fn reply(denial: Denial) -> HttpResponse {
    let mut response = HttpResponse::build(
        StatusCode::from_u16(denial.status).unwrap_or(StatusCode::UNAUTHORIZED),
    );
    for (name, value) in &denial.headers {
        response.insert_header((*name, value.as_str()));
    }
    response.body(denial.body)
}

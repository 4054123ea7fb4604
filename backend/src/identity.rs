//! Who is calling the backend.
//!
//! Behind Envoy the filter has authenticated the caller, removed every client-sent `x-agent-*`
//! header and set `x-agent-subject` and `x-agent-scopes`; the backend listens on loopback only.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderMap;
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use vault_mcp_filter::headers;
use vault_mcp_filter::identity::is_valid_subject;

use crate::error::ApiError;

/// The authenticated agent, as decided at the edge.
pub type Agent = vault_mcp_filter::Identity;

pub fn agent_from_headers(headers: &HeaderMap) -> Result<Agent, ApiError> {
    let mut subjects = headers.get_all(headers::SUBJECT);
    let subject = subjects.next().ok_or(ApiError::Unauthenticated(
        "no agent identity on the request",
    ))?;
    if subjects.next().is_some() {
        return Err(ApiError::Unauthenticated("more than one agent identity"));
    }
    let subject = subject
        .to_str()
        .ok()
        .filter(|s| is_valid_subject(s))
        .ok_or(ApiError::Unauthenticated("malformed agent identity"))?;
    let scopes = headers
        .get(headers::SCOPES)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split_ascii_whitespace()
        .map(str::to_string);
    Ok(Agent::new(subject, scopes))
}

pub fn require_scope(agent: &Agent, scope: &'static str) -> Result<(), ApiError> {
    if agent.has_scope(scope) {
        Ok(())
    } else {
        Err(ApiError::MissingScope(scope))
    }
}

/// Middleware for every route that acts for an agent: no identity, no service.
pub async fn require_agent(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let agent = agent_from_headers(request.headers())?;
    request.extensions_mut().insert(agent);
    next.call(request).await
}

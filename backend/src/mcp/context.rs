//! What a call knows of the HTTP request it came in: the agent it acts for and the request's
//! id, which rmcp hands to handlers in extensions of its own.

use std::future::Future;

use rmcp::ErrorData as McpError;
use rmcp::RoleServer;
use rmcp::service::RequestContext;
use rmcp_actix_web::transport::on_request_extensions;

use crate::identity::Agent;

/// The agent a tool call acts for: the one the HTTP request authenticated, or (stdio) the one
/// the process was started for.
pub(super) fn caller(
    fixed: Option<&Agent>,
    context: &RequestContext<RoleServer>,
) -> Result<Agent, McpError> {
    on_request_extensions(&context.extensions)
        .and_then(|extensions| extensions.get::<Agent>())
        .or(fixed)
        .cloned()
        .ok_or_else(|| McpError::invalid_request("no agent identity on this request", None))
}

/// The id of the HTTP request a call came in (Envoy's `x-request-id`, or the backend's), so
/// the Vault calls it makes carry it; rmcp runs handlers in tasks of its own.
pub(super) fn request_id(context: &RequestContext<RoleServer>) -> Option<String> {
    context
        .extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.headers.get("x-request-id"))
        .and_then(|value| value.to_str().ok())
        .map(str::to_string)
}

/// Runs `work` with the call's request id in scope ([`crate::telemetry::REQUEST_ID`]).
pub(super) async fn traced<T>(
    context: &RequestContext<RoleServer>,
    work: impl Future<Output = T>,
) -> T {
    match request_id(context) {
        Some(id) => crate::telemetry::REQUEST_ID.scope(id, work).await,
        None => work.await,
    }
}

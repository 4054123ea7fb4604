//! How MCP reaches the server: Streamable HTTP ([`http_service`], with the seed's `/mcp/rpc`
//! and the middlewares that adapt its clients) and stdin/stdout ([`serve_stdio`]).

use std::sync::Arc;

use actix_web::HttpMessage;
use rmcp_actix_web::transport::{LocalSessionManager, StreamableHttpService};

use super::{BridgeMcp, Shared, events};
use crate::identity::Agent;
use crate::vault::Vault;

/// Browser origins accepted when `CORS_ALLOW_ORIGINS` is unset: pages served from this machine
/// only (a DNS-rebinding page has the attacker's origin, never a loopback one).
const LOOPBACK_ORIGINS: &[&str] = &[
    "http://localhost:*",
    "http://127.0.0.1:*",
    "http://[::1]:*",
    "https://localhost:*",
    "https://127.0.0.1:*",
    "https://[::1]:*",
];

pub type McpHttpService = StreamableHttpService<BridgeMcp, LocalSessionManager>;

/// What both MCP endpoints are built from.
#[derive(Clone)]
pub struct McpSettings {
    pub shared: Shared,
    pub allowed_origins: Vec<String>,
    pub allowed_hosts: Option<Vec<String>>,
    pub events: events::Events,
}

/// Streamable HTTP: sessions for the revisions that have them (2025-03-26 … 2025-11-25), kept
/// by `sessions` (whose ids [`super::owners::bind_to_agent`] ties to their agents); rmcp serves
/// 2026-07-28 peers statelessly on the same endpoint. `stateless`: the seed's `POST /mcp/rpc`,
/// plain JSON-RPC in and JSON out, no sessions.
pub fn http_service(
    vault: Arc<Vault>,
    settings: McpSettings,
    sessions: Arc<LocalSessionManager>,
    stateless: bool,
) -> McpHttpService {
    let McpSettings {
        shared,
        allowed_origins,
        allowed_hosts,
        events,
    } = settings;
    StreamableHttpService::builder()
        .service_factory(Arc::new(move || {
            let server = BridgeMcp::new(vault.clone(), shared.clone()).with_events(events.clone());
            Ok(if stateless {
                server.without_sessions()
            } else {
                server
            })
        }))
        .session_manager(sessions)
        .stateful_mode(!stateless)
        .json_response(stateless)
        // Browsers may only call from these origins (403 otherwise); rmcp checks Host against
        // the allowed hosts (loopback by default) against DNS rebinding.
        .allowed_origins(if allowed_origins.is_empty() {
            LOOPBACK_ORIGINS.iter().map(|o| o.to_string()).collect()
        } else {
            allowed_origins
        })
        .maybe_allowed_hosts(allowed_hosts)
        // The agent was put on the actix request by `identity::require_agent`; tools find
        // it again through `on_request_extensions`.
        .on_request_fn(|request, extensions| {
            if let Some(agent) = request.extensions().get::<Agent>() {
                extensions.insert(agent.clone());
            }
        })
        .build()
}

/// For `POST /mcp/rpc` clients of the seed: they send plain JSON, so the Accept header rmcp
/// requires is supplied; the seed's `resources/get` is answered as `resources/read`, and its
/// `shutdown` (the end of its lifecycle; there is no session to end) with `{"ok": true}`.
pub async fn rpc_compat(
    mut request: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<
    actix_web::dev::ServiceResponse<actix_web::body::EitherBody<impl actix_web::body::MessageBody>>,
    actix_web::Error,
> {
    use actix_web::http::header::{ACCEPT, HeaderValue};

    request.headers_mut().insert(
        ACCEPT,
        HeaderValue::from_static("application/json, text/event-stream"),
    );
    let body = request.extract::<actix_web::web::Bytes>().await?;
    let message = serde_json::from_slice::<serde_json::Value>(&body).ok();
    let method = message.as_ref().and_then(|m| m.get("method")?.as_str());
    let body = match (method, message.clone()) {
        (Some("shutdown"), Some(message)) => {
            let answer = serde_json::json!({
                "jsonrpc": "2.0",
                "id": message.get("id").cloned().unwrap_or_default(),
                "result": { "ok": true },
            });
            let response = actix_web::HttpResponse::Ok().json(answer);
            return Ok(request.into_response(response).map_into_right_body());
        }
        (Some("resources/get"), Some(mut message)) => {
            message["method"] = "resources/read".into();
            actix_web::web::Bytes::from(message.to_string())
        }
        _ => body,
    };
    let (_, mut payload) = actix_http::h1::Payload::create(true);
    payload.unread_data(body);
    request.set_payload(payload.into());
    next.call(request).await.map(|r| r.map_into_left_body())
}

/// Ending a session (`DELETE /mcp`) answers 204 No Content where rmcp says 202 Accepted: the
/// session is gone when the answer leaves, and clients (the Python SDK among them) expect a
/// 2xx that says so, not "accepted for later".
pub async fn session_end_is_done(
    request: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    use actix_web::http::{Method, StatusCode};

    let ending = request.method() == Method::DELETE;
    let mut response = next.call(request).await?;
    if ending && response.status() == StatusCode::ACCEPTED {
        *response.response_mut().status_mut() = StatusCode::NO_CONTENT;
    }
    Ok(response)
}

/// MCP over stdin/stdout for one agent, as MCP clients launch local servers (Claude Desktop,
/// Cursor). Nothing but protocol goes to stdout; logs go to stderr or `LOG_DIR`.
pub async fn serve_stdio(vault: Arc<Vault>, agent: Agent, shared: Shared) -> std::io::Result<()> {
    use rmcp::ServiceExt;

    let service = BridgeMcp::for_agent(vault, agent, shared)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(std::io::Error::other)?;
    service.waiting().await.map_err(std::io::Error::other)?;
    Ok(())
}

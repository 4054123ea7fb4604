//! Each HTTP request observed: its id (Envoy's, or one made here), its two log lines, its
//! metrics and its entry in the console's traffic store.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use tracing::Instrument;

use super::metrics::METRICS;
use super::setup::exporting;

const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    /// The id of the HTTP request being served, for everything done on its behalf (the Vault
    /// layer sends it on every call so Vault's audit log joins ours).
    pub static REQUEST_ID: String;
}

/// App data of a service whose callers all come through Envoy, which makes every request's id
/// itself (`envoy/envoy.yaml`): only there is an incoming `X-Request-Id` ours.
#[derive(Clone, Copy)]
pub struct EdgeRequestIds;

/// Counts and times every request by its route template, and makes sure it has a request id:
/// Envoy's when it came through Envoy, a new one otherwise (a client's own id could place its
/// Vault audit entries among another agent's). The id is echoed on the response
/// (`X-Request-Id`) and logged with the request.
pub async fn observe(
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let from_edge = request.app_data::<EdgeRequestIds>().is_some();
    let request_id = match request.headers().get(&REQUEST_ID_HEADER) {
        Some(id) if from_edge && !id.is_empty() && id.len() <= 128 => id.clone(),
        _ => {
            let id = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
                .expect("a uuid is a valid header value");
            request.headers_mut().insert(REQUEST_ID_HEADER, id.clone());
            id
        }
    };
    let method = request.method().to_string();
    let id = request_id.to_str().unwrap_or("-").to_string();
    let recorded = request.app_data::<crate::traffic::Unrecorded>().is_none();
    let mcp = mcp_label(request.headers());
    // The path without its query string; never headers or bodies.
    tracing::info!(target: "requests", request_id = %id, method = %method, path = %request.path(), "request");
    let span = tracing::info_span!(
        "http.request",
        http.method = %method,
        http.route = tracing::field::Empty,
        http.status_code = tracing::field::Empty,
        request_id = %id,
    );
    // Vault calls made for this request carry its id (see vault::exec).
    let mut response = REQUEST_ID
        .scope(id.clone(), next.call(request).instrument(span.clone()))
        .await?;
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".into());
    let status = response.status().as_u16().to_string();
    // Only spans that leave the process need these: recording a field makes every log layer
    // format the span's fields again (issue #27's profile).
    if exporting() {
        span.record("http.route", route.as_str());
        span.record("http.status_code", status.as_str());
    }
    let labels = [method.as_str(), route.as_str(), status.as_str()];
    let extensions = response.request().extensions();
    let (subject, key_id) = match extensions.get::<vault_mcp_filter::Identity>() {
        Some(agent) => (Some(agent.subject.clone()), agent.key_id.clone()),
        // A refusal is no use of the key (as behind Envoy, where it never reaches here).
        None => (
            extensions
                .get::<crate::traffic::RefusedAgent>()
                .map(|refused| refused.0.clone()),
            None,
        ),
    };
    drop(extensions);
    tracing::info!(
        target: "responses",
        request_id = %id,
        method = %method,
        route = %route,
        status = response.status().as_u16(),
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        subject = subject.as_deref().unwrap_or("-"),
        "response"
    );
    if recorded {
        crate::traffic::TRAFFIC.record(
            subject.as_deref(),
            key_id.as_deref(),
            crate::traffic::Event {
                at: crate::clock::unix_millis(),
                method: method.clone(),
                route: route.clone(),
                // Believed only where rmcp checked them against the body it parsed.
                mcp: mcp
                    .filter(|_| {
                        matches!(route.as_str(), "/mcp" | "/mcp/rpc")
                            && response.status().is_success()
                    })
                    .map(|m| m.chars().take(128).collect()),
                status: response.status().as_u16(),
                duration_ms: started.elapsed().as_secs_f64() * 1000.0,
                request_id: id.chars().take(128).collect(),
            },
        );
    }
    METRICS.http_request(&labels, started.elapsed().as_secs_f64());
    response.headers_mut().insert(REQUEST_ID_HEADER, request_id);
    Ok(response)
}

/// The MCP method and tool a request names in its headers (the console's Activity), for
/// revisions that have them: from 2026-07-28 on, rmcp refuses a request whose `Mcp-Method` or
/// `Mcp-Name` disagrees with its body. Earlier revisions never send them and nobody checks
/// them there, so a client's claim is not taken for what it called; `observe` also takes it
/// only on the MCP endpoint, for an answer rmcp gave.
fn mcp_label(headers: &actix_web::http::header::HeaderMap) -> Option<String> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let version = header("mcp-protocol-version")?;
    if version < rmcp::model::ProtocolVersion::STANDARD_HEADERS.as_str() {
        return None;
    }
    header("mcp-method").map(|m| match header("mcp-name") {
        Some(name) => format!("{m} {name}"),
        None => m.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcp_headers_are_a_label_only_where_rmcp_checks_them() {
        use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(
                    HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                );
            }
            map
        };
        let call = [("mcp-method", "tools/call"), ("mcp-name", "kv.read")];
        let modern = headers(&[call[0], call[1], ("mcp-protocol-version", "2026-07-28")]);
        assert_eq!(mcp_label(&modern).as_deref(), Some("tools/call kv.read"));
        // A session revision (never checked) and a request naming no revision: a claim only.
        let legacy = headers(&[call[0], call[1], ("mcp-protocol-version", "2025-11-25")]);
        assert_eq!(mcp_label(&legacy), None);
        assert_eq!(mcp_label(&headers(&call)), None);
    }
}

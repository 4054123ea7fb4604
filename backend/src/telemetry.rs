//! Metrics and request ids. Labels are route templates, engines, operations and outcomes:
//! never paths, subjects or anything a caller chose, so no secret can become a label and the
//! series count stays bounded.

use std::sync::LazyLock;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse};
use prometheus::{Encoder, HistogramVec, IntCounterVec, Registry, TextEncoder};

pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    vault_requests: IntCounterVec,
    vault_duration: HistogramVec,
}

pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            prometheus::opts!(
                "http_requests_total",
                "HTTP requests by method, route and status"
            ),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let http_duration = HistogramVec::new(
            prometheus::histogram_opts!(
                "http_request_duration_seconds",
                "HTTP request latency by method, route and status"
            ),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let vault_requests = IntCounterVec::new(
            prometheus::opts!(
                "vault_requests_total",
                "Vault calls by engine, operation and outcome"
            ),
            &["engine", "operation", "outcome"],
        )
        .expect("valid metric");
        let vault_duration = HistogramVec::new(
            prometheus::histogram_opts!(
                "vault_request_duration_seconds",
                "Vault call latency by engine and operation"
            ),
            &["engine", "operation"],
        )
        .expect("valid metric");
        for collector in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_duration.clone()),
            Box::new(vault_requests.clone()),
            Box::new(vault_duration.clone()),
        ] {
            registry.register(collector).expect("unique metric");
        }
        Self {
            registry,
            http_requests,
            http_duration,
            vault_requests,
            vault_duration,
        }
    }

    pub fn vault_call(&self, engine: &str, operation: &str, outcome: &str, seconds: f64) {
        self.vault_requests
            .with_label_values(&[engine, operation, outcome])
            .inc();
        self.vault_duration
            .with_label_values(&[engine, operation])
            .observe(seconds);
    }

    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("text encoding");
        String::from_utf8(buffer).expect("prometheus text is UTF-8")
    }
}

/// `GET /metrics` in the Prometheus text format.
pub async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(METRICS.render())
}

/// Counts and times every request by its route template, and makes sure it has a request id:
/// Envoy's when it came through Envoy, a new one otherwise. The id is echoed on the response
/// (`X-Request-Id`) and logged with the request.
pub async fn observe(
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let request_id = match request.headers().get(&REQUEST_ID) {
        Some(id) if !id.is_empty() && id.len() <= 128 => id.clone(),
        _ => {
            let id = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
                .expect("a uuid is a valid header value");
            request.headers_mut().insert(REQUEST_ID, id.clone());
            id
        }
    };
    let method = request.method().to_string();
    let mut response = next.call(request).await?;
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".into());
    let status = response.status().as_u16().to_string();
    let labels = [method.as_str(), route.as_str(), status.as_str()];
    METRICS.http_requests.with_label_values(&labels).inc();
    METRICS
        .http_duration
        .with_label_values(&labels)
        .observe(started.elapsed().as_secs_f64());
    response.headers_mut().insert(REQUEST_ID, request_id);
    Ok(response)
}

//! Prometheus metrics and `GET /metrics`. Labels are route templates, engines, operations and
//! outcomes: never paths, subjects or anything a caller chose, so no secret can become a label
//! and the series count stays bounded.

use std::sync::LazyLock;

use actix_web::HttpResponse;
use prometheus::{Encoder, HistogramVec, IntCounterVec, Registry, TextEncoder};

pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    vault_requests: IntCounterVec,
    vault_duration: HistogramVec,
}

pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

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

    /// The handle the Vault layer counts its calls with, given to it when it is built.
    pub fn vault_calls(&self) -> VaultCalls {
        VaultCalls {
            requests: self.vault_requests.clone(),
            duration: self.vault_duration.clone(),
        }
    }

    /// Counts and times one HTTP request by its method, route template and status.
    pub fn http_request(&self, labels: &[&str; 3], seconds: f64) {
        self.http_requests.with_label_values(labels).inc();
        self.http_duration
            .with_label_values(labels)
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

/// Where the Vault layer reports each call (engine, operation, outcome, time): handed to it when
/// it is built, rather than through the process-wide [`METRICS`].
#[derive(Clone)]
pub struct VaultCalls {
    requests: IntCounterVec,
    duration: HistogramVec,
}

impl VaultCalls {
    pub fn observe(&self, engine: &str, operation: &str, outcome: &str, seconds: f64) {
        self.requests
            .with_label_values(&[engine, operation, outcome])
            .inc();
        self.duration
            .with_label_values(&[engine, operation])
            .observe(seconds);
    }
}

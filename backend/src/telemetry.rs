//! Metrics and request ids. Labels are route templates, engines, operations and outcomes:
//! never paths, subjects or anything a caller chose, so no secret can become a label and the
//! series count stays bounded.

use std::sync::LazyLock;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpResponse};
use prometheus::{Encoder, HistogramVec, IntCounterVec, Registry, TextEncoder};
use tracing::Instrument;

pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    vault_requests: IntCounterVec,
    vault_duration: HistogramVec,
}

pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    /// The id of the HTTP request being served, for everything done on its behalf (the Vault
    /// layer sends it on every call so Vault's audit log joins ours).
    pub static REQUEST_ID: String;
}

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
    span.record("http.route", route.as_str());
    span.record("http.status_code", status.as_str());
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
                at: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64),
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
    METRICS.http_requests.with_label_values(&labels).inc();
    METRICS
        .http_duration
        .with_label_values(&labels)
        .observe(started.elapsed().as_secs_f64());
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

/// Keeps logging and trace export running; dropping it flushes both.
pub struct Telemetry {
    _guards: Vec<tracing_appender::non_blocking::WorkerGuard>,
    tracer_provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.tracer_provider.take() {
            let _ = provider.shutdown();
        }
    }
}

/// Spans (one per HTTP request, one per Vault call) exported over OTLP/HTTP when
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is set; the exporter reads the standard `OTEL_*` variables
/// (endpoint, headers, `OTEL_SERVICE_NAME`, batch timing).
fn otlp_tracer_provider() -> Option<opentelemetry_sdk::trace::SdkTracerProvider> {
    std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT")?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .map_err(|error| eprintln!("warning: OTLP export disabled: {error}"))
        .ok()?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(
            std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "vault-mcp-bridge".into()),
        )
        .build();
    Some(
        opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build(),
    )
}

/// Where and how much the backend logs to files.
#[derive(Debug, Clone)]
pub struct LogFiles {
    pub dir: std::path::PathBuf,
    /// Each file is rotated once it passes this many bytes.
    pub max_bytes: usize,
    /// Rotated files kept per log (`requests.log.1` … `.{keep}`); older ones are deleted.
    pub keep: usize,
    /// Write the per-request logs (`requests.log`, `responses.log`).
    pub requests: bool,
}

impl LogFiles {
    /// A writer to `name` in the folder, rotated by size: so a busy bridge never fills its
    /// disk. Lines stay whole (rotation happens after the write that passed the limit), so a
    /// log takes at most `(keep + 1) × (max_bytes + one line)`.
    pub fn writer(&self, name: &str) -> file_rotate::FileRotate<file_rotate::suffix::AppendCount> {
        file_rotate::FileRotate::new(
            self.dir.join(name),
            file_rotate::suffix::AppendCount::new(self.keep),
            file_rotate::ContentLimit::BytesSurpassed(self.max_bytes),
            file_rotate::compression::Compression::None,
            None,
        )
    }
}

/// JSON logs. With `files`: `requests.log` and `responses.log` (one line per request, metadata
/// only; unless switched off) and `server.log` (everything else), each rotated by size; without:
/// all to stderr. Keep the guards alive for as long as logs should be written.
pub fn init(level: &str, files: Option<&LogFiles>) -> Telemetry {
    use opentelemetry::trace::TracerProvider;
    use tracing_subscriber::filter::{EnvFilter, filter_fn};
    use tracing_subscriber::prelude::*;

    let tracer_provider = otlp_tracer_provider();
    let otel = tracer_provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("vault-mcp-bridge"))
            .with_filter(filter_fn(|meta| meta.is_span()))
    });

    // vaultrs and rustify log every non-2xx answer (a plain 404 included) at ERROR; the
    // service reports Vault outcomes itself. rmcp logs three INFO lines for every MCP request
    // (a server is made per 2026-07-28 request): only from `debug` on.
    let quiet_rmcp = if matches!(level, "debug" | "trace") {
        ""
    } else {
        ",rmcp=warn"
    };
    let env_filter = || {
        EnvFilter::try_new(format!("{level},rustify=off,vaultrs=off{quiet_rmcp}"))
            .unwrap_or_else(|_| EnvFilter::new("info"))
    };
    let Some(files) = files else {
        tracing_subscriber::registry()
            .with(otel)
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr)
                    .with_filter(env_filter()),
            )
            .init();
        return Telemetry {
            _guards: Vec::new(),
            tracer_provider,
        };
    };
    let mut guards = Vec::new();
    let mut file = |name: &str| {
        let (writer, guard) = tracing_appender::non_blocking(files.writer(name));
        guards.push(guard);
        writer
    };
    let only = |target: &'static str| filter_fn(move |meta| meta.target() == target);
    let requests = files.requests.then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(file("requests.log"))
            .with_filter(only("requests"))
    });
    let responses = files.requests.then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(file("responses.log"))
            .with_filter(only("responses"))
    });
    let server = tracing_subscriber::fmt::layer()
        .json()
        .with_writer(file("server.log"))
        .with_filter(filter_fn(|meta| {
            !matches!(meta.target(), "requests" | "responses")
        }))
        .with_filter(env_filter());
    tracing_subscriber::registry()
        .with(otel)
        .with(requests)
        .with(responses)
        .with(server)
        .init();
    Telemetry {
        _guards: guards,
        tracer_provider,
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

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

    #[test]
    fn log_files_stay_within_their_cap() {
        let dir = std::env::temp_dir().join(format!("vmb-logs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let files = LogFiles {
            dir: dir.clone(),
            max_bytes: 10_000,
            keep: 2,
            requests: true,
        };
        let mut log = files.writer("requests.log");
        let line = format!("{{\"request_id\":\"{}\"}}\n", "x".repeat(100));
        for _ in 0..5_000 {
            log.write_all(line.as_bytes()).unwrap();
        }
        log.flush().unwrap();
        let sizes: Vec<(String, u64)> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap())
            .map(|e| {
                (
                    e.file_name().into_string().unwrap(),
                    e.metadata().unwrap().len(),
                )
            })
            .collect();
        let total: u64 = sizes.iter().map(|(_, size)| size).sum();
        // 5,000 lines (over 500 KB) written; what stays is the file and two rotated ones.
        assert_eq!(sizes.len(), 3, "{sizes:?}");
        assert!(total <= 3 * (10_000 + line.len() as u64), "{sizes:?}");
        let newest = std::fs::read_to_string(dir.join("requests.log")).unwrap();
        assert!(
            newest.lines().all(|l| l.len() == line.len() - 1),
            "lines stay whole"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

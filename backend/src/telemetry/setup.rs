//! Where logs and spans go, set up once at start: JSON lines to the log files or stderr
//! (written in batches), spans over OTLP when asked for.

use super::batched::Batched;
use super::files::LogFiles;

/// Keeps logging and trace export running; dropping it flushes both.
pub struct Telemetry {
    _flushers: Vec<super::batched::Flusher>,
    tracer_provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.tracer_provider.take() {
            let _ = provider.shutdown();
        }
    }
}

/// Whether spans are exported (`OTEL_EXPORTER_OTLP_ENDPOINT`). Without export, the request's
/// span only carries its id into the lines logged while it runs, and nothing else is spent on
/// spans.
pub fn exporting() -> bool {
    EXPORTING.load(std::sync::atomic::Ordering::Relaxed)
}

static EXPORTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

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

/// JSON logs. With `files`: `requests.log` and `responses.log` (one line per request, metadata
/// only; unless switched off) and `server.log` (everything else), each rotated by size; without:
/// all to stderr. Keep the guards alive for as long as logs should be written.
pub fn init(level: &str, files: Option<&LogFiles>) -> Telemetry {
    use opentelemetry::trace::TracerProvider;
    use tracing_subscriber::filter::{EnvFilter, filter_fn};
    use tracing_subscriber::prelude::*;

    let tracer_provider = otlp_tracer_provider();
    EXPORTING.store(
        tracer_provider.is_some(),
        std::sync::atomic::Ordering::Relaxed,
    );
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
        // Batched too: a container's stderr is a pipe, which a slow reader can fill.
        let (stderr, flusher) = Batched::new("stderr", std::io::stderr());
        tracing_subscriber::registry()
            .with(otel)
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(stderr)
                    .with_filter(env_filter()),
            )
            .init();
        return Telemetry {
            _flushers: vec![flusher],
            tracer_provider,
        };
    };
    let mut flushers = Vec::new();
    let mut file = |name: &'static str| {
        let (writer, flusher) = Batched::new(name, files.writer(name));
        flushers.push(flusher);
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
        _flushers: flushers,
        tracer_provider,
    }
}

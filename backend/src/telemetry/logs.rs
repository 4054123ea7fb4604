//! The JSON log files (rotated by size, written in batches) and the OTLP span export.

use super::batched::Batched;

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
    /// disk. Lines stay whole (rotation happens after the write that passed the limit, and
    /// `batched` writes line by line), so a log takes at most `(keep + 1) × (max_bytes + one line)`.
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

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

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

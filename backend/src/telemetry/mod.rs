//! What the backend tells operators about itself, one job per module: Prometheus metrics
//! ([`metrics`]), each request's id, log lines and traffic entry ([`requests`]), where logs and
//! spans go ([`setup`]), and the log files ([`files`], written in batches by `batched`).

mod batched;
mod files;
mod metrics;
mod requests;
mod setup;

pub use files::LogFiles;
pub use metrics::{METRICS, Metrics, VaultCalls, metrics};
pub use requests::{EdgeRequestIds, REQUEST_ID, observe};
pub use setup::{Telemetry, exporting, init};

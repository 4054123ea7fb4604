//! `vault-mcp-ratelimit`: the rate-limit service Envoy's filter asks, counting in Redis.
//!
//! Any number of Envoys (and of these services) share one Redis, so an agent's limit holds
//! across all of them. It speaks Envoy's `envoy.service.ratelimit.v3.RateLimitService`, so
//! Envoy's reference service (envoyproxy/ratelimit) can take its place.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_server::RateLimitServiceServer;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

mod counter;
mod service;

#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Where to serve gRPC (HTTP/2 without TLS: keep it on a private network).
    #[arg(long, env = "RATELIMIT_LISTEN", default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// Redis holding the counters (`redis://[:password@]host:port[/db]`; `--help` never shows
    /// the variable's value, which holds the password).
    #[arg(
        long,
        env = "RATELIMIT_REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        hide_env_values = true
    )]
    redis_url: String,
    /// The domains counted here (the filter's `rate_limit.global.domain`), comma-separated;
    /// questions for others are refused.
    #[arg(
        long,
        env = "RATELIMIT_DOMAINS",
        value_delimiter = ',',
        default_value = vault_mcp_filter::global::DEFAULT_DOMAIN
    )]
    domains: Vec<String>,
    /// How long one Redis call may take, connecting included: past it the answer is an error
    /// (Envoy's filter then applies its failure mode) rather than a stalled request.
    #[arg(long, env = "RATELIMIT_REDIS_TIMEOUT_MS", default_value_t = 200)]
    redis_timeout_ms: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let timeout = Some(Duration::from_millis(args.redis_timeout_ms));
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(timeout)
        .set_response_timeout(timeout)
        // One quick reconnect, not redis-rs's default of six with backoff: a request waits at
        // most about two timeouts, and the next request tries again.
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(args.redis_timeout_ms));
    let client = redis::Client::open(args.redis_url.as_str())?;
    // Lazy: the service starts (and answers "unavailable") while Redis is down, and connects
    // when it comes back.
    let redis = ConnectionManager::new_lazy_with_config(client, config)?;
    let service = service::Service::new(counter::Counters::new(redis), args.domains);
    tracing::info!(listen = %args.listen, "serving Envoy's rate-limit service");
    tonic::transport::Server::builder()
        // A question is a few hundred bytes: nothing larger is read.
        .add_service(RateLimitServiceServer::new(service).max_decoding_message_size(64 * 1024))
        .serve_with_shutdown(args.listen, stopped())
        .await?;
    Ok(())
}

/// SIGTERM (a container's stop, the dev stack's) or Ctrl-C: stop taking connections, finish
/// the questions under way.
async fn stopped() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

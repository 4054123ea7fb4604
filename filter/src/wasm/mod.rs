//! The proxy-wasm adapter: the only code that knows about Envoy. The root context parses the
//! configuration once per VM and keeps the remote JWKS fresh; each HTTP context turns headers
//! (and, for older MCP revisions, the body) into a verdict and the verdict into host calls.
#![allow(unsafe_code)] // proxy_wasm::main! exports the `_start` entry point with #[no_mangle].

mod http;
mod metrics;
mod registry;
mod root;
mod shared;
mod state;
mod timing;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::RootContext;
use proxy_wasm::types::LogLevel;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(root::Root::default()) });
}}

fn log(level: LogLevel, message: &str) {
    let _ = hostcalls::log(level, message);
}

/// Host time in milliseconds since the epoch (never `std::time`: the host owns the clock).
fn now_ms() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as u64)
}

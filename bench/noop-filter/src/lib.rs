//! The cheapest possible HTTP filter: a context per request, every callback `Continue`. Run by
//! the benchmark harness beside the real filter, it shows what the wasm host itself costs, the
//! floor under which no wasm filter can go.
#![cfg(target_arch = "wasm32")]
#![allow(unsafe_code)] // proxy_wasm::main! exports `_start` with #[no_mangle].

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Noop) });
}}

struct Noop;

impl Context for Noop {}

impl HttpContext for Noop {}

impl RootContext for Noop {
    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Noop))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

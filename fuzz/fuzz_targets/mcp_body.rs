//! The JSON-RPC bodies the filter reads to find a tool: no input panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vault_mcp_filter::mcp::calls_from_body;

fuzz_target!(|body: &[u8]| {
    let _ = calls_from_body(body);
});

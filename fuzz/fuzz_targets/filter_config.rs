//! The filter's configuration parser: any bytes Envoy could hand to `on_configure` give a
//! policy or an error, never a panic (a panic there takes the VM down).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vault_mcp_filter::Policy;

fuzz_target!(|bytes: &[u8]| {
    let env = |name: &str| Some(format!("{name}-0123456789abcdef0123456789abcdef"));
    let _ = Policy::from_json(bytes, &env);
});

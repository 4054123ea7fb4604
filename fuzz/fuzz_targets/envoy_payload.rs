//! Payloads from Envoy's jwt_authn metadata (proxy-wasm pairs): no input panics, and whatever
//! decodes encodes back to exactly the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vault_mcp_filter::jwt::envoy::{decode_pairs, identity};

fuzz_target!(|bytes: &[u8]| {
    let _ = identity(bytes);
    if let Some(pairs) = decode_pairs(bytes) {
        let mut again = (pairs.len() as u32).to_le_bytes().to_vec();
        for (k, v) in &pairs {
            again.extend((k.len() as u32).to_le_bytes());
            again.extend((v.len() as u32).to_le_bytes());
        }
        for (k, v) in &pairs {
            again.extend(*k);
            again.push(0);
            again.extend(*v);
            again.push(0);
        }
        assert_eq!(again, bytes);
    }
});

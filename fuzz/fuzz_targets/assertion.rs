//! The backend's check of the edge assertion: any header value gives a verdict without
//! panicking, and only the edge's own signature over these claims passes, in the one spelling
//! the edge writes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vault_mcp_filter::assertion::{AssertionKey, Claims};

const NOW: u64 = 1_800_000_000;

fuzz_target!(|assertion: &str| {
    let key = AssertionKey::new("assertion-key-assertion-key-0123").unwrap();
    let claims = Claims {
        subject: "agent_api",
        scopes: "read write",
        request_id: "r-1",
        key_id: "0a1b2c3d4e5f",
    };
    if key.verify(assertion, &claims, NOW, 30).is_ok() {
        // Accepted: it must be the edge's signature for some time within the window.
        let issued_at: u64 = assertion.split('.').nth(1).unwrap().parse().unwrap();
        assert!(NOW.abs_diff(issued_at) <= 30);
        assert_eq!(assertion, key.sign(&claims, issued_at));
    }
});

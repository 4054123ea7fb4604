//! The backend's path validation: whatever string an agent sends, an accepted path stays inside
//! the agent's folder.
#![no_main]

// The module itself, not the backend crate: it depends on std and thiserror only, and building
// the whole backend (actix, rmcp, vaultrs) instrumented would make every fuzz run minutes longer.
#[path = "../../backend/src/vault/path.rs"]
#[allow(dead_code)] // the backend uses more of it than the parsers fuzzed here
mod path;

use libfuzzer_sys::fuzz_target;
use path::{MAX_PATH_LEN, SecretPath, SecretPrefix};

fuzz_target!(|raw: &str| {
    if let Ok(path) = SecretPath::parse(raw) {
        let p = path.as_str();
        assert!(!p.is_empty() && p.len() <= MAX_PATH_LEN);
        assert!(!p.starts_with('/'));
        assert!(p.split('/').all(|s| !s.is_empty() && s != "." && s != ".."));
        assert!(!p.contains(['\\', '%', '\0']));
    }
    if let Ok(prefix) = SecretPrefix::parse(raw) {
        let p = prefix.as_str();
        assert!(p.is_empty() || (p.ends_with('/') && SecretPath::parse(&p[..p.len() - 1]).is_ok()));
    }
});

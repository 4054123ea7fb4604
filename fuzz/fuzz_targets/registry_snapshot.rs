//! The registry snapshot parser: any bytes a fetch could bring give a registry or an error,
//! never a panic, and in a registry every key finds the agent that holds it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vault_mcp_filter::registry::{Registry, Snapshot};

fuzz_target!(|bytes: &[u8]| {
    let Ok(registry) = Registry::parse(bytes, 1 << 20) else {
        return;
    };
    let snapshot: Snapshot = serde_json::from_slice(bytes).expect("parsed once already");
    assert_eq!(registry.len(), snapshot.agents.len());
    for agent in &snapshot.agents {
        let held = registry
            .agent(&agent.subject)
            .expect("every subject is indexed");
        assert_eq!(held.enabled, agent.enabled);
    }
});

//! Following the agent registry: one worker fetches the snapshot from the backend every
//! `refresh_seconds` (claimed with a CAS on the shared fetch state, like the JWKS), sending the
//! last `ETag` so an unchanged registry costs a 304. A valid snapshot goes into shared data with
//! a new generation number; every worker's root re-parses it on its next tick when the
//! generation moved, so requests only ever read an `Rc` the root holds (no host call, no
//! parsing on the request path). Any failure keeps the last good snapshot.

use std::cell::RefCell;
use std::rc::Rc;

use proxy_wasm::types::LogLevel;

use super::log;
use super::shared::SharedData;
use crate::ratelimit::SlotStore;
use crate::registry::Registry;

pub const DOCUMENT: &str = "vault_mcp_filter.registry.document";
pub const STATE: &str = "vault_mcp_filter.registry.state";

/// The fetch state every worker shares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchState {
    /// Last answer that confirmed the snapshot (200 or 304), unix seconds; 0 = never.
    pub confirmed_at: u64,
    /// Last fetch started, unix seconds; 0 = never.
    pub attempted_at: u64,
    /// Bumped each time a new snapshot is stored.
    pub generation: u64,
    /// The stored snapshot's `ETag`.
    pub etag: String,
}

impl FetchState {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(24 + self.etag.len());
        for word in [self.confirmed_at, self.attempted_at, self.generation] {
            out.extend(word.to_le_bytes());
        }
        out.extend(self.etag.as_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Self {
        let word = |i: usize| {
            bytes
                .get(i * 8..i * 8 + 8)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u64::from_le_bytes)
        };
        FetchState {
            confirmed_at: word(0),
            attempted_at: word(1),
            generation: word(2),
            etag: bytes
                .get(24..)
                .and_then(|b| std::str::from_utf8(b).ok())
                .unwrap_or("")
                .to_string(),
        }
    }
}

pub fn state() -> Option<(FetchState, u32)> {
    SharedData
        .get(STATE)
        .map(|(bytes, cas)| (FetchState::decode(&bytes), cas))
}

pub fn set_state(state: &FetchState, cas: u32) -> bool {
    SharedData.compare_and_set(STATE, &state.encode(), cas)
}

/// Updates the shared state with `change`, retrying CAS races with other workers.
pub fn update(change: impl Fn(&mut FetchState)) {
    for _ in 0..8 {
        let Some((mut current, cas)) = state() else {
            return;
        };
        change(&mut current);
        if set_state(&current, cas) {
            return;
        }
    }
}

/// This VM's parsed copy of the shared snapshot.
#[derive(Default)]
pub struct Held {
    generation: std::cell::Cell<u64>,
    current: RefCell<Option<Rc<Registry>>>,
}

impl Held {
    pub fn current(&self) -> Option<Rc<Registry>> {
        self.current.borrow().clone()
    }

    /// Re-parses the shared snapshot when another worker (or this one) stored a new one.
    pub fn sync(&self, max_bytes: usize) {
        let Some((state, _)) = state() else { return };
        if state.generation == self.generation.get() {
            return;
        }
        let Some((document, _)) = SharedData.get(DOCUMENT) else {
            return;
        };
        match Registry::parse(&document, max_bytes) {
            Ok(registry) => *self.current.borrow_mut() = Some(Rc::new(registry)),
            // Validated before it was stored: only a different configuration gets here.
            Err(error) => log(
                LogLevel::Warn,
                &format!("vault-mcp-filter: stored registry refused: {error}"),
            ),
        }
        self.generation.set(state.generation);
    }
}

/// Stores a fetched snapshot if it is valid; returns the number of agents, or why not.
pub fn store(body: &[u8], etag: &str, max_bytes: usize, now: u64) -> Result<usize, String> {
    let registry = Registry::parse(body, max_bytes).map_err(|e| e.to_string())?;
    SharedData.create(DOCUMENT, body);
    update(|state| {
        state.generation += 1;
        state.confirmed_at = now.max(1);
        state.etag = etag.to_string();
    });
    Ok(registry.len())
}

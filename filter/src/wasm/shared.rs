//! Envoy's shared data (one store for all workers of a VM configuration): the rate limiter's
//! slots, the fetched JWKS and its fetch state.

use std::cell::RefCell;
use std::rc::Rc;

use proxy_wasm::hostcalls;

use super::timing::{self, Step};

use crate::jwt::KeySet;
use crate::jwt::jwks::FetchState;
use crate::ratelimit::SlotStore;

pub const JWKS_DOCUMENT: &str = "vault_mcp_filter.jwks.document";
pub const JWKS_STATE: &str = "vault_mcp_filter.jwks.state";

pub struct SharedData;

impl SlotStore for SharedData {
    fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        match timing::time(Step::SharedData, || hostcalls::get_shared_data(key)) {
            Ok((Some(bytes), Some(cas))) => Some((bytes, cas)),
            _ => None,
        }
    }

    fn compare_and_set(&self, key: &str, value: &[u8], cas: u32) -> bool {
        timing::time(Step::SharedData, || {
            hostcalls::set_shared_data(key, Some(value), Some(cas)).is_ok()
        })
    }

    fn create(&self, key: &str, value: &[u8]) {
        timing::time(Step::SharedData, || {
            let _ = hostcalls::set_shared_data(key, Some(value), None);
        });
    }
}

pub fn fetch_state() -> Option<(FetchState, u32)> {
    SharedData
        .get(JWKS_STATE)
        .map(|(bytes, cas)| (FetchState::decode(&bytes), cas))
}

/// Updates the fetch state if nobody else did meanwhile; true when this write won.
pub fn set_fetch_state(state: &FetchState, cas: u32) -> bool {
    SharedData.compare_and_set(JWKS_STATE, &state.encode(), cas)
}

/// Marks that a token named an unknown kid (one attempt: losing the race means another
/// worker just wrote the state, which is as good).
pub fn report_unknown_kid() {
    if let Some((mut state, cas)) = fetch_state()
        && !state.unknown_kid_seen
    {
        state.unknown_kid_seen = true;
        set_fetch_state(&state, cas);
    }
}

/// The keys to verify tokens with: the static ones plus the last fetched JWKS. Parsed once per
/// fetch and per VM, not per request: requests only read the 17-byte fetch state.
pub struct KeyCache {
    static_keys: Rc<KeySet>,
    cached: RefCell<(u64, Rc<KeySet>)>,
}

impl KeyCache {
    pub fn new(static_keys: KeySet) -> Self {
        let static_keys = Rc::new(static_keys);
        Self {
            cached: RefCell::new((0, static_keys.clone())),
            static_keys,
        }
    }

    pub fn current(&self, remote: bool) -> Rc<KeySet> {
        if !remote {
            return self.static_keys.clone();
        }
        let fetched_at = fetch_state().map_or(0, |(s, _)| s.fetched_at);
        let mut cached = self.cached.borrow_mut();
        if fetched_at != cached.0 {
            let mut keys = (*self.static_keys).clone();
            if let Some((document, _)) = SharedData.get(JWKS_DOCUMENT)
                && let Ok(remote) = KeySet::from_jwks(&document)
            {
                keys.extend(remote);
            }
            *cached = (fetched_at, Rc::new(keys));
        }
        cached.1.clone()
    }
}

//! Envoy's shared data (one store for all workers of a VM configuration): the rate limiter's
//! slots, the fetched JWKS documents (the agents' issuer's and the authorization server's) and
//! their fetch states.

use std::cell::RefCell;
use std::rc::Rc;

use proxy_wasm::hostcalls;

use super::timing::{self, Step};

use crate::jwt::jwks::FetchState;
use crate::jwt::{KeySet, KeySource};
use crate::ratelimit::SlotStore;

/// Where one issuer's fetched JWKS and its fetch state live.
#[derive(Debug, Clone, Copy)]
pub struct JwksSlot {
    pub document: &'static str,
    pub state: &'static str,
}

impl JwksSlot {
    pub fn of(source: KeySource) -> Self {
        match source {
            KeySource::Agents => JwksSlot {
                document: "vault_mcp_filter.jwks.document",
                state: "vault_mcp_filter.jwks.state",
            },
            KeySource::OAuth => JwksSlot {
                document: "vault_mcp_filter.oauth_jwks.document",
                state: "vault_mcp_filter.oauth_jwks.state",
            },
        }
    }
}

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

pub fn fetch_state(slot: JwksSlot) -> Option<(FetchState, u32)> {
    SharedData
        .get(slot.state)
        .map(|(bytes, cas)| (FetchState::decode(&bytes), cas))
}

/// Updates the fetch state if nobody else did meanwhile; true when this write won.
pub fn set_fetch_state(slot: JwksSlot, state: &FetchState, cas: u32) -> bool {
    SharedData.compare_and_set(slot.state, &state.encode(), cas)
}

/// Marks that a token named an unknown kid (one attempt: losing the race means another
/// worker just wrote the state, which is as good).
pub fn report_unknown_kid(slot: JwksSlot) {
    if let Some((mut state, cas)) = fetch_state(slot)
        && !state.unknown_kid_seen
    {
        state.unknown_kid_seen = true;
        set_fetch_state(slot, &state, cas);
    }
}

/// Each issuer's keys.
pub struct HeldKeys {
    agents: KeyCache,
    oauth: KeyCache,
}

impl HeldKeys {
    pub fn new(policy: &crate::Policy) -> Self {
        let cache = |source| {
            let keys = policy.token_rules(source).map(|j| j.static_keys.clone());
            KeyCache::new(JwksSlot::of(source), keys.unwrap_or_default())
        };
        Self {
            agents: cache(KeySource::Agents),
            oauth: cache(KeySource::OAuth),
        }
    }

    pub fn of(&self, source: KeySource) -> &KeyCache {
        match source {
            KeySource::Agents => &self.agents,
            KeySource::OAuth => &self.oauth,
        }
    }
}

/// The keys to verify tokens with: the static ones plus the last fetched JWKS. Parsed once per
/// fetch and per VM, not per request: requests only read the 17-byte fetch state.
pub struct KeyCache {
    slot: JwksSlot,
    static_keys: Rc<KeySet>,
    cached: RefCell<(u64, Rc<KeySet>)>,
}

impl KeyCache {
    pub fn new(slot: JwksSlot, static_keys: KeySet) -> Self {
        let static_keys = Rc::new(static_keys);
        Self {
            slot,
            cached: RefCell::new((0, static_keys.clone())),
            static_keys,
        }
    }

    pub fn current(&self, remote: bool) -> Rc<KeySet> {
        if !remote {
            return self.static_keys.clone();
        }
        let fetched_at = fetch_state(self.slot).map_or(0, |(s, _)| s.fetched_at);
        let mut cached = self.cached.borrow_mut();
        if fetched_at != cached.0 {
            let mut keys = (*self.static_keys).clone();
            if let Some((document, _)) = SharedData.get(self.slot.document)
                && let Ok(remote) = KeySet::from_jwks(&document)
            {
                keys.extend(remote);
            }
            *cached = (fetched_at, Rc::new(keys));
        }
        cached.1.clone()
    }
}

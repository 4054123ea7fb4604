//! Counters in Envoy's `/stats` (prefixed `wasmcustom.` by Envoy).
//!
//! Refusals are counted by code and, for an agent the registry names, per agent too:
//! `vault_mcp_filter.agent.{subject}.denied.{code}` (the console's per-agent refusals). Those
//! counters are made on an agent's first refusal, so their number is bounded by the registry
//! (and by `MAX_AGENT_COUNTERS`), never by what callers send.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

use crate::error::Reason;
use crate::global::Failure;

const PREFIX: &str = "vault_mcp_filter";
/// Per-agent refusal counters one worker defines at most; past it refusals count by code only.
const MAX_AGENT_COUNTERS: usize = 50_000;

#[derive(Debug, Default)]
pub struct Metrics {
    allowed: Option<u32>,
    /// Requests allowed since the last flush: a host call per request costs more than the
    /// count, so the root adds them to Envoy's counter on its one-second tick.
    allowed_unflushed: Cell<i64>,
    denied: HashMap<&'static str, u32>,
    /// (subject, code) → counter, defined on first use.
    agent_denied: RefCell<HashMap<(String, &'static str), u32>>,
    jwks_fetch_ok: Option<u32>,
    jwks_fetch_failed: Option<u32>,
    registry_fetch_ok: Option<u32>,
    registry_fetch_failed: Option<u32>,
    registry_agents: Option<u32>,
    /// Questions to the rate-limit service left unanswered, by `global::Failure::code`.
    global_failed: HashMap<&'static str, u32>,
}

fn counter(name: &str) -> Option<u32> {
    hostcalls::define_metric(MetricType::Counter, &format!("{PREFIX}.{name}")).ok()
}

impl Metrics {
    pub fn define() -> Self {
        Metrics {
            allowed: counter("allowed"),
            allowed_unflushed: Cell::new(0),
            denied: Reason::CODES
                .iter()
                .filter_map(|(code, _)| Some((*code, counter(&format!("denied.{code}"))?)))
                .collect(),
            agent_denied: RefCell::default(),
            jwks_fetch_ok: counter("jwks_fetch.ok"),
            jwks_fetch_failed: counter("jwks_fetch.failed"),
            registry_fetch_ok: counter("registry_fetch.ok"),
            registry_fetch_failed: counter("registry_fetch.failed"),
            registry_agents: hostcalls::define_metric(
                MetricType::Gauge,
                &format!("{PREFIX}.registry.agents"),
            )
            .ok(),
            global_failed: Failure::CODES
                .iter()
                .filter_map(|code| Some((*code, counter(&format!("global.failed.{code}"))?)))
                .collect(),
        }
    }

    fn bump(id: Option<u32>) {
        if let Some(id) = id {
            let _ = hostcalls::increment_metric(id, 1);
        }
    }

    pub fn allowed(&self) {
        self.allowed_unflushed.set(self.allowed_unflushed.get() + 1);
    }

    /// Adds what was counted since the last call to Envoy's counters (the root's tick).
    pub fn flush(&self) {
        let allowed = self.allowed_unflushed.replace(0);
        if let (Some(id), 1..) = (self.allowed, allowed) {
            let _ = hostcalls::increment_metric(id, allowed);
        }
    }

    pub fn denied(&self, code: &str) {
        Self::bump(self.denied.get(code).copied());
    }

    /// A refusal of `subject`, an agent of the registry (the caller checks).
    pub fn agent_denied(&self, subject: &str, code: &'static str) {
        let mut counters = self.agent_denied.borrow_mut();
        let key = (subject.to_string(), code);
        let id = match counters.get(&key) {
            Some(id) => Some(*id),
            None if counters.len() < MAX_AGENT_COUNTERS => {
                let id = counter(&format!("agent.{subject}.denied.{code}"));
                if let Some(id) = id {
                    counters.insert(key, id);
                }
                id
            }
            None => None,
        };
        Self::bump(id);
    }

    pub fn jwks_fetch(&self, ok: bool) {
        Self::bump(if ok {
            self.jwks_fetch_ok
        } else {
            self.jwks_fetch_failed
        });
    }

    /// A registry fetch that confirmed or replaced the snapshot (`ok`), or was refused.
    pub fn registry_fetch(&self, ok: bool) {
        Self::bump(if ok {
            self.registry_fetch_ok
        } else {
            self.registry_fetch_failed
        });
    }

    pub fn global_failed(&self, failure: Failure) {
        Self::bump(self.global_failed.get(failure.code()).copied());
    }

    pub fn registry_agents(&self, count: usize) {
        if let Some(id) = self.registry_agents {
            let _ = hostcalls::record_metric(id, count as u64);
        }
    }
}

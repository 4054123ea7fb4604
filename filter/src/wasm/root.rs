//! The root context: configuration, slot creation, and on a one-second timer the remote JWKS
//! and agent registry fetches (see `registry.rs`).

use std::rc::Rc;
use std::time::Duration;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{ContextType, LogLevel};

use super::http::Filter;
use super::metrics::Metrics;
use super::registry::{self as follow, Held};
use super::shared::{self, HeldKeys, JwksSlot, SharedData};
use super::state::Configured;
use super::{log, now_ms};
use crate::Policy;
use crate::assertion::edge_claims;
use crate::headers::EDGE_ASSERTION;
use crate::jwt::jwks::FetchState;
use crate::jwt::{KeySet, KeySource};
use crate::ratelimit::SlotStore;

#[derive(Default)]
pub struct Root {
    state: Option<Rc<Configured>>,
    /// The JWKS fetches in flight (one per issuer at most): whose, the token and start time.
    fetching: Vec<(KeySource, u32, u64)>,
    /// The registry fetch in flight: its token.
    fetching_registry: Option<u32>,
}

/// Longest `ETag` kept (it is echoed back in `If-None-Match`).
const MAX_ETAG: usize = 128;

impl Context for Root {
    fn on_http_call_response(&mut self, token: u32, _headers: usize, body_size: usize, _: usize) {
        let Some(state) = self.state.clone() else {
            return;
        };
        if self.fetching_registry == Some(token) {
            self.fetching_registry = None;
            self.registry_answer(&state, body_size);
            return;
        }
        let Some(at) = self.fetching.iter().position(|(_, t, _)| *t == token) else {
            return;
        };
        let (source, _, started) = self.fetching.swap_remove(at);
        let slot = JwksSlot::of(source);
        let status = self.get_http_call_response_header(":status");
        let body = self
            .get_http_call_response_body(0, body_size)
            .unwrap_or_default();
        // A failed or invalid fetch keeps the keys already held.
        let valid = status.as_deref() == Some("200") && KeySet::from_jwks(&body).is_ok();
        state.metrics.jwks_fetch(valid);
        if !valid {
            log(
                LogLevel::Warn,
                &format!(
                    "vault-mcp-filter: {source:?} JWKS fetch refused (status {}, {} bytes); keeping held keys",
                    status.as_deref().unwrap_or("none"),
                    body.len()
                ),
            );
            return;
        }
        SharedData.create(slot.document, &body);
        // Publish the new fetch time; retry on CAS races with other workers' kid reports.
        for _ in 0..8 {
            let Some((current, cas)) = shared::fetch_state(slot) else {
                break;
            };
            let updated = FetchState {
                fetched_at: started.max(1),
                unknown_kid_seen: false,
                ..current
            };
            if shared::set_fetch_state(slot, &updated, cas) {
                break;
            }
        }
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let Some(bytes) = self.get_plugin_configuration() else {
            log(
                LogLevel::Critical,
                "vault-mcp-filter: no plugin configuration",
            );
            return false;
        };
        let policy = match Policy::from_json(&bytes, &|name| std::env::var(name).ok()) {
            Ok(policy) => policy,
            Err(error) => {
                // Returning false makes Envoy refuse the plugin: fail closed on bad config.
                log(
                    LogLevel::Critical,
                    &format!("vault-mcp-filter: invalid configuration: {error}"),
                );
                return false;
            }
        };
        if let Some(rate) = &policy.rate_limit {
            rate.limiter.create_slots(&SharedData);
        }
        for source in [KeySource::Agents, KeySource::OAuth] {
            let slot = JwksSlot::of(source);
            if policy
                .token_rules(source)
                .is_some_and(|j| j.remote.is_some())
                && SharedData.get(slot.state).is_none()
            {
                SharedData.create(slot.state, &FetchState::default().encode());
            }
        }
        if policy.registry.is_some() && SharedData.get(follow::STATE).is_none() {
            SharedData.create(follow::STATE, &follow::FetchState::default().encode());
        }
        // Every second: counters flushed, and the registry and the JWKS followed if configured.
        self.set_tick_period(Duration::from_secs(1));
        let registry = Held::default();
        if let Some(config) = &policy.registry {
            // A VM started after others fetched (a new worker, a reloaded listener) starts
            // with their snapshot.
            registry.sync(config.max_bytes);
        }
        self.state = Some(Rc::new(Configured {
            keys: HeldKeys::new(&policy),
            metrics: Metrics::define(),
            registry,
            policy,
        }));
        true
    }

    fn on_tick(&mut self) {
        let Some(state) = self.state.clone() else {
            return;
        };
        state.metrics.flush();
        self.tick_registry(&state);
        self.tick_jwks(&state, KeySource::Agents);
        self.tick_jwks(&state, KeySource::OAuth);
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Filter::new(self.state.clone()?)))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

impl Root {
    fn tick_registry(&mut self, state: &Configured) {
        let Some(config) = &state.policy.registry else {
            return;
        };
        state.registry.sync(config.max_bytes);
        if self.fetching_registry.is_some() {
            return;
        }
        let now = now_ms() / 1000;
        let Some((current, cas)) = follow::state() else {
            return;
        };
        // Until a first snapshot arrives, registry agents are refused: retry every second.
        let interval = if current.generation == 0 {
            1
        } else {
            config.refresh_seconds
        };
        if current.attempted_at != 0 && now.saturating_sub(current.attempted_at) < interval {
            return;
        }
        let claimed = follow::FetchState {
            attempted_at: now,
            ..current.clone()
        };
        if !follow::set_state(&claimed, cas) {
            return; // another worker's root fetches this round
        }
        let Some(key) = &state.policy.assertion_key else {
            return; // the configuration refuses a registry without one
        };
        let proof = key.sign(&edge_claims(&config.path), now);
        let mut headers = vec![
            (":method", "GET"),
            (":path", config.path.as_str()),
            (":authority", config.authority.as_str()),
            ("accept", "application/json"),
            (EDGE_ASSERTION, proof.as_str()),
        ];
        if !current.etag.is_empty() {
            headers.push(("if-none-match", current.etag.as_str()));
        }
        match self.dispatch_http_call(
            &config.cluster,
            headers,
            None,
            vec![],
            Duration::from_millis(config.timeout_ms),
        ) {
            Ok(token) => self.fetching_registry = Some(token),
            Err(status) => {
                state.metrics.registry_fetch(false);
                log(
                    LogLevel::Warn,
                    &format!("vault-mcp-filter: registry fetch not sent: {status:?}"),
                );
            }
        }
    }

    fn registry_answer(&self, state: &Configured, body_size: usize) {
        let Some(config) = &state.policy.registry else {
            return;
        };
        let now = now_ms() / 1000;
        let status = self.get_http_call_response_header(":status");
        let outcome = match status.as_deref() {
            Some("304") => {
                follow::update(|s| s.confirmed_at = now.max(1));
                Ok(None)
            }
            Some("200") if body_size > config.max_bytes => {
                Err(format!("{body_size} bytes, over max_bytes"))
            }
            Some("200") => {
                let body = self
                    .get_http_call_response_body(0, body_size)
                    .unwrap_or_default();
                let etag = self
                    .get_http_call_response_header("etag")
                    .filter(|e| e.len() <= MAX_ETAG)
                    .unwrap_or_default();
                follow::store(&body, &etag, config.max_bytes, now).map(Some)
            }
            other => Err(format!("status {}", other.unwrap_or("none"))),
        };
        state.metrics.registry_fetch(outcome.is_ok());
        match outcome {
            Ok(Some(agents)) => {
                state.metrics.registry_agents(agents);
                state.registry.sync(config.max_bytes);
                log(
                    LogLevel::Info,
                    &format!("vault-mcp-filter: registry snapshot with {agents} agents"),
                );
            }
            Ok(None) => {}
            Err(why) => log(
                LogLevel::Warn,
                &format!(
                    "vault-mcp-filter: registry fetch refused ({why}); keeping the last snapshot"
                ),
            ),
        }
    }

    fn tick_jwks(&mut self, state: &Configured, source: KeySource) {
        let Some(remote) = state
            .policy
            .token_rules(source)
            .and_then(|j| j.remote.as_ref())
        else {
            return;
        };
        if self.fetching.iter().any(|(s, _, _)| *s == source) {
            return;
        }
        let slot = JwksSlot::of(source);
        let now = now_ms() / 1000;
        let Some((current, cas)) = shared::fetch_state(slot) else {
            return;
        };
        if !remote.schedule.should_fetch(&current, now) {
            return;
        }
        // Every worker's root ticks; the one whose CAS wins fetches.
        let claimed = FetchState {
            attempted_at: now,
            ..current
        };
        if !shared::set_fetch_state(slot, &claimed, cas) {
            return;
        }
        match self.dispatch_http_call(
            &remote.cluster,
            vec![
                (":method", "GET"),
                (":path", &remote.path),
                (":authority", &remote.authority),
                ("accept", "application/json"),
            ],
            None,
            vec![],
            Duration::from_millis(remote.timeout_ms),
        ) {
            Ok(token) => self.fetching.push((source, token, now)),
            Err(status) => {
                state.metrics.jwks_fetch(false);
                log(
                    LogLevel::Warn,
                    &format!("vault-mcp-filter: {source:?} JWKS fetch not sent: {status:?}"),
                );
            }
        }
    }
}

//! The root context: configuration, slot creation, and the remote JWKS fetch on a timer.

use std::rc::Rc;
use std::time::Duration;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{ContextType, LogLevel};

use super::http::Filter;
use super::metrics::Metrics;
use super::shared::{self, JWKS_DOCUMENT, JWKS_STATE, KeyCache, SharedData};
use super::{log, now_ms};
use crate::Policy;
use crate::jwt::KeySet;
use crate::jwt::jwks::FetchState;
use crate::ratelimit::SlotStore;

#[derive(Default)]
pub struct Root {
    state: Option<Rc<Configured>>,
    /// The state this root's in-flight fetch will write on success.
    fetching: Option<(u32, u64)>,
}

/// What every HTTP context of this VM shares.
pub struct Configured {
    pub policy: Policy,
    pub keys: KeyCache,
    pub metrics: Metrics,
}

impl Context for Root {
    fn on_http_call_response(&mut self, token: u32, _headers: usize, body_size: usize, _: usize) {
        let Some(state) = self.state.clone() else {
            return;
        };
        let Some((pending, started)) = self.fetching.take() else {
            return;
        };
        if pending != token {
            return;
        }
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
                    "vault-mcp-filter: JWKS fetch refused (status {}, {} bytes); keeping held keys",
                    status.as_deref().unwrap_or("none"),
                    body.len()
                ),
            );
            return;
        }
        SharedData.create(JWKS_DOCUMENT, &body);
        // Publish the new fetch time; retry on CAS races with other workers' kid reports.
        for _ in 0..8 {
            let Some((current, cas)) = shared::fetch_state() else {
                break;
            };
            let updated = FetchState {
                fetched_at: started.max(1),
                unknown_kid_seen: false,
                ..current
            };
            if shared::set_fetch_state(&updated, cas) {
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
        let static_keys = policy
            .jwt
            .as_ref()
            .map(|j| j.static_keys.clone())
            .unwrap_or_default();
        if policy.jwt.as_ref().is_some_and(|j| j.remote.is_some()) {
            if SharedData.get(JWKS_STATE).is_none() {
                SharedData.create(JWKS_STATE, &FetchState::default().encode());
            }
            self.set_tick_period(Duration::from_secs(1));
        }
        self.state = Some(Rc::new(Configured {
            keys: KeyCache::new(static_keys),
            metrics: Metrics::define(),
            policy,
        }));
        true
    }

    fn on_tick(&mut self) {
        let Some(state) = self.state.clone() else {
            return;
        };
        let Some(remote) = state.policy.jwt.as_ref().and_then(|j| j.remote.as_ref()) else {
            return;
        };
        if self.fetching.is_some() {
            return;
        }
        let now = now_ms() / 1000;
        let Some((current, cas)) = shared::fetch_state() else {
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
        if !shared::set_fetch_state(&claimed, cas) {
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
            Ok(token) => self.fetching = Some((token, now)),
            Err(status) => {
                state.metrics.jwks_fetch(false);
                log(
                    LogLevel::Warn,
                    &format!("vault-mcp-filter: JWKS fetch not sent: {status:?}"),
                );
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Filter::new(self.state.clone()?)))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

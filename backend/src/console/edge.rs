//! What the console learns from the edge, through Envoy's admin (`CONSOLE_ENVOY_ADMIN_URL`): the
//! filter's counters (`wasmcustom.vault_mcp_filter.*`), read for the Health page, and sampled
//! every `SAMPLE_EVERY` into the last hour of refusals per minute, overall and per agent, for
//! the Traffic page. The backend never sees a request the edge refused, so only Envoy's
//! counters can tell who was refused and why.
//!
//! Counters are cumulative; a sample adds what grew since the previous one to the minute it was
//! taken in (the first sample is only a baseline, and a counter that went down means Envoy
//! restarted: its value is new). Per-agent series are kept only for agents of the registry.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use actix_web::web;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use vault_mcp_filter::error::Reason;

use super::Console;
use crate::traffic::{keep_last_hour, last_hour};

/// The filter's counters in Envoy's stats (Envoy prefixes custom wasm metrics).
const FILTER_STATS: &str = "wasmcustom.vault_mcp_filter.";
/// An admin that does not answer within this is shown as unreachable.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(3);
/// How often the refusal counters are sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(5);

#[derive(Deserialize)]
struct Stats {
    stats: Vec<Stat>,
}

#[derive(Deserialize)]
struct Stat {
    name: Option<String>,
    value: Option<Value>,
}

/// Envoy's admin as the console reads it: the stats URL and a client, made once.
pub struct EnvoyAdmin {
    stats_url: String,
    client: reqwest::Client,
}

impl EnvoyAdmin {
    pub fn new(admin: &str) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(ADMIN_TIMEOUT)
            .build()
            .map_err(|e| e.to_string())?;
        let stats_url = format!(
            "{}/stats?format=json&filter=^wasmcustom\\.vault_mcp_filter\\.",
            admin.trim_end_matches('/')
        );
        Ok(Self { stats_url, client })
    }

    /// The filter's counters and gauges by name (`allowed`, `denied.invalid_api_key`,
    /// `agent.{subject}.denied.rate_limited`, …).
    pub async fn filter_counters(&self) -> Result<BTreeMap<String, u64>, String> {
        let response = self
            .client
            .get(self.stats_url.as_str())
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if !response.status().is_success() {
            return Err(format!("Envoy admin answered {}", response.status()));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| e.without_url().to_string())?;
        let stats: Stats = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        Ok(stats
            .stats
            .into_iter()
            .filter_map(|s| {
                let name = s.name?.strip_prefix(FILTER_STATS)?.to_string();
                Some((name, s.value?.as_u64()?))
            })
            .collect())
    }
}

/// A refusal counter's name read back: whose (none: the overall one) and which code.
fn refusal_counter(name: &str) -> Option<(Option<&str>, &'static str)> {
    let (subject, code) = match name.strip_prefix("agent.") {
        // The code has no dot, so the last ".denied." ends the subject, whatever it holds.
        Some(rest) => rest.rsplit_once(".denied.").map(|(s, c)| (Some(s), c))?,
        None => (None, name.strip_prefix("denied.")?),
    };
    let code = Reason::CODES.iter().find(|(c, _)| *c == code)?.0;
    Some((subject, code))
}

type ByCode = BTreeMap<&'static str, u64>;

#[derive(Default)]
struct Minute {
    overall: ByCode,
    agents: HashMap<String, ByCode>,
}

#[derive(Default)]
struct Sampled {
    /// The refusal counters at the previous sample; `None` before the first.
    previous: Option<HashMap<String, u64>>,
    /// Unix minute → refusals counted in it; the last hour only.
    minutes: BTreeMap<u64, Minute>,
}

/// The edge's refusals of the last hour, as sampled from its counters.
#[derive(Default)]
pub struct EdgeRefusals {
    inner: Mutex<Sampled>,
}

/// One minute of refusals, by HTTP status (`"401"`, `"403"`, `"429"`, …).
#[derive(Debug, Serialize, PartialEq)]
pub struct RefusalPoint {
    /// Unix seconds at the minute's start.
    pub minute: u64,
    pub by_status: BTreeMap<u16, u64>,
}

impl EdgeRefusals {
    /// Adds what the counters grew by since the last sample; `known` says which subjects are
    /// the registry's (others count overall only).
    pub fn sample(
        &self,
        counters: &BTreeMap<String, u64>,
        known: impl Fn(&str) -> bool,
        now_ms: u64,
    ) {
        let minute = now_ms / 60_000;
        let mut guard = self.inner.lock().expect("refusals lock");
        let inner = &mut *guard;
        keep_last_hour(&mut inner.minutes, minute);
        let current: HashMap<String, u64> = counters
            .iter()
            .filter(|(name, _)| refusal_counter(name).is_some())
            .map(|(name, value)| (name.clone(), *value))
            .collect();
        let Some(previous) = inner.previous.replace(current) else {
            return; // the baseline: what Envoy counted before the console looked is not placed
        };
        let current = inner.previous.as_ref().expect("just stored");
        let counts = inner.minutes.entry(minute).or_default();
        for (name, value) in current {
            let before = previous.get(name).copied().unwrap_or(0);
            let grown = if *value >= before {
                value - before
            } else {
                *value
            };
            if grown == 0 {
                continue;
            }
            let Some((subject, code)) = refusal_counter(name) else {
                continue;
            };
            match subject {
                None => *counts.overall.entry(code).or_default() += grown,
                Some(subject) if known(subject) => {
                    let agent = counts.agents.entry(subject.to_string()).or_default();
                    *agent.entry(code).or_default() += grown;
                }
                Some(_) => {}
            }
        }
    }

    /// The last hour per minute (minutes without refusals included), and its totals by code;
    /// overall, or for one agent.
    pub fn series(&self, subject: Option<&str>, now_ms: u64) -> (Vec<RefusalPoint>, ByCode) {
        let inner = self.inner.lock().expect("refusals lock");
        let mut totals = ByCode::new();
        let points = last_hour(now_ms)
            .map(|minute| {
                let codes = inner.minutes.get(&minute).and_then(|m| match subject {
                    None => Some(&m.overall),
                    Some(s) => m.agents.get(s),
                });
                let mut by_status = BTreeMap::new();
                for (code, n) in codes.into_iter().flatten() {
                    *totals.entry(*code).or_default() += n;
                    let status = Reason::status_of(code).expect("codes come from Reason::CODES");
                    *by_status.entry(status).or_default() += n;
                }
                RefusalPoint {
                    minute: minute * 60,
                    by_status,
                }
            })
            .collect();
        (points, totals)
    }
}

/// Samples the edge's counters for as long as the console runs.
pub async fn sample_refusals(console: web::Data<Console>) {
    let Some(admin) = &console.envoy_admin else {
        return;
    };
    let mut ticks = tokio::time::interval(SAMPLE_EVERY);
    loop {
        ticks.tick().await;
        // An unreachable admin leaves a gap; the next sample counts what grew meanwhile.
        if let Ok(counters) = admin.filter_counters().await {
            let now_ms = crate::clock::unix_millis();
            console
                .refusals
                .sample(&counters, |s| console.gate.knows(s), now_ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_800_000_000_000;

    fn counters(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(n, v)| (n.to_string(), *v)).collect()
    }

    #[test]
    fn counter_names_are_read_back() {
        assert_eq!(
            refusal_counter("agent.a.denied.b.denied.rate_limited"),
            Some((Some("a.denied.b"), "rate_limited"))
        );
        assert_eq!(
            refusal_counter("denied.invalid_api_key"),
            Some((None, "invalid_api_key"))
        );
        for other in [
            "allowed",
            "denied.nope",
            "agent.a.denied.",
            "registry.agents",
        ] {
            assert_eq!(refusal_counter(other), None, "{other}");
        }
    }

    #[test]
    fn growth_between_samples_is_placed_in_its_minute_per_agent_and_status() {
        let refusals = EdgeRefusals::default();
        let known = |s: &str| s == "a";
        // The baseline: refusals from before the console looked are not placed.
        refusals.sample(&counters(&[("denied.rate_limited", 50)]), known, T0);
        refusals.sample(
            &counters(&[
                ("denied.rate_limited", 53),
                ("denied.insufficient_scope", 1),
                ("denied.invalid_api_key", 4),
                ("agent.a.denied.rate_limited", 3),
                ("agent.a.denied.insufficient_scope", 1),
                ("agent.stranger.denied.rate_limited", 9),
                ("allowed", 1000),
            ]),
            known,
            T0 + 5_000,
        );
        let (overall, totals) = refusals.series(None, T0 + 5_000);
        assert_eq!(overall.len(), 60);
        let last = &overall.last().unwrap().by_status;
        assert_eq!(last, &BTreeMap::from([(401, 4), (403, 1), (429, 3)]));
        assert_eq!(totals["rate_limited"], 3);
        let (a, a_totals) = refusals.series(Some("a"), T0 + 5_000);
        assert_eq!(
            a.last().unwrap().by_status,
            BTreeMap::from([(403, 1), (429, 3)])
        );
        assert_eq!(a_totals.len(), 2);
        let (stranger, _) = refusals.series(Some("stranger"), T0 + 5_000);
        assert!(
            stranger.iter().all(|p| p.by_status.is_empty()),
            "not in the registry"
        );
        // Envoy restarted: its counters start again from zero.
        refusals.sample(&counters(&[("denied.rate_limited", 2)]), known, T0 + 70_000);
        let (overall, _) = refusals.series(None, T0 + 70_000);
        assert_eq!(
            overall.last().unwrap().by_status,
            BTreeMap::from([(429, 2)])
        );
        // An hour on, the old minutes are gone.
        refusals.sample(
            &counters(&[("denied.rate_limited", 2)]),
            known,
            T0 + 3_700_000,
        );
        let (_, totals) = refusals.series(None, T0 + 3_700_000);
        assert!(totals.is_empty());
    }
}

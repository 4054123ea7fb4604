//! Recent traffic in this process, for the operator console's Traffic and Activity pages:
//! per minute for the last hour (requests, client and server errors, Vault errors, latency
//! percentiles), overall and per agent, and each agent's last requests. Fed by
//! `telemetry::observe` for every request the backend answers; never a header, body or value.
//!
//! Bounded whatever callers send: subjects are the edge's authenticated identities, at most
//! `MAX_AGENTS` of them are tracked (past it, requests count overall only; the console shows
//! only subjects of the registry), latencies are sampled up to `MAX_SAMPLES` per minute and
//! series, and each agent keeps its last `RECENT` requests and the last use of `KEYS` keys.
//! Key ids come signed from the edge (the registry's ids, never a key).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{LazyLock, Mutex};

use serde::Serialize;

const MINUTES: u64 = 60;
const MAX_AGENTS: usize = 10_000;
const MAX_SAMPLES: usize = 512;
const RECENT: usize = 100;
const KEYS: usize = 8;

pub static TRAFFIC: LazyLock<Traffic> = LazyLock::new(Traffic::default);

/// App data of a server whose requests are not agents' traffic (the console's own pages).
#[derive(Clone, Copy)]
pub struct Unrecorded;

/// Request data of a request standalone mode refused to an agent of the registry whose
/// credential was good: it counts in that agent's series and Activity (behind Envoy the edge's
/// refusals never reach the backend; the console samples Envoy's counters instead).
#[derive(Debug, Clone)]
pub struct RefusedAgent(pub String);

/// One answered request, as the Activity page lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Unix milliseconds.
    pub at: u64,
    pub method: String,
    /// The route template (`/secrets/{path:.*}`), never the path itself.
    pub route: String,
    /// The MCP method and tool when the request named them in headers (2026-07-28).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mcp: Option<String>,
    pub status: u16,
    pub duration_ms: f64,
    pub request_id: String,
}

#[derive(Debug, Default, Clone)]
struct Counts {
    requests: u64,
    client_errors: u64,
    server_errors: u64,
    vault_errors: u64,
    latencies_ms: Vec<f64>,
}

impl Counts {
    fn add(&mut self, status: u16, duration_ms: f64) {
        self.requests += 1;
        match status {
            400..=499 => self.client_errors += 1,
            // The statuses only Vault's failures produce (unreachable or sealed, timeout,
            // an error answer): see `error::ApiError::status_code`.
            502..=504 => {
                self.server_errors += 1;
                self.vault_errors += 1;
            }
            500.. => self.server_errors += 1,
            _ => {}
        }
        if self.latencies_ms.len() < MAX_SAMPLES {
            self.latencies_ms.push(duration_ms);
        }
    }
}

#[derive(Debug, Default)]
struct Minute {
    overall: Counts,
    agents: HashMap<String, Counts>,
}

#[derive(Default)]
pub struct Traffic {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Unix minute → its counts; only the last `MINUTES` are kept.
    minutes: BTreeMap<u64, Minute>,
    recent: HashMap<String, Recent>,
}

/// An agent's last requests, and when each of its API keys was last used.
#[derive(Default)]
struct Recent {
    events: VecDeque<Event>,
    /// Key id → Unix ms; at most `KEYS` (an agent holds one key, two while one is rotated).
    keys: HashMap<String, u64>,
}

/// What the console shows of one agent beside the registry's own data.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct AgentSummary {
    /// Requests in the last hour.
    pub requests: u64,
    /// Unix ms of its last answered request.
    pub last_seen_ms: u64,
    /// Key id → Unix ms of its last answered request made with that key.
    pub keys_last_used_ms: BTreeMap<String, u64>,
}

/// One minute of a series, as the Traffic page charts it.
#[derive(Debug, Serialize, PartialEq)]
pub struct Point {
    /// Unix seconds at the minute's start.
    pub minute: u64,
    pub requests: u64,
    pub client_errors: u64,
    pub server_errors: u64,
    pub vault_errors: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// Forgets the minutes an hour or more before `minute` (Unix minutes).
pub(crate) fn keep_last_hour<T>(minutes: &mut BTreeMap<u64, T>, minute: u64) {
    while minutes
        .first_key_value()
        .is_some_and(|(m, _)| *m + MINUTES <= minute)
    {
        minutes.pop_first();
    }
}

/// The Unix minutes of the hour up to `now_ms`, oldest first.
pub(crate) fn last_hour(now_ms: u64) -> std::ops::RangeInclusive<u64> {
    let now = now_ms / 60_000;
    now + 1 - MINUTES..=now
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

impl Traffic {
    /// Records an answered request; `subject` is the authenticated agent, if any, and `key_id`
    /// the registry key it presented.
    pub fn record(&self, subject: Option<&str>, key_id: Option<&str>, event: Event) {
        let minute = event.at / 60_000;
        let mut inner = self.inner.lock().expect("traffic lock");
        keep_last_hour(&mut inner.minutes, minute);
        let tracked =
            subject.filter(|s| inner.recent.contains_key(*s) || inner.recent.len() < MAX_AGENTS);
        let counts = inner.minutes.entry(minute).or_default();
        counts.overall.add(event.status, event.duration_ms);
        if let Some(subject) = tracked {
            counts
                .agents
                .entry(subject.to_string())
                .or_default()
                .add(event.status, event.duration_ms);
            let recent = inner.recent.entry(subject.to_string()).or_default();
            if let Some(id) = key_id {
                if !recent.keys.contains_key(id) && recent.keys.len() == KEYS {
                    // Forget the key unused longest (a revoked one, most likely).
                    let oldest = recent.keys.iter().min_by_key(|(_, at)| **at);
                    let oldest = oldest.map(|(id, _)| id.clone()).expect("KEYS > 0");
                    recent.keys.remove(&oldest);
                }
                recent.keys.insert(id.to_string(), event.at);
            }
            if recent.events.len() == RECENT {
                recent.events.pop_front();
            }
            recent.events.push_back(event);
        }
    }

    /// The last hour minute by minute (minutes without requests included), overall or for
    /// one agent; `now_ms` is the current time.
    pub fn series(&self, subject: Option<&str>, now_ms: u64) -> Vec<Point> {
        let inner = self.inner.lock().expect("traffic lock");
        last_hour(now_ms)
            .map(|minute| {
                let counts = inner.minutes.get(&minute).and_then(|m| match subject {
                    None => Some(&m.overall),
                    Some(s) => m.agents.get(s),
                });
                let mut sorted = counts.map(|c| c.latencies_ms.clone()).unwrap_or_default();
                sorted.sort_by(f64::total_cmp);
                Point {
                    minute: minute * 60,
                    requests: counts.map_or(0, |c| c.requests),
                    client_errors: counts.map_or(0, |c| c.client_errors),
                    server_errors: counts.map_or(0, |c| c.server_errors),
                    vault_errors: counts.map_or(0, |c| c.vault_errors),
                    p50_ms: percentile(&sorted, 0.5),
                    p99_ms: percentile(&sorted, 0.99),
                }
            })
            .collect()
    }

    /// Per agent: requests in the last hour, its last request, its keys' last use.
    pub fn per_agent(&self) -> HashMap<String, AgentSummary> {
        let inner = self.inner.lock().expect("traffic lock");
        let mut out: HashMap<String, AgentSummary> = HashMap::new();
        for minute in inner.minutes.values() {
            for (subject, counts) in &minute.agents {
                out.entry(subject.clone()).or_default().requests += counts.requests;
            }
        }
        for (subject, recent) in &inner.recent {
            let summary = out.entry(subject.clone()).or_default();
            summary.last_seen_ms = recent.events.back().map_or(0, |e| e.at);
            summary.keys_last_used_ms = recent.keys.clone().into_iter().collect();
        }
        out
    }

    /// An agent's last requests, newest first.
    pub fn recent(&self, subject: &str) -> Vec<Event> {
        let inner = self.inner.lock().expect("traffic lock");
        inner
            .recent
            .get(subject)
            .map(|r| r.events.iter().rev().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(at: u64, status: u16, ms: f64) -> Event {
        Event {
            at,
            method: "GET".into(),
            route: "/secrets/{path:.*}".into(),
            mcp: None,
            status,
            duration_ms: ms,
            request_id: format!("r{at}"),
        }
    }

    #[test]
    fn minutes_count_per_agent_and_overall_and_the_hour_rolls_over() {
        let traffic = Traffic::default();
        let t0 = 1_800_000_000_000;
        traffic.record(Some("a"), Some("k1"), event(t0, 200, 10.0));
        traffic.record(Some("a"), None, event(t0 + 1, 403, 30.0));
        traffic.record(Some("b"), None, event(t0 + 2, 503, 20.0));
        traffic.record(None, None, event(t0 + 3, 401, 1.0));
        let overall = traffic.series(None, t0);
        assert_eq!(overall.len(), 60);
        let last = overall.last().unwrap();
        assert_eq!(
            (
                last.requests,
                last.client_errors,
                last.server_errors,
                last.vault_errors
            ),
            (4, 2, 1, 1)
        );
        assert_eq!((last.p50_ms, last.p99_ms), (Some(10.0), Some(30.0)));
        let a = traffic.series(Some("a"), t0);
        assert_eq!(a.last().unwrap().requests, 2);
        let b = &traffic.per_agent()["b"];
        assert_eq!((b.requests, b.last_seen_ms), (1, t0 + 2));
        assert_eq!(traffic.per_agent()["a"].keys_last_used_ms["k1"], t0);
        assert_eq!(traffic.recent("a")[0].status, 403);
        // An hour later the old minute is gone from every series.
        let later = t0 + 3_600_000;
        traffic.record(Some("a"), Some("k2"), event(later, 200, 5.0));
        assert_eq!(
            traffic
                .series(None, later)
                .iter()
                .map(|p| p.requests)
                .sum::<u64>(),
            1
        );
        let a = &traffic.per_agent()["a"];
        assert_eq!((a.requests, a.last_seen_ms), (1, later));
        assert_eq!(
            a.keys_last_used_ms.len(),
            2,
            "k1 is remembered past the hour"
        );
        assert_eq!(a.keys_last_used_ms["k2"], later);
    }

    #[test]
    fn recent_requests_and_keys_are_bounded_per_agent() {
        let traffic = Traffic::default();
        for i in 0..(RECENT as u64 + 20) {
            let key = format!("k{}", i % (KEYS as u64 + 3));
            traffic.record(
                Some("a"),
                Some(&key),
                event(1_800_000_000_000 + i, 200, 1.0),
            );
        }
        let recent = traffic.recent("a");
        assert_eq!(recent.len(), RECENT);
        assert_eq!(
            recent[0].request_id,
            format!("r{}", 1_800_000_000_000 + RECENT as u64 + 19)
        );
        // The keys used last are kept, the others forgotten.
        let keys = &traffic.per_agent()["a"].keys_last_used_ms;
        assert_eq!(keys.len(), KEYS);
        let newest = 1_800_000_000_000 + RECENT as u64 + 19;
        assert!(keys.values().all(|at| *at > newest - KEYS as u64));
    }
}

//! Recent traffic in this process, for the operator console's Traffic and Activity pages:
//! per minute for the last hour (requests, client and server errors, Vault errors, latency
//! percentiles), overall and per agent, and each agent's last requests. Fed by
//! `telemetry::observe` for every request the backend answers; never a header, body or value.
//!
//! Bounded whatever callers send: subjects are the edge's authenticated identities, at most
//! `MAX_AGENTS` of them are tracked (past it, requests count overall only; the console shows
//! only subjects of the registry), latencies are sampled up to `MAX_SAMPLES` per minute and
//! series, and each agent keeps its last `RECENT` requests.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{LazyLock, Mutex};

use serde::Serialize;

const MINUTES: u64 = 60;
const MAX_AGENTS: usize = 10_000;
const MAX_SAMPLES: usize = 512;
const RECENT: usize = 100;

pub static TRAFFIC: LazyLock<Traffic> = LazyLock::new(Traffic::default);

/// App data of a server whose requests are not agents' traffic (the console's own pages).
#[derive(Clone, Copy)]
pub struct Unrecorded;

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
    recent: HashMap<String, VecDeque<Event>>,
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

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

impl Traffic {
    /// Records an answered request; `subject` is the authenticated agent, if any.
    pub fn record(&self, subject: Option<&str>, event: Event) {
        let minute = event.at / 60_000;
        let mut inner = self.inner.lock().expect("traffic lock");
        while inner
            .minutes
            .first_key_value()
            .is_some_and(|(m, _)| *m + MINUTES <= minute)
        {
            inner.minutes.pop_first();
        }
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
            if recent.len() == RECENT {
                recent.pop_front();
            }
            recent.push_back(event);
        }
    }

    /// The last hour minute by minute (minutes without requests included), overall or for
    /// one agent; `now_ms` is the current time.
    pub fn series(&self, subject: Option<&str>, now_ms: u64) -> Vec<Point> {
        let now = now_ms / 60_000;
        let inner = self.inner.lock().expect("traffic lock");
        (now + 1 - MINUTES..=now)
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

    /// Per agent: requests in the last hour, and when its last request was answered (Unix ms).
    pub fn per_agent(&self) -> HashMap<String, (u64, u64)> {
        let inner = self.inner.lock().expect("traffic lock");
        let mut out: HashMap<String, (u64, u64)> = HashMap::new();
        for minute in inner.minutes.values() {
            for (subject, counts) in &minute.agents {
                out.entry(subject.clone()).or_default().0 += counts.requests;
            }
        }
        for (subject, recent) in &inner.recent {
            if let Some(last) = recent.back() {
                out.entry(subject.clone()).or_default().1 = last.at;
            }
        }
        out
    }

    /// An agent's last requests, newest first.
    pub fn recent(&self, subject: &str) -> Vec<Event> {
        let inner = self.inner.lock().expect("traffic lock");
        inner
            .recent
            .get(subject)
            .map(|r| r.iter().rev().cloned().collect())
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
        traffic.record(Some("a"), event(t0, 200, 10.0));
        traffic.record(Some("a"), event(t0 + 1, 403, 30.0));
        traffic.record(Some("b"), event(t0 + 2, 503, 20.0));
        traffic.record(None, event(t0 + 3, 401, 1.0));
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
        assert_eq!(traffic.per_agent()["b"], (1, t0 + 2));
        assert_eq!(traffic.recent("a")[0].status, 403);
        // An hour later the old minute is gone from every series.
        let later = t0 + 3_600_000;
        traffic.record(Some("a"), event(later, 200, 5.0));
        assert_eq!(
            traffic
                .series(None, later)
                .iter()
                .map(|p| p.requests)
                .sum::<u64>(),
            1
        );
        assert_eq!(traffic.per_agent()["a"], (1, later));
    }

    #[test]
    fn recent_requests_are_bounded_per_agent() {
        let traffic = Traffic::default();
        for i in 0..(RECENT as u64 + 20) {
            traffic.record(Some("a"), event(1_800_000_000_000 + i, 200, 1.0));
        }
        let recent = traffic.recent("a");
        assert_eq!(recent.len(), RECENT);
        assert_eq!(
            recent[0].request_id,
            format!("r{}", 1_800_000_000_000 + RECENT as u64 + 19)
        );
    }
}

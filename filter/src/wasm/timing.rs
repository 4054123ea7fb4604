//! Where a request's time goes inside the VM, for `scripts/bench --only steps` (issue #15).
//!
//! Built only with `--features step-timing`: each step of `on_http_request_headers` is timed
//! with the host's nanosecond clock and summed per worker; every `REPORT_EVERY` requests the
//! worker logs the mean nanoseconds per request of each step, at warn level so Envoy's default
//! log shows it. Without the feature `time` is the closure itself and nothing is recorded.
//!
//! Reading the clock is itself a host call: the `clock pair` step is two back-to-back reads, so
//! its mean is what one measurement adds, and every other step carries it once.

#[cfg(feature = "step-timing")]
mod enabled {
    use std::cell::RefCell;

    use proxy_wasm::hostcalls;
    use proxy_wasm::types::LogLevel;

    use super::Step;

    const REPORT_EVERY: u64 = 500;

    #[derive(Default)]
    struct Totals {
        requests: u64,
        nanos: [u64; Step::ALL.len()],
        calls: [u64; Step::ALL.len()],
    }

    thread_local! {
        static TOTALS: RefCell<Totals> = RefCell::new(Totals::default());
    }

    fn nanos() -> u64 {
        hostcalls::get_current_time()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as u64)
    }

    pub fn time<T>(step: Step, f: impl FnOnce() -> T) -> T {
        let start = nanos();
        let out = f();
        let spent = nanos().saturating_sub(start);
        TOTALS.with(|t| {
            let mut t = t.borrow_mut();
            t.nanos[step as usize] += spent;
            t.calls[step as usize] += 1;
        });
        out
    }

    pub fn request_done() {
        time(Step::ClockPair, || ());
        let report = TOTALS.with(|t| {
            let mut t = t.borrow_mut();
            t.requests += 1;
            if t.requests < REPORT_EVERY {
                return None;
            }
            let n = t.requests;
            let steps: Vec<String> = Step::ALL
                .iter()
                .map(|s| {
                    let i = *s as usize;
                    format!(
                        "{}={}ns/{:.2}",
                        s.name(),
                        t.nanos[i] / n,
                        t.calls[i] as f64 / n as f64
                    )
                })
                .collect();
            *t = Totals::default();
            Some(format!("step-timing requests={n} {}", steps.join(" ")))
        });
        if let Some(line) = report {
            let _ = hostcalls::log(LogLevel::Warn, &line);
        }
    }
}

/// The timed steps (`name=mean ns per request/calls per request` in the report).
// Without the feature only `time` is called: the names and the calibration step go unused.
#[cfg_attr(not(feature = "step-timing"), allow(dead_code))]
#[derive(Clone, Copy)]
pub enum Step {
    /// The whole `on_http_request_headers` callback.
    Callback,
    /// `get_http_request_headers`: every header copied into the VM.
    ReadHeaders,
    /// Connection and metadata properties (mTLS, `jwt_authn`), when configured.
    Properties,
    /// The JWKS and registry snapshots the request is decided with.
    Snapshots,
    /// One host clock read (the request's `now`).
    Clock,
    /// `decision::on_headers`, shared-data calls included.
    Decision,
    /// Shared-data reads and writes (the rate limiter's slots), inside the decision.
    SharedData,
    /// Header removals and sets, one host call each.
    Rewrite,
    /// Two clock reads back to back: what one measurement itself costs.
    ClockPair,
}

#[cfg_attr(not(feature = "step-timing"), allow(dead_code))]
impl Step {
    pub const ALL: [Step; 9] = [
        Step::Callback,
        Step::ReadHeaders,
        Step::Properties,
        Step::Snapshots,
        Step::Clock,
        Step::Decision,
        Step::SharedData,
        Step::Rewrite,
        Step::ClockPair,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Step::Callback => "callback",
            Step::ReadHeaders => "read_headers",
            Step::Properties => "properties",
            Step::Snapshots => "snapshots",
            Step::Clock => "clock",
            Step::Decision => "decision",
            Step::SharedData => "shared_data",
            Step::Rewrite => "rewrite",
            Step::ClockPair => "clock_pair",
        }
    }
}

#[cfg(feature = "step-timing")]
pub use enabled::{request_done, time};

#[cfg(not(feature = "step-timing"))]
#[inline(always)]
pub fn time<T>(_step: Step, f: impl FnOnce() -> T) -> T {
    f()
}

#[cfg(not(feature = "step-timing"))]
#[inline(always)]
pub fn request_done() {}

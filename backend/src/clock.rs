//! The one wall clock: Unix time, for records, expiries, assertions and the traffic store
//! (0 for a clock set before 1970, which nothing here can do better with).

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix seconds now.
pub fn unix_seconds() -> u64 {
    since_epoch().as_secs()
}

/// Unix milliseconds now.
pub fn unix_millis() -> u64 {
    u64::try_from(since_epoch().as_millis()).unwrap_or(u64::MAX)
}

fn since_epoch() -> std::time::Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

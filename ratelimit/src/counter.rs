//! Fixed-window counters in Redis, taken in one atomic step per request.
//!
//! A window is aligned to its unit (a minute's window starts on the minute), as Envoy's own
//! reference service counts. One Lua script reads every counter a request names and increments
//! them all only if none would pass its limit: two Envoys asking at the same moment cannot both
//! take the last request of a window (a read followed by a separate increment can: that is how
//! `limitador` 0.14 over-admits under concurrency), and a refused request costs nothing.

use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;

/// One counter a request asks about: its identity, its limit, and how many hits it adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    /// The descriptor's entries, in order.
    pub entries: Vec<(String, String)>,
    pub limit: u32,
    pub window: Window,
    /// 0 reads the counter without adding to it.
    pub hits: u64,
}

/// The protocol's units that have a fixed length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    Second,
    Minute,
    Hour,
    Day,
}

impl Window {
    pub fn seconds(self) -> u64 {
        match self {
            Window::Second => 1,
            Window::Minute => 60,
            Window::Hour => 3_600,
            Window::Day => 86_400,
        }
    }
}

/// What a counter holds after the request, and when its window ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    pub over: bool,
    pub remaining: u32,
    pub resets_in: Duration,
}

/// Increments every counter by its hits if all stay within their limits, else none. Returns
/// each counter's value afterwards (what it held before, for a refused request), then for each
/// whether it was over. A key named twice is checked with both
/// hits together. Each counter expires when its window has ended (ARGV per key: hits, limit,
/// the window's end in unix seconds).
const TAKE: &str = r#"
local take = true
local held = {}
local over = {}
local adding = {}
for i, key in ipairs(KEYS) do
  local used = tonumber(redis.call('GET', key) or '0')
  held[i] = used
  local hits = tonumber(ARGV[3 * i - 2])
  adding[key] = (adding[key] or 0) + hits
  over[i] = 0
  if hits > 0 and used + adding[key] > tonumber(ARGV[3 * i - 1]) then
    take = false
    over[i] = 1
  end
end
if take then
  for i, key in ipairs(KEYS) do
    local hits = tonumber(ARGV[3 * i - 2])
    if hits > 0 then
      held[i] = redis.call('INCRBY', key, hits)
      redis.call('EXPIREAT', key, ARGV[3 * i])
    end
  end
end
for i = 1, #KEYS do
  table.insert(held, over[i])
end
return held
"#;

pub struct Counters {
    redis: ConnectionManager,
    script: Script,
}

#[derive(Debug, thiserror::Error)]
pub enum CountError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis answered {0} values where {1} were due")]
    Answer(usize, usize),
}

impl Counters {
    pub fn new(redis: ConnectionManager) -> Self {
        Self {
            redis,
            script: Script::new(TAKE),
        }
    }

    /// Takes the hits of every counter, or none of them, at `now` (seconds since the epoch).
    pub async fn take(
        &self,
        domain: &str,
        counters: &[Counter],
        now: Duration,
    ) -> Result<Vec<Count>, CountError> {
        if counters.is_empty() {
            return Ok(Vec::new());
        }
        let mut invocation = self.script.prepare_invoke();
        let mut windows = Vec::with_capacity(counters.len());
        for counter in counters {
            let unit = counter.window.seconds();
            let start = now.as_secs() - now.as_secs() % unit;
            let ends = Duration::from_secs(start + unit);
            windows.push(ends.saturating_sub(now));
            // Gone a second past the window's end (a late straggler still finds it).
            invocation
                .key(key(domain, counter, start))
                .arg(counter.hits)
                .arg(counter.limit)
                .arg(start + unit + 1);
        }
        let answer: Vec<u64> = invocation.invoke_async(&mut self.redis.clone()).await?;
        if answer.len() != 2 * counters.len() {
            return Err(CountError::Answer(answer.len(), 2 * counters.len()));
        }
        let (held, over) = answer.split_at(counters.len());
        Ok(counters
            .iter()
            .zip(held.iter().zip(over))
            .zip(windows)
            .map(|((counter, (used, over)), resets_in)| Count {
                over: *over == 1,
                remaining: u32::try_from(u64::from(counter.limit).saturating_sub(*used))
                    .unwrap_or(0),
                resets_in,
            })
            .collect())
    }
}

/// `vmrl:` then the domain, each entry and the window, every part length-prefixed so no two
/// descriptors share a key.
fn key(domain: &str, counter: &Counter, window_start: u64) -> String {
    let mut key = format!("vmrl:{}:{}", domain.len(), domain);
    for (name, value) in &counter.entries {
        key.push_str(&format!(
            ":{}:{}{}:{}",
            name.len(),
            name,
            value.len(),
            value
        ));
    }
    key.push_str(&format!(":u{}:w{}", counter.window.seconds(), window_start));
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(entries: &[(&str, &str)]) -> Counter {
        Counter {
            entries: entries
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            limit: 1,
            window: Window::Minute,
            hits: 1,
        }
    }

    #[test]
    fn keys_of_different_descriptors_differ() {
        let a = counter(&[("agent", "a:b"), ("tool", "c")]);
        let b = counter(&[("agent", "a"), ("tool", "b:c")]);
        let c = counter(&[("agent", "a:b:tool:c")]);
        let d = counter(&[("agent", "a:b"), ("budget", "c")]);
        let keys: Vec<_> = [&a, &b, &c, &d].iter().map(|x| key("d", x, 60)).collect();
        for (i, one) in keys.iter().enumerate() {
            assert!(keys[i + 1..].iter().all(|other| other != one), "{keys:?}");
        }
    }

    #[test]
    fn the_window_is_aligned_to_its_unit() {
        let c = counter(&[("agent", "x")]);
        assert!(key("d", &c, 120).ends_with(":u60:w120"));
    }
}

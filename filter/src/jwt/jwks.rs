//! When to fetch a remote JWKS: on start, when the cache ages out, and at most once per cooldown
//! when a token names an unknown `kid` (so a flood of random kids costs one fetch per cooldown).
//! A failed fetch keeps the keys already held.

/// Remote-JWKS timing, from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Keys are refreshed this long after a successful fetch.
    pub cache_seconds: u64,
    /// Fetches are at least this far apart, whatever asks for them.
    pub cooldown_seconds: u64,
}

/// What the fetcher knows, kept in shared data so every worker sees the same.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchState {
    /// When keys were last fetched successfully (unix seconds); 0 = never.
    pub fetched_at: u64,
    /// When a fetch was last started; 0 = never.
    pub attempted_at: u64,
    /// A token named a kid we do not hold.
    pub unknown_kid_seen: bool,
}

impl FetchState {
    pub fn encode(&self) -> [u8; 17] {
        let mut out = [0u8; 17];
        out[..8].copy_from_slice(&self.fetched_at.to_le_bytes());
        out[8..16].copy_from_slice(&self.attempted_at.to_le_bytes());
        out[16] = u8::from(self.unknown_kid_seen);
        out
    }

    pub fn decode(bytes: &[u8]) -> Self {
        let word = |i: usize| {
            bytes
                .get(i..i + 8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_le_bytes)
                .unwrap_or(0)
        };
        FetchState {
            fetched_at: word(0),
            attempted_at: word(8),
            unknown_kid_seen: bytes.get(16).is_some_and(|b| *b == 1),
        }
    }
}

impl Schedule {
    pub fn should_fetch(&self, state: &FetchState, now: u64) -> bool {
        let cooled_down = state.attempted_at == 0
            || now.saturating_sub(state.attempted_at) >= self.cooldown_seconds;
        let stale =
            state.fetched_at == 0 || now.saturating_sub(state.fetched_at) >= self.cache_seconds;
        cooled_down && (stale || state.unknown_kid_seen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEDULE: Schedule = Schedule {
        cache_seconds: 300,
        cooldown_seconds: 30,
    };

    #[test]
    fn fetch_decisions() {
        let never = FetchState::default();
        let fresh = FetchState {
            fetched_at: 1000,
            attempted_at: 1000,
            unknown_kid_seen: false,
        };
        let failing = FetchState {
            fetched_at: 0,
            attempted_at: 1000,
            unknown_kid_seen: false,
        };
        let cases = [
            (never, 1000, true),
            (fresh, 1010, false),
            (fresh, 1299, false),
            (fresh, 1300, true),
            (
                FetchState {
                    unknown_kid_seen: true,
                    ..fresh
                },
                1010,
                false,
            ),
            (
                FetchState {
                    unknown_kid_seen: true,
                    ..fresh
                },
                1030,
                true,
            ),
            (failing, 1029, false),
            (failing, 1030, true),
        ];
        for (state, now, expected) in cases {
            assert_eq!(
                SCHEDULE.should_fetch(&state, now),
                expected,
                "{state:?} {now}"
            );
        }
    }

    #[test]
    fn state_round_trips() {
        let state = FetchState {
            fetched_at: 7,
            attempted_at: 9,
            unknown_kid_seen: true,
        };
        assert_eq!(FetchState::decode(&state.encode()), state);
        assert_eq!(FetchState::decode(&[]), FetchState::default());
    }
}

//! Per-agent token buckets that hold across Envoy's worker threads.
//!
//! Each worker runs its own VM; what they share is Envoy's shared-data store, whose only atomic
//! operation is compare-and-swap on a key that already exists (a set on a missing key always
//! succeeds, so two workers can both "create" one). The limiter therefore never creates keys on
//! the request path: a fixed table of slots is created at configure time, and requests only
//! claim and update slots with CAS. A bucket lives in the slot its id hashes to (or one of the
//! next few); a slot whose bucket has refilled completely holds nothing worth keeping and may be
//! claimed by another bucket. The table's size bounds the key space.

/// Where slots live: Envoy's shared data in the filter, a map in tests.
pub trait SlotStore {
    /// The slot's bytes and CAS token, or `None` if the slot does not exist.
    fn get(&self, key: &str) -> Option<(Vec<u8>, u32)>;
    /// Writes the slot only if its CAS token is still `cas`; false when another writer won.
    fn compare_and_set(&self, key: &str, value: &[u8], cas: u32) -> bool;
    /// Creates a missing slot (configure time only; not atomic).
    fn create(&self, key: &str, value: &[u8]);
}

/// A bucket's size and refill: `requests` per `per_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    pub requests: u32,
    pub per_seconds: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Over the limit; retry after this many seconds.
    Limited { retry_after: u64 },
    /// Every slot a bucket may use is held by another active bucket.
    NoSlot,
    /// The slot table was never created (the limiter is not configured in this VM).
    Unavailable,
}

/// Slots a bucket may try, starting at its hash.
const PROBES: u32 = 8;
/// CAS attempts on one slot before giving up on it (only under heavy contention).
const CAS_ATTEMPTS: u32 = 64;
/// One token, in the milli-tokens buckets count in.
const TOKEN: u64 = 1000;

#[derive(Debug, Clone)]
pub struct Limiter {
    prefix: String,
    slots: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Slot {
    /// Milli-tokens left at `updated_ms`.
    tokens: u64,
    updated_ms: u64,
    /// When the bucket will be full again; from then on the slot may be reclaimed.
    full_at_ms: u64,
    id: Vec<u8>,
}

impl Slot {
    fn empty() -> Self {
        Slot {
            tokens: 0,
            updated_ms: 0,
            full_at_ms: 0,
            id: Vec::new(),
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(24 + self.id.len());
        out.extend_from_slice(&self.tokens.to_le_bytes());
        out.extend_from_slice(&self.updated_ms.to_le_bytes());
        out.extend_from_slice(&self.full_at_ms.to_le_bytes());
        out.extend_from_slice(&self.id);
        out
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let word = |i: usize| Some(u64::from_le_bytes(bytes.get(i..i + 8)?.try_into().ok()?));
        Some(Slot {
            tokens: word(0)?,
            updated_ms: word(8)?,
            full_at_ms: word(16)?,
            id: bytes.get(24..)?.to_vec(),
        })
    }
}

impl Limit {
    fn capacity(&self) -> u64 {
        u64::from(self.requests.max(1)) * TOKEN
    }

    fn period_ms(&self) -> u64 {
        u64::from(self.per_seconds.max(1)) * 1000
    }

    /// Milli-tokens regained in `elapsed_ms`.
    fn refill(&self, elapsed_ms: u64) -> u64 {
        let regained =
            u128::from(elapsed_ms) * u128::from(self.capacity()) / u128::from(self.period_ms());
        u64::try_from(regained).unwrap_or(u64::MAX)
    }

    /// Milliseconds until `missing` milli-tokens are regained.
    fn time_to_regain(&self, missing: u64) -> u64 {
        let ms = (u128::from(missing) * u128::from(self.period_ms()))
            .div_ceil(u128::from(self.capacity()));
        u64::try_from(ms).unwrap_or(u64::MAX)
    }
}

impl Limiter {
    /// How many buckets can be active at once (the slot table's size).
    pub fn slots(&self) -> u32 {
        self.slots
    }

    pub fn new(prefix: impl Into<String>, slots: u32) -> Self {
        Self {
            prefix: prefix.into(),
            slots: slots.max(1),
        }
    }

    fn key(&self, index: u32) -> String {
        format!("{}{}", self.prefix, index)
    }

    /// Creates the slots that do not exist yet. Called from `on_configure`, before traffic.
    pub fn create_slots(&self, store: &impl SlotStore) {
        let empty = Slot::empty().encode();
        for index in 0..self.slots {
            let key = self.key(index);
            if store.get(&key).is_none() {
                store.create(&key, &empty);
            }
        }
    }

    /// Takes one token from bucket `id` (e.g. the subject, or subject and tool).
    ///
    /// A bucket lives in the lowest of its probe slots that holds its id. A new bucket claims
    /// the first free slot; if a concurrent request of another worker claimed a lower one for
    /// the same id at the same moment, the higher claim is given back and the token is taken
    /// from the lower one, so one id never has two live buckets.
    pub fn take(
        &self,
        store: &impl SlotStore,
        id: &str,
        limit: Limit,
        now_ms: u64,
    ) -> Result<(), Refusal> {
        let start = fnv1a(id.as_bytes()) % self.slots;
        let probes = PROBES.min(self.slots);
        for _ in 0..CAS_ATTEMPTS {
            // Slots are read in probe order and only until the bucket's own: the first slot
            // holding the id is the lowest one, which is where the bucket lives. Almost every
            // request stops at the first probe (one read, one CAS).
            let mut seen: Vec<(String, Slot, u32)> = Vec::new();
            let mut own = None;
            for probe in 0..probes {
                let key = self.key((start + probe) % self.slots);
                let (bytes, cas) = store.get(&key).ok_or(Refusal::Unavailable)?;
                let slot = Slot::decode(&bytes).unwrap_or_else(Slot::empty);
                if slot.id == id.as_bytes() {
                    own = Some((key, slot, cas));
                    break;
                }
                seen.push((key, slot, cas));
            }
            if let Some((key, slot, cas)) = own {
                let elapsed = now_ms.saturating_sub(slot.updated_ms);
                let current = slot
                    .tokens
                    .saturating_add(limit.refill(elapsed))
                    .min(limit.capacity());
                match self.spend(store, &key, id, limit, current, cas, now_ms)? {
                    true => return Ok(()),
                    false => continue, // lost a race on this slot: look again
                }
            }
            // No slot holds the bucket, so all probes were read: claim the first free one.
            let Some(index) = seen
                .iter()
                .position(|(_, s, _)| s.id.is_empty() || now_ms >= s.full_at_ms)
            else {
                return Err(Refusal::NoSlot);
            };
            let (key, _, cas) = &seen[index];
            if !self.spend(store, key, id, limit, limit.capacity(), *cas, now_ms)? {
                continue;
            }
            let lower_claim = seen[..index].iter().any(|(lower, _, _)| {
                store
                    .get(lower)
                    .and_then(|(bytes, _)| Slot::decode(&bytes))
                    .is_some_and(|s| s.id == id.as_bytes())
            });
            if !lower_claim {
                return Ok(());
            }
            // Give the duplicate back (if nobody touched it since) and spend from the lower one.
            if let Some((bytes, cas)) = store.get(key)
                && Slot::decode(&bytes).is_some_and(|s| s.id == id.as_bytes())
            {
                store.compare_and_set(key, &Slot::empty().encode(), cas);
            }
        }
        Err(Refusal::NoSlot)
    }

    /// Writes `current - 1 token` into slot `key` if it is still at `cas`.
    #[allow(clippy::too_many_arguments)]
    fn spend(
        &self,
        store: &impl SlotStore,
        key: &str,
        id: &str,
        limit: Limit,
        current: u64,
        cas: u32,
        now_ms: u64,
    ) -> Result<bool, Refusal> {
        if current < TOKEN {
            return Err(Refusal::Limited {
                retry_after: limit.time_to_regain(TOKEN - current).div_ceil(1000).max(1),
            });
        }
        let tokens = current - TOKEN;
        let updated = Slot {
            tokens,
            updated_ms: now_ms,
            full_at_ms: now_ms + limit.time_to_regain(limit.capacity() - tokens),
            id: id.as_bytes().to_vec(),
        };
        Ok(store.compare_and_set(key, &updated.encode(), cas))
    }
}

/// Slots in process memory, with the same semantics as Envoy's shared data: for the backend's
/// standalone mode (one process, many threads) and for tests.
#[derive(Debug, Default)]
pub struct MemoryStore {
    slots: std::sync::Mutex<std::collections::HashMap<String, (Vec<u8>, u32)>>,
}

impl SlotStore for MemoryStore {
    fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.slots.lock().expect("slot lock").get(key).cloned()
    }

    fn compare_and_set(&self, key: &str, value: &[u8], cas: u32) -> bool {
        let mut slots = self.slots.lock().expect("slot lock");
        match slots.get_mut(key) {
            Some(entry) if entry.1 == cas => {
                *entry = (value.to_vec(), cas.wrapping_add(1));
                true
            }
            _ => false,
        }
    }

    fn create(&self, key: &str, value: &[u8]) {
        self.slots
            .lock()
            .expect("slot lock")
            .insert(key.to_string(), (value.to_vec(), 1));
    }
}

/// FNV-1a: a stable hash, the same in every VM (std's hasher is randomly seeded).
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |hash, byte| {
        (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use std::cell::RefCell;

    /// [`MemoryStore`] whose next CAS writes can be made to lose, as if another worker won.
    #[derive(Default)]
    pub struct FlakyStore {
        inner: MemoryStore,
        pub fail_next_cas: RefCell<u32>,
    }

    impl SlotStore for FlakyStore {
        fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
            self.inner.get(key)
        }
        fn compare_and_set(&self, key: &str, value: &[u8], cas: u32) -> bool {
            if *self.fail_next_cas.borrow() > 0 {
                *self.fail_next_cas.borrow_mut() -= 1;
                // Someone else wrote meanwhile: the slot's CAS moves on.
                let (bytes, current) = self.inner.get(key).unwrap();
                assert!(self.inner.compare_and_set(key, &bytes, current));
                return false;
            }
            self.inner.compare_and_set(key, value, cas)
        }
        fn create(&self, key: &str, value: &[u8]) {
            self.inner.create(key, value)
        }
    }

    const LIMIT: Limit = Limit {
        requests: 3,
        per_seconds: 60,
    };

    fn limiter(store: &MemoryStore, slots: u32) -> Limiter {
        let limiter = Limiter::new("rl.", slots);
        limiter.create_slots(store);
        limiter
    }

    #[test]
    fn admits_exactly_the_limit_then_refills() {
        let store = MemoryStore::default();
        let limiter = limiter(&store, 16);
        for _ in 0..3 {
            assert_eq!(limiter.take(&store, "a", LIMIT, 1_000), Ok(()));
        }
        assert_eq!(
            limiter.take(&store, "a", LIMIT, 1_000),
            Err(Refusal::Limited { retry_after: 20 })
        );
        // Another bucket is independent.
        assert_eq!(limiter.take(&store, "b", LIMIT, 1_000), Ok(()));
        // One token back every 20 s.
        assert!(limiter.take(&store, "a", LIMIT, 20_999).is_err());
        assert_eq!(limiter.take(&store, "a", LIMIT, 21_000), Ok(()));
        assert!(limiter.take(&store, "a", LIMIT, 21_000).is_err());
    }

    #[test]
    fn lost_cas_races_retry_without_double_spending() {
        let store = FlakyStore::default();
        let limiter = Limiter::new("rl.", 4);
        limiter.create_slots(&store);
        *store.fail_next_cas.borrow_mut() = 5;
        let admitted = (0..10)
            .filter(|_| limiter.take(&store, "a", LIMIT, 0).is_ok())
            .count();
        assert_eq!(admitted, 3);
    }

    #[test]
    fn full_buckets_give_up_their_slot_and_the_table_is_bounded() {
        let store = MemoryStore::default();
        let limiter = limiter(&store, 2);
        assert_eq!(limiter.take(&store, "a", LIMIT, 0), Ok(()));
        assert_eq!(limiter.take(&store, "b", LIMIT, 0), Ok(()));
        // Two active buckets hold both slots: a third has nowhere to go.
        assert_eq!(limiter.take(&store, "c", LIMIT, 0), Err(Refusal::NoSlot));
        // Once "a" and "b" have refilled (20 s for one token), their slots are free again.
        assert_eq!(limiter.take(&store, "c", LIMIT, 20_000), Ok(()));
    }

    #[test]
    fn a_bucket_stays_in_its_slot_when_an_earlier_slot_frees_up() {
        let store = MemoryStore::default();
        let limiter = limiter(&store, 1024);
        let start = fnv1a(b"a") % 1024;
        // Another bucket holds "a"'s first slot, so "a" lives in the second.
        let blocker = Slot {
            tokens: 0,
            updated_ms: 0,
            full_at_ms: 60_000,
            id: b"x".to_vec(),
        };
        let first = limiter.key(start);
        let (_, cas) = store.get(&first).unwrap();
        assert!(store.compare_and_set(&first, &blocker.encode(), cas));
        for _ in 0..3 {
            assert_eq!(limiter.take(&store, "a", LIMIT, 0), Ok(()));
        }
        // The first slot is reclaimable from 60 s on; "a" is still empty at 19 s.
        assert!(limiter.take(&store, "a", LIMIT, 19_000).is_err());
        let later = Slot {
            full_at_ms: 0,
            ..blocker
        };
        let (_, cas) = store.get(&first).unwrap();
        assert!(store.compare_and_set(&first, &later.encode(), cas));
        assert!(limiter.take(&store, "a", LIMIT, 19_000).is_err());
    }

    /// A store in which, just before our first write, another worker claims `slot` for `id`.
    struct RacingStore<'a> {
        inner: &'a MemoryStore,
        race: RefCell<Option<(String, Vec<u8>)>>,
    }

    impl SlotStore for RacingStore<'_> {
        fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
            self.inner.get(key)
        }
        fn compare_and_set(&self, key: &str, value: &[u8], cas: u32) -> bool {
            if let Some((slot, bytes)) = self.race.borrow_mut().take() {
                let (_, other_cas) = self.inner.get(&slot).unwrap();
                assert!(self.inner.compare_and_set(&slot, &bytes, other_cas));
            }
            self.inner.compare_and_set(key, value, cas)
        }
        fn create(&self, key: &str, value: &[u8]) {
            self.inner.create(key, value)
        }
    }

    #[test]
    fn a_concurrent_duplicate_claim_is_given_back() {
        let store = MemoryStore::default();
        let limiter = limiter(&store, 1024);
        let start = fnv1a(b"a") % 1024;
        let (first, second) = (limiter.key(start), limiter.key(start + 1));
        // Our worker sees "a"'s first slot held by a bucket that is full at 10 ms …
        let blocker = Slot {
            tokens: 0,
            updated_ms: 0,
            full_at_ms: 10,
            id: b"x".to_vec(),
        };
        let (_, cas) = store.get(&first).unwrap();
        assert!(store.compare_and_set(&first, &blocker.encode(), cas));
        // … while another worker, at 10 ms, reclaims it for "a" and spends one token.
        let theirs = Slot {
            tokens: 2000,
            updated_ms: 5,
            full_at_ms: 40_000,
            id: b"a".to_vec(),
        };
        let racing = RacingStore {
            inner: &store,
            race: RefCell::new(Some((first.clone(), theirs.encode()))),
        };
        assert_eq!(limiter.take(&racing, "a", LIMIT, 5), Ok(()));
        // Our duplicate claim in the second slot was given back; the token came from the first.
        let second_slot = Slot::decode(&store.get(&second).unwrap().0).unwrap();
        assert!(second_slot.id.is_empty());
        assert_eq!(limiter.take(&store, "a", LIMIT, 5), Ok(()));
        assert!(limiter.take(&store, "a", LIMIT, 5).is_err());
    }

    #[test]
    fn missing_table_fails_closed() {
        let store = MemoryStore::default();
        let limiter = Limiter::new("rl.", 4);
        assert_eq!(
            limiter.take(&store, "a", LIMIT, 0),
            Err(Refusal::Unavailable)
        );
    }

    #[test]
    fn slot_encoding_round_trips() {
        let slot = Slot {
            tokens: 5,
            updated_ms: 6,
            full_at_ms: 7,
            id: b"agent\x1fkv.read".to_vec(),
        };
        assert_eq!(Slot::decode(&slot.encode()), Some(slot));
        assert_eq!(Slot::decode(&[1, 2, 3]), None);
    }
}

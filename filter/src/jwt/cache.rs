//! Tokens already verified, remembered until they expire, so an agent that presents the same
//! token on every call pays for its signature once (an RS256 verify costs about 1 ms inside
//! Envoy's V8, a lookup a few microseconds).
//!
//! Entries are keyed by the whole token, so a hit means these exact bytes were verified before
//! (no digest to compute: hashing a 1 KiB token with SHA-256 in wasm costs more than the map
//! lookup). Tokens over [`MAX_CACHED_TOKEN`] are verified every time, which bounds the memory
//! at capacity × 4 KiB. Entries are only valid for the key set they were verified with (a JWKS that
//! drops a key drops its tokens too) and `exp`/`nbf` are checked again on every hit. The cache
//! is bounded (least recently used entries go first), and one per VM: Envoy's workers do not
//! share it, which costs at most one verification per worker and token.

use std::num::NonZeroUsize;
use std::sync::Mutex;

use lru::LruCache;

use crate::identity::Identity;

/// Entries kept when the configuration does not say.
pub const DEFAULT_CAPACITY: usize = 1024;
/// Longest token that is cached.
pub const MAX_CACHED_TOKEN: usize = 4 * 1024;

pub struct VerifiedCache {
    /// `None` when caching is off (capacity 0).
    inner: Option<Mutex<Inner>>,
}

struct Inner {
    /// The key set generation every entry was verified with.
    generation: u64,
    entries: LruCache<String, Entry>,
}

#[derive(Clone)]
pub(super) struct Entry {
    pub identity: Identity,
    pub exp: f64,
    pub nbf: Option<f64>,
}

impl std::fmt::Debug for VerifiedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedCache")
            .field("capacity", &self.capacity())
            .finish_non_exhaustive()
    }
}

impl VerifiedCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: NonZeroUsize::new(capacity).map(|capacity| {
                Mutex::new(Inner {
                    generation: 0,
                    entries: LruCache::new(capacity),
                })
            }),
        }
    }

    pub fn capacity(&self) -> usize {
        self.inner
            .as_ref()
            .map_or(0, |inner| lock(inner).entries.cap().get())
    }

    pub fn len(&self) -> usize {
        self.inner
            .as_ref()
            .map_or(0, |inner| lock(inner).entries.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `token` may be cached at all.
    pub(super) fn accepts(&self, token: &str) -> bool {
        self.inner.is_some() && token.len() <= MAX_CACHED_TOKEN
    }

    /// The entry for `token`, if it was verified with the key set of this `generation`.
    pub(super) fn get(&self, token: &str, generation: u64) -> Option<Entry> {
        let mut inner = lock(self.inner.as_ref()?);
        if inner.generation != generation {
            return None;
        }
        inner.entries.get(token).cloned()
    }

    pub(super) fn forget(&self, token: &str) {
        if let Some(inner) = &self.inner {
            lock(inner).entries.pop(token);
        }
    }

    pub(super) fn insert(&self, token: &str, generation: u64, entry: Entry) {
        let Some(inner) = &self.inner else {
            return;
        };
        let mut inner = lock(inner);
        if inner.generation != generation {
            // The keys changed: nothing verified with the old ones is kept.
            inner.entries.clear();
            inner.generation = generation;
        }
        inner.entries.put(token.to_string(), entry);
    }
}

/// A panic while the lock was held cannot leave the map half-written in a way that matters
/// (entries are whole values), so a poisoned lock is still used.
fn lock(inner: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    inner
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

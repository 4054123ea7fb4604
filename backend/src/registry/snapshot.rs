//! The snapshot the edge fetches (`GET /_bridge/registry`), built from the records and kept
//! until the registry's generation moves. A fetch costs one Vault read (the generation, at most
//! once a second). After a change, only the agents it names are read again (each version of
//! the generation record names one); every record is read at start and after more than
//! [`CATCH_UP`] changes at once, and every ten minutes in the background (records edited in
//! Vault by hand) while the held snapshot is served.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::Mutex;
use vault_mcp_filter::apikey::parse_digest;
use vault_mcp_filter::identity::{is_user_subject, is_valid_subject};
use vault_mcp_filter::mtls::is_valid_certificate_name;
use vault_mcp_filter::registry::{Snapshot, SnapshotAgent, SnapshotKey};

use super::{Registry, RegistryError};
use crate::clock::unix_seconds;
use crate::vault::VaultError;
use crate::vault::pki::CLOCK_SKEW_SECONDS;
use crate::vault::registry::AgentRecord;

/// How long a built snapshot is served without asking Vault for the generation.
const RECHECK: Duration = Duration::from_secs(1);
/// How long before every record is read again whatever the generation says (to pick up
/// records edited in Vault by hand).
const REBUILD: Duration = Duration::from_secs(600);
/// The most changes caught up one by one; more, and every record is read again. (KV v2 keeps
/// the generation record's last ten versions by default.)
const CATCH_UP: u64 = 8;

/// The snapshot document and its `ETag`.
#[derive(Debug, Clone)]
pub struct Built {
    pub body: actix_web::web::Bytes,
    pub etag: String,
    pub agents: usize,
}

struct Cached {
    generation: u64,
    /// The records the snapshot was built from, by subject.
    records: BTreeMap<String, AgentRecord>,
    /// When every record was last read.
    full_at: Instant,
    /// When the generation was last compared; `None`: at the next call, whatever the time.
    checked_at: Option<Instant>,
    built: Built,
}

#[derive(Default)]
pub struct SnapshotCache {
    current: Mutex<Option<Cached>>,
    /// A full read running in the background while the held snapshot is served.
    rereading: AtomicBool,
}

/// The snapshot of `records`. A record the edge would refuse the whole snapshot for (a subject
/// that is not valid, a key digest or certificate name an earlier record holds: only possible
/// by editing Vault directly) is left out and logged, so one bad record never freezes the
/// registry for everyone.
pub fn snapshot(records: &[AgentRecord]) -> Snapshot {
    let now = unix_seconds();
    let mut digests = HashSet::new();
    let mut certificates = HashSet::new();
    let usable = |r: &&AgentRecord| {
        // A person's record holds no key or certificate, and only a person's has their name.
        let person = is_user_subject(&r.subject);
        let fine = is_valid_subject(&r.subject)
            && person == r.user
            && !(person && (!r.keys.is_empty() || r.certificate.is_some()))
            && r.keys.iter().all(|k| parse_digest(&k.sha256).is_some())
            && r.revoked_certificates
                .iter()
                .all(|c| parse_digest(&c.sha256).is_some())
            && r.certificate
                .as_deref()
                .is_none_or(is_valid_certificate_name)
            && r.keys
                .iter()
                .all(|k| digests.insert(k.sha256.to_ascii_lowercase()))
            && r.certificate
                .as_ref()
                .is_none_or(|c| certificates.insert(c.clone()));
        if !fine {
            tracing::warn!(agent = %r.subject, "registry record left out of the snapshot: invalid, or a key or certificate another agent holds");
        }
        fine
    };
    Snapshot {
        agents: records
            .iter()
            .filter(usable)
            .map(|r| SnapshotAgent {
                subject: r.subject.clone(),
                enabled: r.enabled,
                scopes: r.scopes.clone(),
                keys: r
                    .keys
                    .iter()
                    .map(|k| SnapshotKey {
                        id: k.id.clone(),
                        sha256: k.sha256.clone(),
                        expires: k.expires,
                    })
                    .collect(),
                rate: r.rate,
                tool_rates: r.tool_rates.clone(),
                budgets: r.budgets.clone(),
                certificate: r.certificate.clone(),
                revoked_certificates: r
                    .revoked_certificates
                    .iter()
                    .filter(|c| c.expires + CLOCK_SKEW_SECONDS > now)
                    .map(|c| c.sha256.clone())
                    .collect(),
            })
            .collect(),
        sign_up_scopes: None,
    }
}

impl SnapshotCache {
    /// The current snapshot. The work runs in a task of its own, so a fetch that gives up (the
    /// edge waits 2 s by default; reading 10,000 records takes seconds) can never cancel it and
    /// the next fetch finds the snapshot built. (actix-web today runs a handler to its end after
    /// the client left, actix-web#3462; the task makes that a guarantee, not an accident.)
    pub async fn get(self: &Arc<Self>, registry: &Arc<Registry>) -> Result<Built, RegistryError> {
        let (cache, registry) = (Arc::clone(self), Arc::clone(registry));
        tokio::spawn(async move { cache.current(&registry).await })
            .await
            .unwrap_or(Err(RegistryError::Vault(VaultError::Upstream)))
    }

    async fn current(self: &Arc<Self>, registry: &Arc<Registry>) -> Result<Built, RegistryError> {
        // One builder at a time: concurrent fetches wait for it instead of repeating it.
        let mut current = self.current.lock().await;
        if let Some(cached) = current.as_ref()
            && cached.checked_at.is_some_and(|at| at.elapsed() < RECHECK)
        {
            return Ok(cached.built.clone());
        }
        let generation = registry.vault().registry_generation().await?;
        if let Some(cached) = current.as_mut() {
            if cached.full_at.elapsed() >= REBUILD {
                self.reread_in_background(registry);
            }
            if cached.generation == generation {
                cached.checked_at = Some(Instant::now());
                return Ok(cached.built.clone());
            }
            // On an error midway the generation stays where it was: the next call redoes it.
            if cached.catch_up(registry, generation).await? {
                return Ok(cached.built.clone());
            }
        }
        // First call, or too many changes at once: every record, waited for (the edge keeps
        // the snapshot it holds meanwhile). On an error the snapshot held so far stays.
        let fresh = Cached::read_all(registry, generation).await?;
        let built = fresh.built.clone();
        *current = Some(fresh);
        Ok(built)
    }

    /// Every record read again (records edited in Vault by hand) while the held snapshot is
    /// served; the result replaces it when done.
    fn reread_in_background(self: &Arc<Self>, registry: &Arc<Registry>) {
        if self.rereading.swap(true, Ordering::AcqRel) {
            return;
        }
        let (cache, registry) = (Arc::clone(self), Arc::clone(registry));
        tokio::spawn(async move {
            let read = async {
                let generation = registry.vault().registry_generation().await?;
                Cached::read_all(&registry, generation).await
            };
            match read.await {
                Ok(mut fresh) => {
                    let mut current = cache.current.lock().await;
                    // Changes caught up meanwhile are newer than some records read here: the
                    // next call compares generations before serving it, and catches up again.
                    if current
                        .as_ref()
                        .is_some_and(|held| held.generation != fresh.generation)
                    {
                        fresh.checked_at = None;
                    }
                    *current = Some(fresh);
                }
                Err(error) => {
                    tracing::warn!(%error, "registry re-read failed; the snapshot held stays")
                }
            }
            cache.rereading.store(false, Ordering::Release);
        });
    }
}

impl Cached {
    async fn read_all(registry: &Registry, generation: u64) -> Result<Cached, RegistryError> {
        let records = registry
            .records()
            .await?
            .into_iter()
            .map(|r| (r.subject.clone(), r))
            .collect();
        let now = Instant::now();
        Ok(Cached {
            generation,
            built: build(&records, registry.sign_up_scopes())?,
            records,
            full_at: now,
            checked_at: Some(now),
        })
    }

    /// Re-reads only the agents the changes since the cached generation name (each version of
    /// the generation record names one); false when that history is not all there.
    async fn catch_up(
        &mut self,
        registry: &Registry,
        generation: u64,
    ) -> Result<bool, RegistryError> {
        if generation < self.generation || generation - self.generation > CATCH_UP {
            return Ok(false);
        }
        let mut changed = BTreeSet::new();
        for version in self.generation + 1..=generation {
            match registry.vault().registry_change(version).await? {
                Some(subject) => changed.insert(subject),
                None => return Ok(false),
            };
        }
        for subject in changed {
            match registry.vault().registry_record(&subject).await? {
                Some(record) => self.records.insert(subject, record),
                None => self.records.remove(&subject),
            };
        }
        self.generation = generation;
        self.built = build(&self.records, registry.sign_up_scopes())?;
        self.checked_at = Some(Instant::now());
        Ok(true)
    }
}

fn build(
    records: &BTreeMap<String, AgentRecord>,
    sign_up_scopes: Option<&[String]>,
) -> Result<Built, RegistryError> {
    let records: Vec<AgentRecord> = records.values().cloned().collect();
    let snapshot = Snapshot {
        sign_up_scopes: sign_up_scopes.map(<[String]>::to_vec),
        ..snapshot(&records)
    };
    let body = serde_json::to_vec(&snapshot)
        .map_err(|_| RegistryError::Vault(crate::vault::VaultError::Upstream))?;
    let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&body))[..32]);
    Ok(Built {
        body: body.into(),
        etag,
        agents: records.len(),
    })
}

//! The snapshot the edge fetches (`GET /_bridge/registry`), built from the records and kept
//! until the registry's generation moves. A fetch costs one Vault read (the generation, at most
//! once a second). After a change, only the agents it names are read again (each version of
//! the generation record names one); every record is read at start, after more than
//! [`CATCH_UP`] changes at once, and every ten minutes (records edited in Vault by hand).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::Mutex;
use vault_mcp_filter::apikey::parse_digest;
use vault_mcp_filter::identity::is_valid_subject;
use vault_mcp_filter::mtls::is_valid_certificate_name;
use vault_mcp_filter::registry::{Snapshot, SnapshotAgent, SnapshotKey};

use super::{Registry, RegistryError};
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
    checked_at: Instant,
    built: Built,
}

#[derive(Default)]
pub struct SnapshotCache {
    current: Mutex<Option<Cached>>,
}

/// The snapshot of `records`. A record the edge would refuse the whole snapshot for (a subject
/// that is not valid, a key digest or certificate name an earlier record holds: only possible
/// by editing Vault directly) is left out and logged, so one bad record never freezes the
/// registry for everyone.
pub fn snapshot(records: &[AgentRecord]) -> Snapshot {
    let mut digests = HashSet::new();
    let mut certificates = HashSet::new();
    let usable = |r: &&AgentRecord| {
        let fine = is_valid_subject(&r.subject)
            && r.keys.iter().all(|k| parse_digest(&k.sha256).is_some())
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
                certificate: r.certificate.clone(),
            })
            .collect(),
    }
}

impl SnapshotCache {
    pub async fn get(&self, registry: &Registry) -> Result<Built, RegistryError> {
        // One builder at a time: concurrent fetches wait for it instead of repeating it.
        let mut current = self.current.lock().await;
        if let Some(cached) = current.as_mut()
            && cached.checked_at.elapsed() < RECHECK
        {
            return Ok(cached.built.clone());
        }
        let generation = registry.vault().registry_generation().await?;
        if let Some(cached) = current.as_mut()
            && cached.full_at.elapsed() < REBUILD
        {
            if cached.generation == generation {
                cached.checked_at = Instant::now();
                return Ok(cached.built.clone());
            }
            // On an error midway the generation stays where it was: the next call redoes it.
            if cached.catch_up(registry, generation).await? {
                return Ok(cached.built.clone());
            }
        }
        // First call, too many changes at once, or time for a full read; on an error the
        // snapshot held so far stays.
        let fresh = Cached::read_all(registry, generation).await?;
        let built = fresh.built.clone();
        *current = Some(fresh);
        Ok(built)
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
            built: build(&records)?,
            records,
            full_at: now,
            checked_at: now,
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
            match registry.vault().registry_read(&subject).await? {
                Some((record, _)) => self.records.insert(subject, record),
                None => self.records.remove(&subject),
            };
        }
        self.generation = generation;
        self.built = build(&self.records)?;
        self.checked_at = Instant::now();
        Ok(true)
    }
}

fn build(records: &BTreeMap<String, AgentRecord>) -> Result<Built, RegistryError> {
    let records: Vec<AgentRecord> = records.values().cloned().collect();
    let body = serde_json::to_vec(&snapshot(&records))
        .map_err(|_| RegistryError::Vault(crate::vault::VaultError::Upstream))?;
    let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&body))[..32]);
    Ok(Built {
        body: body.into(),
        etag,
        agents: records.len(),
    })
}

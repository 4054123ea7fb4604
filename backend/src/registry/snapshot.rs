//! The snapshot the edge fetches (`GET /_bridge/registry`), built from the records and kept
//! until the registry's generation moves. Every fetch costs one Vault read (the generation,
//! at most once a second); a rebuild reads every record, so it happens only after a change
//! (or once a minute, to pick up records edited directly in Vault).

use std::collections::HashSet;
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
/// How long a snapshot is served at all before it is rebuilt whatever the generation says.
const REBUILD: Duration = Duration::from_secs(60);

/// The snapshot document and its `ETag`.
#[derive(Debug, Clone)]
pub struct Built {
    pub body: actix_web::web::Bytes,
    pub etag: String,
    pub agents: usize,
}

struct Cached {
    generation: u64,
    built_at: Instant,
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
            && cached.generation == generation
            && cached.built_at.elapsed() < REBUILD
        {
            cached.checked_at = Instant::now();
            return Ok(cached.built.clone());
        }
        let records = registry.records().await?;
        let body = serde_json::to_vec(&snapshot(&records))
            .map_err(|_| RegistryError::Vault(crate::vault::VaultError::Upstream))?;
        let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&body))[..32]);
        let built = Built {
            body: body.into(),
            etag,
            agents: records.len(),
        };
        let now = Instant::now();
        *current = Some(Cached {
            generation,
            built_at: now,
            checked_at: now,
            built: built.clone(),
        });
        Ok(built)
    }
}

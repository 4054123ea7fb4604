//! The agent registry's operations: add an agent, rotate and revoke its API keys, disable,
//! enable and remove it. The CLI (`vault-mcp-bridge agents …`) and the HTTP admin routes call
//! these and nothing else. Records live in Vault (`vault::registry`); the edge follows them
//! through the snapshot (`snapshot.rs`).

mod checks;
pub mod cli;
pub mod keys;
mod model;
pub mod sign_up;
pub mod snapshot;
pub mod upgrade;

pub use checks::check_name;
pub use model::{AgentView, Changes, IssuedKey, KeyView, NewAgent, RegistryError, Removed};

use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt};
use vault_mcp_filter::identity::is_user_subject;

use crate::clock::unix_seconds as now;
use crate::vault::Vault;
use crate::vault::registry::AgentRecord;

/// The registry over the service's Vault connection.
pub struct Registry {
    vault: Arc<Vault>,
    /// `USERS_SIGN_UP_SCOPES`: published in the snapshot, so the edge admits newcomers.
    sign_up_scopes: Option<Vec<String>>,
}

impl Registry {
    pub fn new(vault: Arc<Vault>) -> Self {
        Registry {
            vault,
            sign_up_scopes: None,
        }
    }

    /// People signing in for the first time are registered with `scopes` (see [`sign_up`]).
    pub fn with_sign_up(mut self, scopes: Option<Vec<String>>) -> Self {
        self.sign_up_scopes = scopes;
        self
    }

    pub fn sign_up_scopes(&self) -> Option<&[String]> {
        self.sign_up_scopes.as_deref()
    }

    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    async fn record(&self, subject: &str) -> Result<(AgentRecord, u32), RegistryError> {
        checks::check_existing_name(subject)?;
        self.vault
            .registry_read(subject)
            .await?
            .ok_or_else(|| RegistryError::UnknownAgent(subject.to_string()))
    }

    /// Registers an agent: its Transit keys, its record with one API key. The key is in the
    /// answer and nowhere else. A person gets no key: they sign in at the authorization server.
    pub async fn add(&self, mut new: NewAgent) -> Result<IssuedKey, RegistryError> {
        if new.user {
            new.subject = checks::person_subject(&new.subject)?;
            if new.key_sha256.is_some() || new.certificate.is_some() {
                return Err(RegistryError::PersonHasNoKeys(new.subject));
            }
        } else {
            check_name(&new.subject)?;
        }
        self.insert(new).await
    }

    /// Registers a person signing in for the first time (`USERS_SIGN_UP_SCOPES`), by the
    /// subject the edge mapped their name to; false when they were registered already (left as
    /// they are).
    pub async fn sign_up(&self, subject: &str, scopes: &[String]) -> Result<bool, RegistryError> {
        if !is_user_subject(subject) || !vault_mcp_filter::identity::is_valid_subject(subject) {
            return Err(RegistryError::InvalidName(subject.to_string()));
        }
        let new = NewAgent {
            subject: subject.to_string(),
            user: true,
            scopes: scopes.to_vec(),
            rate: None,
            key_sha256: None,
            tool_rates: Default::default(),
            budgets: Default::default(),
            certificate: None,
            roles: Default::default(),
        };
        match self.insert(new).await {
            Ok(_) => Ok(true),
            Err(RegistryError::Exists(_)) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// `add` once the name is checked (a person's already mapped to their subject).
    async fn insert(&self, new: NewAgent) -> Result<IssuedKey, RegistryError> {
        let scopes = checks::check_scopes(&new.scopes)?;
        checks::check_rate(new.rate)?;
        let tool_rates = checks::check_tool_limits(new.tool_rates)?;
        let budgets = checks::check_budgets(new.budgets)?;
        checks::check_certificate(new.certificate.as_deref())?;
        checks::check_roles(&new.roles, self.vault.roles())?;
        let key = match &new.key_sha256 {
            _ if new.user => None,
            Some(digest) => {
                Some(keys::Issued::from_digest(digest).ok_or(RegistryError::InvalidDigest)?)
            }
            None => Some(keys::Issued::generate()),
        };
        if self.vault.registry_read(&new.subject).await?.is_some() {
            return Err(RegistryError::Exists(new.subject));
        }
        // A generated key is 256 random bits; a digest or a certificate name given by the
        // operator may be another agent's, and would make the edge refuse the snapshot.
        if let Some(key) = &key
            && (new.key_sha256.is_some() || new.certificate.is_some())
        {
            self.check_unique(
                &key.record(0).sha256,
                new.certificate.as_deref(),
                &new.subject,
            )
            .await?;
        }
        self.vault.create_agent_keys(&new.subject).await?;
        self.vault.revoke_agent_certificates(&new.subject).await?;
        // An agent of that name removed earlier left its entity disabled.
        self.vault
            .set_agent_entity_enabled(&new.subject, true)
            .await?;
        let at = now();
        let record = AgentRecord {
            subject: new.subject.clone(),
            user: new.user,
            enabled: true,
            scopes,
            keys: key.iter().map(|k| k.record(at)).collect(),
            rate: new.rate,
            tool_rates,
            budgets,
            certificate: new.certificate,
            roles: new.roles,
            // An earlier agent of this name may have left certificates unexpired (revoked now,
            // if a removal stopped half-way): the edge keeps refusing them.
            revoked_certificates: self.vault.revoked_certificates_of(&new.subject).await?,
            created: at,
            updated: at,
        };
        // Version 0: only if nobody added it meanwhile.
        match self
            .vault
            .registry_write(&record, 0)
            .await
            .map_err(RegistryError::from)
        {
            Err(RegistryError::Conflict) => Err(RegistryError::Exists(new.subject.clone())),
            other => other,
        }?;
        Ok(match key {
            Some(key) => key.shown(&new.subject),
            None => IssuedKey {
                subject: new.subject,
                key_id: None,
                api_key: None,
            },
        })
    }

    /// Refuses a key digest or certificate name another agent holds (reads every record).
    async fn check_unique(
        &self,
        digest: &str,
        certificate: Option<&str>,
        subject: &str,
    ) -> Result<(), RegistryError> {
        for other in self.records().await? {
            if other.subject == subject {
                continue;
            }
            if other.keys.iter().any(|k| k.sha256 == digest) {
                return Err(RegistryError::Taken("that key", other.subject));
            }
            if certificate.is_some() && other.certificate.as_deref() == certificate {
                return Err(RegistryError::Taken("that certificate name", other.subject));
            }
        }
        Ok(())
    }

    pub async fn show(&self, subject: &str) -> Result<AgentView, RegistryError> {
        Ok(AgentView::from(&self.record(subject).await?.0))
    }

    /// Every record, read 16 at a time.
    pub async fn records(&self) -> Result<Vec<AgentRecord>, RegistryError> {
        let subjects = self.vault.registry_subjects().await?;
        let mut records: Vec<AgentRecord> = futures_util::stream::iter(subjects)
            .map(|subject| async move { self.vault.registry_record(&subject).await })
            .buffer_unordered(16)
            .try_filter_map(|found| async move { Ok(found) })
            .try_collect()
            .await?;
        records.sort_by(|a, b| a.subject.cmp(&b.subject));
        Ok(records)
    }

    pub async fn list(&self) -> Result<Vec<AgentView>, RegistryError> {
        Ok(self.records().await?.iter().map(AgentView::from).collect())
    }

    /// Reads the agent's record, lets `edit` change it (at time `now`), and writes it back
    /// unless nobody changed it meanwhile (check-and-set: [`RegistryError::Conflict`]).
    async fn change<T>(
        &self,
        subject: &str,
        edit: impl FnOnce(&mut AgentRecord, u64) -> Result<T, RegistryError>,
    ) -> Result<(T, AgentRecord), RegistryError> {
        let (mut record, version) = self.record(subject).await?;
        let at = now();
        let out = edit(&mut record, at)?;
        record.updated = at;
        self.vault.registry_write(&record, version).await?;
        Ok((out, record))
    }

    /// A new key; the agent's current keys stay valid `grace` seconds more (0: refused now).
    pub async fn rotate_key(&self, subject: &str, grace: u64) -> Result<IssuedKey, RegistryError> {
        if is_user_subject(subject) {
            return Err(RegistryError::PersonHasNoKeys(subject.to_string()));
        }
        let (key, _) = self
            .change(subject, |record, at| {
                let until = at + grace;
                for key in &mut record.keys {
                    key.expires = Some(key.expires.map_or(until, |e| e.min(until)));
                }
                // Keys past their grace are dropped for good.
                record.keys.retain(|k| k.expires.is_none_or(|e| e > at));
                let key = keys::Issued::generate();
                record.keys.push(key.record(at));
                Ok(key)
            })
            .await?;
        Ok(key.shown(subject))
    }

    pub async fn revoke_key(
        &self,
        subject: &str,
        key_id: &str,
    ) -> Result<AgentView, RegistryError> {
        let ((), record) = self
            .change(subject, |record, _| {
                let before = record.keys.len();
                record.keys.retain(|k| k.id != key_id);
                if record.keys.len() == before {
                    return Err(RegistryError::UnknownKey {
                        subject: subject.to_string(),
                        key_id: key_id.to_string(),
                    });
                }
                Ok(())
            })
            .await?;
        Ok(AgentView::from(&record))
    }

    /// Disables or enables the agent: its record (the edge refuses or accepts it within
    /// seconds) and its Vault identity, so the kill switch reaches what it holds in Vault.
    pub async fn set_enabled(
        &self,
        subject: &str,
        enabled: bool,
    ) -> Result<AgentView, RegistryError> {
        let changes = Changes {
            enabled: Some(enabled),
            ..Changes::default()
        };
        self.update(subject, changes).await
    }

    /// Applies `changes` (checked as `add` checks them); no change shows the agent as it is.
    pub async fn update(
        &self,
        subject: &str,
        changes: Changes,
    ) -> Result<AgentView, RegistryError> {
        if changes.is_empty() {
            return self.show(subject).await;
        }
        let scopes = changes
            .scopes
            .as_deref()
            .map(checks::check_scopes)
            .transpose()?;
        if let Some(rate) = changes.rate {
            checks::check_rate(rate)?;
        }
        let tool_rates = changes
            .tool_rates
            .map(checks::check_tool_limits)
            .transpose()?;
        let budgets = changes.budgets.map(checks::check_budgets).transpose()?;
        if let Some(certificate) = &changes.certificate {
            if certificate.is_some() && is_user_subject(subject) {
                return Err(RegistryError::PersonHasNoKeys(subject.to_string()));
            }
            checks::check_certificate(certificate.as_deref())?;
            if let Some(name) = certificate {
                self.check_unique("", Some(name), subject).await?;
            }
        }
        if let Some(roles) = &changes.roles {
            checks::check_roles(roles, self.vault.roles())?;
        }
        let enabling = changes.enabled;
        let ((), record) = self
            .change(subject, |record, _| {
                if let Some(enabled) = changes.enabled {
                    record.enabled = enabled;
                }
                if let Some(scopes) = scopes {
                    record.scopes = scopes;
                }
                if let Some(rate) = changes.rate {
                    record.rate = rate;
                }
                if let Some(rates) = tool_rates {
                    record.tool_rates = rates;
                }
                if let Some(budgets) = budgets {
                    record.budgets = budgets;
                }
                if let Some(certificate) = changes.certificate {
                    record.certificate = certificate;
                }
                if let Some(roles) = changes.roles {
                    record.roles = roles;
                }
                Ok(())
            })
            .await?;
        let mut view = AgentView::from(&record);
        match enabling {
            Some(false) => view.revoked = Some(self.vault.cut_off_agent(subject).await?),
            Some(true) => {
                self.vault.set_agent_entity_enabled(subject, true).await?;
            }
            None => {}
        }
        Ok(view)
    }

    /// Removes the agent from the registry and cuts it off in Vault. Its secrets and Transit
    /// keys stay unless `destroy_data`.
    pub async fn remove(
        &self,
        subject: &str,
        destroy_data: bool,
    ) -> Result<Removed, RegistryError> {
        self.record(subject).await?;
        self.vault.registry_delete(subject).await?;
        // Its tokens stop with the entity disabled (kept so: adding the agent again enables it).
        let revoked = self.vault.cut_off_agent(subject).await?;
        let secrets_erased = if destroy_data {
            self.vault.destroy_agent_data(subject).await?
        } else {
            0
        };
        Ok(Removed {
            subject: subject.to_string(),
            secrets_erased,
            revoked,
        })
    }
}

/// Standalone mode: reads the registry's snapshot (the one the edge fetches) and hands it to
/// the in-process decision code through `deliver`. A failed read keeps the last snapshot.
pub async fn refresh(
    registry: &Arc<Registry>,
    cache: &Arc<snapshot::SnapshotCache>,
    deliver: &impl Fn(vault_mcp_filter::registry::Registry),
) {
    match cache.get(registry).await {
        Ok(built) => match vault_mcp_filter::registry::Registry::parse(&built.body, usize::MAX) {
            Ok(parsed) => deliver(parsed),
            Err(error) => tracing::warn!(%error, "registry snapshot refused; keeping the last"),
        },
        Err(error) => tracing::warn!(%error, "registry not read; keeping the last snapshot"),
    }
}

/// [`refresh`] every `every`, for as long as the server runs.
pub async fn follow(
    registry: Arc<Registry>,
    cache: Arc<snapshot::SnapshotCache>,
    deliver: impl Fn(vault_mcp_filter::registry::Registry),
    every: std::time::Duration,
) {
    loop {
        tokio::time::sleep(every).await;
        refresh(&registry, &cache, &deliver).await;
    }
}

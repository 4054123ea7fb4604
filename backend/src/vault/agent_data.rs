//! What Vault holds of an agent's own beyond its secrets' records: its Transit keys (made before
//! its first token, deleted with its data), the erasure of everything it stored, and the signing
//! keys of an earlier version, retired. All with the service's token.

use vaultrs::api::transit::KeyType;
use vaultrs::api::transit::requests::{CreateKeyRequest, UpdateKeyConfigurationRequest};

use super::transit::{SIGNING_KEY, legacy_signing_key, named_key};
use super::{Vault, VaultError, exec};

/// Public keys of retired signing keys, by agent.
const RETIRED_KEYS: &str = "_bridge/retired-keys";

impl Vault {
    /// The agent's own Transit keys: mount, name and type of its encryption key and of its
    /// signing key (`vault::transit`).
    fn agent_keys(&self, subject: &str) -> [(&str, String, KeyType); 2] {
        [
            (
                &self.transit_mount,
                subject.to_string(),
                KeyType::Aes256Gcm96,
            ),
            (
                &self.transit_named_mount,
                named_key(subject, SIGNING_KEY),
                KeyType::Rsa2048,
            ),
        ]
    }

    /// Creates the agent's own Transit keys; existing keys are left as they are.
    pub async fn create_agent_keys(&self, subject: &str) -> Result<(), VaultError> {
        self.observed("transit", "create_agent_keys", async {
            for (mount, name, kind) in self.agent_keys(subject) {
                let request = CreateKeyRequest::builder()
                    .mount(mount)
                    .name(&name)
                    .key_type(kind)
                    .build()
                    .map_err(|_| VaultError::Upstream)?;
                exec::empty(&self.base(), request).await?;
            }
            Ok(())
        })
        .await
    }

    /// Erases everything the agent stored: every secret (all versions) in its KV folder and its
    /// own Transit keys. Irreversible.
    pub async fn destroy_agent_data(&self, subject: &str) -> Result<usize, VaultError> {
        self.observed("registry", "destroy_data", async {
            let client = self.base();
            let mut erased = 0;
            let mut folders = vec![format!("{}/{subject}/", self.prefix)];
            while let Some(folder) = folders.pop() {
                let keys = match vaultrs::kv2::list(&*client, &self.kv_mount, &folder)
                    .await
                    .map_err(VaultError::from)
                {
                    Ok(keys) => keys,
                    Err(VaultError::NotFound) => continue,
                    Err(other) => return Err(other),
                };
                for key in keys {
                    let path = format!("{folder}{key}");
                    if key.ends_with('/') {
                        folders.push(path);
                    } else {
                        vaultrs::kv2::delete_metadata(&*client, &self.kv_mount, &path).await?;
                        erased += 1;
                    }
                }
            }
            for (mount, name, _) in self.agent_keys(subject) {
                self.delete_transit_key(mount, &name).await?;
            }
            Ok(erased)
        })
        .await
    }

    /// Deletes a Transit key (none there: nothing to do).
    pub(super) async fn delete_transit_key(
        &self,
        mount: &str,
        name: &str,
    ) -> Result<(), VaultError> {
        let client = self.base();
        // Transit refuses to delete a key until its configuration allows it.
        let allow = UpdateKeyConfigurationRequest::builder()
            .mount(mount)
            .name(name)
            .deletion_allowed(true)
            .build()
            .map_err(|_| VaultError::Upstream)?;
        match exec::empty(&client, allow).await {
            Ok(()) => {}
            Err(VaultError::NotFound | VaultError::Rejected(_)) => return Ok(()),
            Err(other) => return Err(other),
        }
        match vaultrs::transit::key::delete(&*client, mount, name)
            .await
            .map_err(VaultError::from)
        {
            Ok(()) | Err(VaultError::NotFound) => Ok(()),
            Err(other) => Err(other),
        }
    }

    /// Which of `subjects` still have a signing key under its earlier name in the Transit
    /// mount (one listing of the mount).
    pub async fn legacy_signing_keys(
        &self,
        subjects: &[String],
    ) -> Result<Vec<String>, VaultError> {
        let names = match vaultrs::transit::key::list(&*self.base(), &self.transit_mount)
            .await
            .map_err(VaultError::from)
        {
            Ok(list) => list.keys,
            Err(VaultError::NotFound) => Vec::new(),
            Err(other) => return Err(other),
        };
        let names: std::collections::HashSet<String> = names.into_iter().collect();
        let registered: std::collections::HashSet<&String> = subjects.iter().collect();
        let mut legacy = Vec::new();
        for subject in subjects {
            let name = legacy_signing_key(subject);
            // `x-signing` may be agent `x-signing`'s own encryption key: only an RSA signing key
            // that is no agent's name is one of an earlier version.
            if !names.contains(&name) || registered.contains(&name) {
                continue;
            }
            let key =
                vaultrs::transit::key::read(&*self.base(), &self.transit_mount, &name).await?;
            if key.supports_signing && matches!(key.key_type, KeyType::Rsa2048) {
                legacy.push(subject.clone());
            }
        }
        Ok(legacy)
    }

    /// Keeps the public keys of the agent's signing key of an earlier version (to verify the
    /// signatures it made) under `_bridge/retired-keys/{subject}`, then deletes it.
    pub async fn retire_legacy_signing_key(&self, subject: &str) -> Result<(), VaultError> {
        let name = legacy_signing_key(subject);
        let key = vaultrs::transit::key::read(&*self.base(), &self.transit_mount, &name).await?;
        let retired = serde_json::json!({
            "name": name,
            "mount": self.transit_mount,
            "keys": key.keys,
        });
        let record = format!("{RETIRED_KEYS}/{subject}");
        vaultrs::kv2::set(&*self.base(), &self.kv_mount, &record, &retired).await?;
        self.delete_transit_key(&self.transit_mount, &name).await
    }
}

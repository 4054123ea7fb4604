//! KV v2 under each agent's prefix: read, write (check-and-set), list, soft delete, undelete
//! and destroy versions.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use vaultrs::api::kv2::requests::{
    DeleteLatestSecretVersionRequest, DestroySecretVersionsRequest, ListSecretsRequest,
    ReadSecretMetadataRequest, ReadSecretRequest, SetSecretRequest, SetSecretRequestOptions,
    UndeleteSecretVersionsRequest,
};

use super::{SecretPath, SecretPrefix, Subject, Vault, VaultError, exec};

/// A secret's data and the version it was read at.
#[derive(Debug, Serialize, JsonSchema, ToSchema)]
pub struct Secret {
    pub path: String,
    #[schema(value_type = Object)]
    pub data: Map<String, Value>,
    pub version: u64,
}

/// The version a write created.
#[derive(Debug, Serialize, JsonSchema, ToSchema)]
pub struct Written {
    pub path: String,
    pub version: u64,
}

/// The names directly under a folder; sub-folders end with '/'. Never values.
#[derive(Debug, Serialize, JsonSchema, ToSchema)]
pub struct Listing {
    pub prefix: String,
    pub keys: Vec<String>,
}

/// A secret handed out as a response-wrapping token instead of its value: whoever holds the
/// token can unwrap it once (`sys/wrapping/unwrap`) before it expires; the agent never sees the
/// value itself.
#[derive(Debug, Serialize, JsonSchema, ToSchema)]
pub struct Wrapped {
    pub path: String,
    pub wrap_token: String,
    pub wrap_accessor: String,
    /// Seconds the token stays valid.
    pub wrap_ttl: u64,
}

/// What a delete, undelete or destroy acted on.
#[derive(Debug, Serialize, JsonSchema, ToSchema)]
pub struct VersionsChanged {
    pub path: String,
    /// The versions named, or empty for "the latest".
    pub versions: Vec<u64>,
}

impl Vault {
    pub async fn kv_read(
        &self,
        subject: Subject<'_>,
        path: &SecretPath,
        version: Option<u64>,
    ) -> Result<Secret, VaultError> {
        self.as_agent_read("kv", "read", subject, move |client| async move {
            let request = ReadSecretRequest::builder()
                .mount(&self.kv_mount)
                .path(self.agent_path(&subject, path))
                .version(version)
                .build()
                .map_err(|_| VaultError::Upstream)?;
            let response = exec::data(&client, request).await?;
            // A deleted or destroyed version comes back with null data.
            let Value::Object(data) = response.data else {
                return Err(VaultError::NotFound);
            };
            Ok(Secret {
                path: path.to_string(),
                data,
                version: response.metadata.version,
            })
        })
        .await
    }

    /// Reads a secret into a response-wrapping token valid for `ttl` (checked by
    /// `ops::input::WrapTtl`).
    pub async fn kv_read_wrapped(
        &self,
        subject: Subject<'_>,
        path: &SecretPath,
        version: Option<u64>,
        ttl: &str,
    ) -> Result<Wrapped, VaultError> {
        self.as_agent("kv", "read_wrapped", subject, move |client| async move {
            let request = ReadSecretRequest::builder()
                .mount(&self.kv_mount)
                .path(self.agent_path(&subject, path))
                .version(version)
                .build()
                .map_err(|_| VaultError::Upstream)?;
            // vaultrs's own `wrap` fixes the TTL at 10m; the same call with ours.
            let mut middleware = client.middle.clone();
            middleware.wrap = Some(ttl.to_string());
            let info = exec::send(&client, request, Some(&middleware))
                .await?
                .wrap_info
                .ok_or(VaultError::Upstream)?;
            Ok(Wrapped {
                path: path.to_string(),
                wrap_token: info.token,
                wrap_accessor: info.accessor,
                wrap_ttl: info.ttl,
            })
        })
        .await
    }

    /// Writes a new version. With `cas`, only if the current version is `cas` (0: only if the
    /// secret does not exist yet); Vault refuses otherwise (400).
    pub async fn kv_write(
        &self,
        subject: Subject<'_>,
        path: &SecretPath,
        data: &Map<String, Value>,
        cas: Option<u32>,
    ) -> Result<Written, VaultError> {
        self.as_agent("kv", "write", subject, move |client| async move {
            let full = self.agent_path(&subject, path);
            let data = serde_json::to_value(data).map_err(|_| VaultError::Upstream)?;
            let mut request = SetSecretRequest::builder();
            request.mount(&self.kv_mount).path(&full).data(data);
            if let Some(cas) = cas {
                request.options(SetSecretRequestOptions { cas });
            }
            let request = request.build().map_err(|_| VaultError::Upstream)?;
            let metadata = exec::data(&client, request).await?;
            Ok(Written {
                path: path.to_string(),
                version: metadata.version,
            })
        })
        .await
    }

    pub async fn kv_list(
        &self,
        subject: Subject<'_>,
        prefix: &SecretPrefix,
    ) -> Result<Listing, VaultError> {
        self.as_agent_read("kv", "list", subject, move |client| async move {
            let folder = self.agent_folder(&subject, prefix);
            let request = ListSecretsRequest::builder()
                .mount(&self.kv_mount)
                .path(&folder)
                .build()
                .map_err(|_| VaultError::Upstream)?;
            let keys = match exec::data(&client, request).await {
                Ok(listing) => listing.keys,
                // Vault answers an empty folder with 404.
                Err(VaultError::NotFound) => Vec::new(),
                Err(other) => return Err(other),
            };
            Ok(Listing {
                prefix: prefix.as_str().to_string(),
                keys,
            })
        })
        .await
    }

    /// A stamp of the secret's metadata that changes whenever the secret does (a write, a
    /// delete, an undelete, a destroy, its metadata deleted), whoever made the change: its
    /// current version, when it was last updated, and each version's deletion and
    /// destruction. `None` when it does not exist. Never a value.
    pub async fn kv_stamp(
        &self,
        subject: Subject<'_>,
        path: &SecretPath,
    ) -> Result<Option<String>, VaultError> {
        self.as_agent("kv", "metadata", subject, move |client| async move {
            let request = ReadSecretMetadataRequest::builder()
                .mount(&self.kv_mount)
                .path(self.agent_path(&subject, path))
                .build()
                .map_err(|_| VaultError::Upstream)?;
            let metadata = match exec::data(&client, request).await {
                Ok(metadata) => metadata,
                Err(VaultError::NotFound) => return Ok(None),
                Err(other) => return Err(other),
            };
            let mut versions: Vec<_> = metadata.versions.iter().collect();
            versions.sort_by_key(|(version, _)| version.parse::<u64>().unwrap_or(0));
            let mut stamp = format!("{} {}", metadata.current_version, metadata.updated_time);
            for (version, state) in versions {
                stamp += &format!(" {version}:{}:{}", state.deletion_time, state.destroyed);
            }
            Ok(Some(stamp))
        })
        .await
    }

    /// Soft-deletes the latest version (it can be undeleted).
    pub async fn kv_delete(
        &self,
        subject: Subject<'_>,
        path: &SecretPath,
    ) -> Result<VersionsChanged, VaultError> {
        self.as_agent("kv", "delete", subject, move |client| async move {
            let full = self.agent_path(&subject, path);
            let request = DeleteLatestSecretVersionRequest::builder()
                .mount(&self.kv_mount)
                .path(&full)
                .build()
                .map_err(|_| VaultError::Upstream)?;
            exec::empty(&client, request).await?;
            Ok(VersionsChanged {
                path: path.to_string(),
                versions: Vec::new(),
            })
        })
        .await
    }

    pub async fn kv_undelete(
        &self,
        subject: Subject<'_>,
        path: &SecretPath,
        versions: Vec<u64>,
    ) -> Result<VersionsChanged, VaultError> {
        self.kv_versions(subject, path, versions, VersionChange::Undelete)
            .await
    }

    /// Permanently removes the data of these versions.
    pub async fn kv_destroy(
        &self,
        subject: Subject<'_>,
        path: &SecretPath,
        versions: Vec<u64>,
    ) -> Result<VersionsChanged, VaultError> {
        self.kv_versions(subject, path, versions, VersionChange::Destroy)
            .await
    }

    /// Undeletes or destroys versions of the agent's secret.
    async fn kv_versions(
        &self,
        subject: Subject<'_>,
        path: &SecretPath,
        versions: Vec<u64>,
        change: VersionChange,
    ) -> Result<VersionsChanged, VaultError> {
        let operation = match change {
            VersionChange::Undelete => "undelete",
            VersionChange::Destroy => "destroy",
        };
        self.as_agent("kv", operation, subject, move |client| async move {
            let full = self.agent_path(&subject, path);
            match change {
                VersionChange::Undelete => {
                    let request = UndeleteSecretVersionsRequest::builder()
                        .mount(&self.kv_mount)
                        .path(&full)
                        .versions(versions.clone())
                        .build()
                        .map_err(|_| VaultError::Upstream)?;
                    exec::empty(&client, request).await?;
                }
                VersionChange::Destroy => {
                    let request = DestroySecretVersionsRequest::builder()
                        .mount(&self.kv_mount)
                        .path(&full)
                        .versions(versions.clone())
                        .build()
                        .map_err(|_| VaultError::Upstream)?;
                    exec::empty(&client, request).await?;
                }
            }
            Ok(VersionsChanged {
                path: path.to_string(),
                versions,
            })
        })
        .await
    }
}

/// What `kv_versions` does to the versions it names.
#[derive(Clone, Copy)]
enum VersionChange {
    Undelete,
    Destroy,
}

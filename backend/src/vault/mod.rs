//! The one Vault layer: every operation REST routes and MCP tools offer is a method here, so
//! both front ends behave the same. One module per engine.

mod agent_data;
mod agent_setup;
mod certificates;
pub mod database;
mod entity;
mod error;
pub mod exec;
mod health;
pub mod kv;
pub mod login;
mod once;
pub mod path;
pub mod pki;
pub mod policy;
pub mod registry;
pub mod revocation;
pub mod ssh;
mod subject;
pub mod tokens;
pub mod transit;

use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use vaultrs::client::{VaultClient, VaultClientSettings, VaultClientSettingsBuilder};

pub use error::VaultError;
pub use path::{PathError, SecretPath, SecretPrefix};
pub use subject::Subject;

use crate::config::Config;
use crate::telemetry::VaultCalls;

/// A connected Vault client plus where each agent's secrets live.
pub struct Vault {
    /// The service's own client; agents' calls go through [`Vault::client_for`]. Swapped when
    /// an AppRole login renews or replaces the token (see [`login`]).
    client: std::sync::RwLock<Arc<VaultClient>>,
    settings: VaultClientSettings,
    approle: Option<login::AppRole>,
    agent_tokens: tokens::AgentTokens,
    kv_mount: String,
    transit_mount: String,
    transit_named_mount: String,
    roles: crate::config::Roles,
    database_mount: String,
    ssh_mount: String,
    pki_mount: String,
    /// `MTLS_CN_PREFIX`: put before the subject in the CN of agents' certificates.
    cn_prefix: String,
    prefix: String,
    /// Where each call is counted and timed.
    calls: VaultCalls,
}

impl Vault {
    pub fn new(config: &Config, calls: VaultCalls) -> Result<Self, VaultError> {
        let mut settings = VaultClientSettingsBuilder::default();
        settings
            .address(&config.vault_addr)
            .token(
                config
                    .vault_token
                    .as_ref()
                    .map_or("", |token| token.expose_secret()),
            )
            .timeout(Some(Duration::from_secs(
                config.vault_timeout_seconds.max(1),
            )));
        if let Some(namespace) = &config.vault_namespace {
            settings.namespace(Some(namespace.clone()));
        }
        let settings = settings.build().map_err(|_| VaultError::Upstream)?;
        let client = std::sync::RwLock::new(Arc::new(
            VaultClient::new(settings.clone()).map_err(VaultError::from)?,
        ));
        let agent_tokens = tokens::AgentTokens::new(
            config.agent_token_role.clone(),
            config.agent_policy.clone(),
            Duration::from_secs(config.agent_token_ttl),
            Duration::from_secs(config.agent_lease_token_ttl),
        );
        let approle = config
            .vault_role_id
            .as_ref()
            .zip(config.vault_secret_id.as_ref())
            .map(|(role_id, secret_id)| login::AppRole {
                mount: config.vault_approle_mount.clone(),
                role_id: role_id.clone(),
                secret_id: secret_id.clone(),
            });
        Ok(Self {
            client,
            settings,
            approle,
            agent_tokens,
            kv_mount: config.kv_mount.clone(),
            transit_mount: config.transit_mount.clone(),
            transit_named_mount: config.transit_named_mount.clone(),
            roles: config.roles(),
            database_mount: config.database_mount.clone(),
            ssh_mount: config.ssh_mount.clone(),
            pki_mount: config.pki_mount.clone(),
            cn_prefix: config.mtls_cn_prefix.clone(),
            prefix: config.default_prefix.clone(),
            calls,
        })
    }

    /// The roles agents may use.
    pub fn roles(&self) -> &crate::config::Roles {
        &self.roles
    }

    /// The mounts an agent's policy names.
    pub fn mounts(&self) -> policy::Mounts<'_> {
        policy::Mounts {
            kv: &self.kv_mount,
            prefix: &self.prefix,
            transit: &self.transit_mount,
            transit_named: &self.transit_named_mount,
            database: &self.database_mount,
            ssh: &self.ssh_mount,
            pki: &self.pki_mount,
            roles: &self.roles,
        }
    }

    /// The service's own client, with its current token.
    fn base(&self) -> Arc<VaultClient> {
        self.client.read().expect("client lock").clone()
    }

    /// Runs one Vault call, counting and timing it by engine, operation and outcome.
    async fn observed<T>(
        &self,
        engine: &'static str,
        operation: &'static str,
        call: impl std::future::Future<Output = Result<T, VaultError>>,
    ) -> Result<T, VaultError> {
        let started = std::time::Instant::now();
        let span = tracing::info_span!(
            "vault.call",
            vault.engine = engine,
            vault.operation = operation
        );
        let result = tracing::Instrument::instrument(call, span).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.outcome(),
        };
        self.calls
            .observe(engine, operation, outcome, started.elapsed().as_secs_f64());
        result
    }

    /// The opening every call made for an agent shares: observed like any call, and made with
    /// the agent's own client (its token, its policy).
    async fn as_agent<T, Call>(
        &self,
        engine: &'static str,
        operation: &'static str,
        subject: Subject<'_>,
        call: impl FnOnce(Arc<VaultClient>) -> Call,
    ) -> Result<T, VaultError>
    where
        Call: std::future::Future<Output = Result<T, VaultError>>,
    {
        self.observed(engine, operation, async {
            let client = self.client_for(subject).await?;
            call(client).await
        })
        .await
    }

    /// [`Vault::as_agent`] for reads, tried once more as [`Vault::observed_read`] says.
    async fn as_agent_read<T, Call>(
        &self,
        engine: &'static str,
        operation: &'static str,
        subject: Subject<'_>,
        call: impl Fn(Arc<VaultClient>) -> Call,
    ) -> Result<T, VaultError>
    where
        Call: std::future::Future<Output = Result<T, VaultError>>,
    {
        self.observed_read(engine, operation, || async {
            let client = self.client_for(subject).await?;
            call(client).await
        })
        .await
    }

    /// [`Vault::observed`] for reads, which are tried once more when Vault was unreachable or
    /// slow (a failover, a restart). Writes never go through here: a write that timed out may
    /// have happened, and repeating it would create another version.
    async fn observed_read<T, F, Fut>(
        &self,
        engine: &'static str,
        operation: &'static str,
        call: F,
    ) -> Result<T, VaultError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, VaultError>>,
    {
        match self.observed(engine, operation, call()).await {
            Err(VaultError::Unavailable | VaultError::Timeout) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                self.observed(engine, operation, call()).await
            }
            other => other,
        }
    }

    /// `{DEFAULT_PREFIX}/{subject}/{path}`: the only shape of KV path this service touches.
    /// The subject was validated where the identity was made, the path by [`SecretPath`].
    fn agent_path(&self, subject: &str, path: &SecretPath) -> String {
        format!("{}/{}/{}", self.prefix, subject, path)
    }

    /// `{DEFAULT_PREFIX}/{subject}/{prefix}`, for listing.
    fn agent_folder(&self, subject: &str, prefix: &SecretPrefix) -> String {
        format!("{}/{}/{}", self.prefix, subject, prefix.as_str())
    }
}

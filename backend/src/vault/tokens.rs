//! Each agent acts in Vault as itself. The service mints every agent a token of its own through
//! the token role `AGENT_TOKEN_ROLE`, for the entity alias `{AGENT_TOKEN_ROLE}:{subject}` on
//! Vault's token auth mount: every token of the agent belongs to one identity entity, which
//! Vault's audit log records with each request and which one switch disables (`agents
//! disable`). The token carries the agents' policies alone: `AGENT_POLICY`, templated on that
//! entity's metadata (`vault::entity` writes it after each mint), and `{AGENT_POLICY}-roles`;
//! not `default`. The role allows those policies and aliases under its own name only, and the
//! operator writes them all, so no token the service makes reaches past the agents' corners. A
//! token is an orphan (the role says so), so it outlives a renewal of the service's own token.
//! It is reused for the first half of its TTL and then replaced, never minted per request.
//!
//! Before an agent's first token in a process its Transit keys are made, so an agent that only
//! a JWT names works as a registered one does.
//!
//! Vault ends a token's leases with the token, so database credentials are not issued with the
//! cached token (its leases would end within `AGENT_TOKEN_TTL`): each issue gets a token of the
//! agent's own for that lease alone, living `AGENT_LEASE_TOKEN_TTL`, which caps the lease.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vaultrs::api::token::requests::CreateRoleTokenRequest;
use vaultrs::client::{VaultClient, VaultClientSettings};

use super::{Subject, Vault, VaultError, exec};

/// Agents whose tokens one process holds at once; past it, expired ones are dropped first.
const MAX_CACHED: usize = 10_000;

pub struct AgentTokens {
    pub role: String,
    /// The agents' templated policy (`AGENT_POLICY`); tokens also carry its `-roles` companion.
    pub policy: String,
    pub ttl: Duration,
    /// The lifetime of the token each database lease is issued with.
    pub lease_ttl: Duration,
    cache: Mutex<HashMap<String, Minted>>,
    /// Agents whose keys this process made.
    prepared: Mutex<HashSet<String>>,
    /// The token auth mount's accessor (`vault::entity`).
    pub(super) token_mount: Mutex<Option<String>>,
    /// One mint at a time: concurrent first calls of an agent make one token, not many.
    minting: tokio::sync::Mutex<()>,
}

struct Minted {
    client: Arc<VaultClient>,
    at: Instant,
}

impl AgentTokens {
    pub fn new(role: String, policy: String, ttl: Duration, lease_ttl: Duration) -> Self {
        Self {
            role,
            policy,
            ttl,
            lease_ttl,
            cache: Mutex::new(HashMap::new()),
            prepared: Mutex::new(HashSet::new()),
            token_mount: Mutex::new(None),
            minting: tokio::sync::Mutex::new(()),
        }
    }

    /// The agent's token, whatever its age.
    fn held(&self, subject: &str) -> Option<Arc<VaultClient>> {
        let cache = self.cache.lock().expect("token cache lock");
        cache.get(subject).map(|minted| minted.client.clone())
    }

    /// The agent's token while in the first half of its life.
    fn cached(&self, subject: &str) -> Option<Arc<VaultClient>> {
        let cache = self.cache.lock().expect("token cache lock");
        let minted = cache.get(subject)?;
        (minted.at.elapsed() < self.ttl / 2).then(|| minted.client.clone())
    }

    /// Marks the agent prepared; false if it was already.
    fn first_preparation(&self, subject: &str) -> bool {
        let mut prepared = self.prepared.lock().expect("prepared lock");
        if prepared.len() >= MAX_CACHED {
            prepared.clear();
        }
        prepared.insert(subject.to_string())
    }

    fn keep(&self, subject: &str, client: Arc<VaultClient>) {
        let mut cache = self.cache.lock().expect("token cache lock");
        if cache.len() >= MAX_CACHED {
            cache.retain(|_, minted| minted.at.elapsed() < self.ttl);
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
        }
        cache.insert(
            subject.to_string(),
            Minted {
                client,
                at: Instant::now(),
            },
        );
    }

    /// Forgets the agent's token and that its keys were made: the next call prepares and
    /// mints anew.
    pub fn forget(&self, subject: &str) {
        self.cache.lock().expect("token cache lock").remove(subject);
        self.prepared.lock().expect("prepared lock").remove(subject);
    }
}

impl Vault {
    /// After Vault refused a call made for the agent: whether the agent's token is one Vault no
    /// longer knows (a Vault restored or reset, the token revoked by hand), which Vault refuses
    /// like a path outside the policy. Asked of Vault with the token itself (`lookup-self`, in
    /// every agent's policy), so a real refusal costs one read and never a new token; a dead
    /// token is forgotten, so the caller may try once more with a new one.
    pub async fn agent_token_is_dead(&self, subject: &str) -> bool {
        let Some(client) = self.agent_tokens.held(subject) else {
            return false;
        };
        let looked = vaultrs::token::lookup_self(&*client)
            .await
            .map_err(VaultError::from);
        let dead = matches!(looked, Err(VaultError::Forbidden));
        if dead {
            tracing::warn!(
                agent = subject,
                "Vault no longer knows an agent's token; making a new one"
            );
            self.agent_tokens.forget(subject);
        }
        dead
    }

    /// The client to act for `agent` with: its own token.
    pub(super) async fn client_for(
        &self,
        subject: Subject<'_>,
    ) -> Result<Arc<VaultClient>, VaultError> {
        let tokens = &self.agent_tokens;
        if let Some(client) = tokens.cached(&subject) {
            return Ok(client);
        }
        let _one = tokens.minting.lock().await;
        if let Some(client) = tokens.cached(&subject) {
            return Ok(client);
        }
        let client = self.agent_token(&subject, tokens.ttl).await?;
        tokens.keep(&subject, client.clone());
        Ok(client)
    }

    /// A token of the agent's own for one database lease (see the module's doc), not kept.
    pub(super) async fn lease_client_for(
        &self,
        subject: Subject<'_>,
    ) -> Result<Arc<VaultClient>, VaultError> {
        self.agent_token(&subject, self.agent_tokens.lease_ttl)
            .await
    }

    /// A new token of the agent's: its keys made first (once per process), its entity checked
    /// before (no token on a foreign or disabled one) and labelled after (each time: Vault may
    /// have been changed by hand meanwhile).
    async fn agent_token(
        &self,
        subject: &str,
        ttl: Duration,
    ) -> Result<Arc<VaultClient>, VaultError> {
        let tokens = &self.agent_tokens;
        let first = tokens.first_preparation(subject);
        // Boxed: minted rarely, and unboxed it nests every caller's future too deep to lay out.
        let made = Box::pin(async {
            if first {
                self.create_agent_keys(subject).await?;
            }
            self.clean_agent_entity(subject).await?;
            let client = self.mint_agent_token(subject, ttl).await?;
            self.label_agent_entity(subject).await?;
            Ok(client)
        })
        .await;
        if made.is_err() && first {
            tokens
                .prepared
                .lock()
                .expect("prepared lock")
                .remove(subject);
        }
        match made {
            // Vault refuses to mint for a disabled entity: the kill switch, which this
            // replica's registry may not show yet.
            Err(VaultError::Forbidden)
                if matches!(self.agent_entity_disabled(subject).await, Ok(true)) =>
            {
                Err(VaultError::AgentDisabled)
            }
            other => other.map_err(VaultError::for_agent_token),
        }
    }

    async fn mint_agent_token(
        &self,
        subject: &str,
        ttl: Duration,
    ) -> Result<Arc<VaultClient>, VaultError> {
        let tokens = &self.agent_tokens;
        let request = CreateRoleTokenRequest::builder()
            .role_name(&tokens.role)
            .entity_alias(self.entity_alias(subject))
            .policies(vec![
                tokens.policy.clone(),
                super::policy::roles_policy_name(&tokens.policy),
            ])
            .no_default_policy(true)
            .display_name(format!("agent-{subject}"))
            .meta(HashMap::from([("agent".to_string(), subject.to_string())]))
            .ttl(format!("{}s", ttl.as_secs()))
            .build()
            .map_err(|_| VaultError::Upstream)?;
        let auth = self
            .observed("token", "create_agent", async {
                exec::auth(&self.base(), request).await
            })
            .await?;
        let settings = VaultClientSettings {
            token: auth.client_token,
            ..self.settings.clone()
        };
        Ok(Arc::new(
            VaultClient::new(settings).map_err(VaultError::from)?,
        ))
    }
}

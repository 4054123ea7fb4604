//! Each agent acts in Vault as itself. The service mints every agent a token of its own through
//! the token role `AGENT_TOKEN_ROLE`, for the entity alias `{subject}` on Vault's token auth
//! mount: every token of the agent belongs to one identity entity, which Vault's audit log
//! records with each request and which one switch disables (`agents disable`). The token
//! carries the agent's policy `{AGENT_POLICY_PREFIX}{subject}` alone: not `default`, whose
//! templated paths Vault would resolve on every call. It is an orphan (the role says so), so it
//! outlives a renewal of the service's own token. A token is reused for the first half of its
//! TTL and then replaced, never minted per request.
//!
//! Before an agent's first token in a process, its policy (what `gen-policy` prints, so a new
//! version's policy reaches existing agents) and its Transit keys are written, so an agent that
//! only a JWT names works as a registered one does.
//!
//! Vault ends a token's leases with the token, so database credentials are not issued with the
//! cached token (its leases would end within `AGENT_TOKEN_TTL`): each issue gets a token of the
//! agent's own for that lease alone, living `AGENT_LEASE_TOKEN_TTL`, which caps the lease.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vaultrs::api::token::requests::CreateRoleTokenRequest;
use vaultrs::client::{VaultClient, VaultClientSettings};

use super::{Vault, VaultError, exec};
use vault_mcp_filter::Identity as Agent;

/// Agents whose tokens one process holds at once; past it, expired ones are dropped first.
const MAX_CACHED: usize = 10_000;

pub struct AgentTokens {
    pub role: String,
    pub policy_prefix: String,
    pub ttl: Duration,
    /// The lifetime of the token each database lease is issued with.
    pub lease_ttl: Duration,
    cache: Mutex<HashMap<String, Minted>>,
    /// Agents whose policy and keys this process wrote.
    prepared: Mutex<HashSet<String>>,
    /// One mint at a time: concurrent first calls of an agent make one token, not many.
    minting: tokio::sync::Mutex<()>,
}

struct Minted {
    client: Arc<VaultClient>,
    at: Instant,
}

impl AgentTokens {
    pub fn new(role: String, policy_prefix: String, ttl: Duration, lease_ttl: Duration) -> Self {
        Self {
            role,
            policy_prefix,
            ttl,
            lease_ttl,
            cache: Mutex::new(HashMap::new()),
            prepared: Mutex::new(HashSet::new()),
            minting: tokio::sync::Mutex::new(()),
        }
    }

    pub fn policy_of(&self, subject: &str) -> String {
        format!("{}{subject}", self.policy_prefix)
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

    /// Forgets the agent's token and that its policy was written: the next call prepares and
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
    pub(super) async fn client_for(&self, agent: &Agent) -> Result<Arc<VaultClient>, VaultError> {
        let tokens = &self.agent_tokens;
        if let Some(client) = tokens.cached(&agent.subject) {
            return Ok(client);
        }
        let _one = tokens.minting.lock().await;
        if let Some(client) = tokens.cached(&agent.subject) {
            return Ok(client);
        }
        self.prepared(&agent.subject).await?;
        let client = self
            .mint_agent_token(&agent.subject, tokens.ttl)
            .await
            .map_err(VaultError::for_agent_token)?;
        tokens.keep(&agent.subject, client.clone());
        Ok(client)
    }

    /// A token of the agent's own for one database lease (see the module's doc), not kept.
    pub(super) async fn lease_client_for(
        &self,
        agent: &Agent,
    ) -> Result<Arc<VaultClient>, VaultError> {
        self.prepared(&agent.subject).await?;
        self.mint_agent_token(&agent.subject, self.agent_tokens.lease_ttl)
            .await
            .map_err(VaultError::for_agent_token)
    }

    /// The agent's policy and keys, written once per process (again after a refusal).
    async fn prepared(&self, subject: &str) -> Result<(), VaultError> {
        if self.agent_tokens.first_preparation(subject)
            && let Err(error) = self.prepare_agent(subject).await
        {
            self.agent_tokens
                .prepared
                .lock()
                .expect("prepared lock")
                .remove(subject);
            return Err(error.for_agent_token());
        }
        Ok(())
    }

    async fn mint_agent_token(
        &self,
        subject: &str,
        ttl: Duration,
    ) -> Result<Arc<VaultClient>, VaultError> {
        let tokens = &self.agent_tokens;
        let request = CreateRoleTokenRequest::builder()
            .role_name(&tokens.role)
            .entity_alias(subject)
            .policies(vec![tokens.policy_of(subject)])
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

    /// What an agent needs in Vault before its first token: its policy and its Transit keys.
    /// Both writes leave what is already there as it is (the policy with the same text).
    pub async fn prepare_agent(&self, subject: &str) -> Result<(), VaultError> {
        let hcl = super::policy::agent_policy(subject, &self.mounts());
        self.put_policy(&self.agent_tokens.policy_of(subject), &hcl)
            .await?;
        self.create_agent_keys(subject).await
    }
}

/// `GET auth/token/roles/{role}`: what start-up checks of the agents' token role.
#[derive(Debug, rustify_derive::Endpoint)]
#[endpoint(path = "auth/token/roles/{self.role}", response = "TokenRole")]
struct ReadTokenRole {
    #[endpoint(skip)]
    role: String,
}

#[derive(Debug, serde::Deserialize)]
struct TokenRole {
    #[serde(default)]
    allowed_entity_aliases: Option<Vec<String>>,
}

impl Vault {
    /// Before serving: the token role exists and may bind tokens to agents' entity aliases.
    /// The error says what to run, for the operator.
    pub async fn check_agent_tokens(&self) -> Result<(), String> {
        let role = &self.agent_tokens.role;
        let setup = format!(
            "create it with the service's policy in place (README, \"Vault identity of agents\"): \
             vault write auth/token/roles/{role} allowed_policies_glob='{}*' \
             allowed_entity_aliases='*' orphan=true token_no_default_policy=true \
             (the dev stack's local-vault/provision.py does)",
            self.agent_tokens.policy_prefix
        );
        let read = ReadTokenRole { role: role.clone() };
        match exec::data(&self.base(), read).await {
            Ok(found)
                if found
                    .allowed_entity_aliases
                    .as_ref()
                    .is_some_and(|a| !a.is_empty()) =>
            {
                Ok(())
            }
            Ok(_) => Err(format!(
                "Vault's token role {role:?} (AGENT_TOKEN_ROLE) allows no entity aliases, so \
                 agents' tokens could not be their own identities: {setup}"
            )),
            Err(VaultError::NotFound) => Err(format!(
                "Vault has no token role {role:?} (AGENT_TOKEN_ROLE) for agents' tokens: {setup}"
            )),
            Err(VaultError::Forbidden) => Err(format!(
                "the service's Vault token may not read auth/token/roles/{role}: give it the \
                 policy `vault-mcp-bridge gen-policy --service` prints"
            )),
            // The service starts without Vault (`/readyz` says so) and mints when it can.
            Err(VaultError::Unavailable | VaultError::Timeout) => {
                tracing::warn!(role = %role, "Vault not reachable at start: its token role is not checked");
                Ok(())
            }
            Err(other) => Err(format!("checking Vault's token role {role:?}: {other}")),
        }
    }
}

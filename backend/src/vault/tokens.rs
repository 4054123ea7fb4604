//! Child tokens: with `CHILD_TOKEN_ENABLED`, each agent's Vault calls are made with a token of
//! its own, bound to the policy `{CHILD_TOKEN_POLICY_PREFIX}{subject}` (what `gen-policy`
//! writes), so Vault itself enforces the agent's corner, not only this service. A token is
//! reused while more than half of its TTL is left, not minted per request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vaultrs::api::token::requests::CreateTokenRequest;
use vaultrs::client::{VaultClient, VaultClientSettings};

use super::{Vault, VaultError};
use vault_mcp_filter::Identity as Agent;

pub struct ChildTokens {
    pub policy_prefix: String,
    pub ttl: Duration,
    cache: Mutex<HashMap<String, (Arc<VaultClient>, Instant)>>,
}

impl ChildTokens {
    pub fn new(policy_prefix: String, ttl: Duration) -> Self {
        Self {
            policy_prefix,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, subject: &str) -> Option<Arc<VaultClient>> {
        let cache = self.cache.lock().expect("token cache lock");
        let (client, minted) = cache.get(subject)?;
        (minted.elapsed() < self.ttl / 2).then(|| client.clone())
    }
}

impl Vault {
    /// The client to act for `agent` with: its child token's, or the service's own.
    pub(super) async fn client_for(&self, agent: &Agent) -> Result<Arc<VaultClient>, VaultError> {
        let Some(tokens) = &self.child_tokens else {
            return Ok(self.base());
        };
        if let Some(client) = tokens.cached(&agent.subject) {
            return Ok(client);
        }
        let mut request = CreateTokenRequest::builder();
        request
            .policies(vec![format!("{}{}", tokens.policy_prefix, agent.subject)])
            .display_name(format!("agent-{}", agent.subject))
            .ttl(format!("{}s", tokens.ttl.as_secs()))
            .renewable(false);
        let auth = self
            .observed("token", "create_child", async {
                Ok(vaultrs::token::new(&*self.base(), Some(&mut request)).await?)
            })
            .await?;
        let settings = VaultClientSettings {
            token: auth.client_token,
            ..self.settings.clone()
        };
        let client = Arc::new(VaultClient::new(settings).map_err(VaultError::from)?);
        tokens
            .cache
            .lock()
            .expect("token cache lock")
            .insert(agent.subject.clone(), (client.clone(), Instant::now()));
        Ok(client)
    }
}

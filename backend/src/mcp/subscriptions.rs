//! Change subscriptions on `kv://` resources: `resources/subscribe` in a session (2025-03-26 …
//! 2025-11-25) and `subscriptions/listen` on 2026-07-28 both end in a [`Watch`], which polls
//! Vault and reports the URIs whose stamp changed. Replicas share nothing but Vault, so a
//! change is seen however it was made: REST or MCP on any replica, or directly in Vault.
//!
//! A secret's stamp is its KV metadata (current version, update time, each version's deletion
//! and destruction): writes, deletes, undeletes, destroys and the secret's removal all change
//! it. A folder's stamp is its listing, so a folder changes when a name directly under it
//! comes or goes. Subscribing needs the scope of reading what is watched (`read` for a
//! secret, `list` for a folder). Each agent has at most `MCP_SUBSCRIPTIONS_PER_AGENT` live
//! subscribed URIs in this process; a change is reported within one poll interval
//! (`MCP_SUBSCRIPTION_POLL_SECONDS`) plus a Vault read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rmcp::model::ResourceUpdatedNotificationParam;
use rmcp::service::{Peer, SubscriptionContext};
use rmcp::{ErrorData as McpError, RoleServer};
use tokio::sync::oneshot;

use super::errors::protocol_error;
use super::resources::{self, Target};
use crate::error::ApiError;
use crate::identity::Agent;
use crate::ops::{self, kv};
use crate::vault::Vault;

/// What every session of this process shares: the poll interval and each agent's count.
pub struct Subscriptions {
    every: Duration,
    per_agent: usize,
    live: Mutex<HashMap<String, usize>>,
}

/// Some of an agent's allowance of subscriptions, given back when dropped.
pub struct Claim {
    owner: Arc<Subscriptions>,
    subject: String,
    count: usize,
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut live = self
            .owner
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(held) = live.get_mut(&self.subject) {
            *held = held.saturating_sub(self.count);
            if *held == 0 {
                live.remove(&self.subject);
            }
        }
    }
}

impl Subscriptions {
    pub fn new(every: Duration, per_agent: usize) -> Arc<Self> {
        Arc::new(Self {
            every,
            per_agent,
            live: Mutex::new(HashMap::new()),
        })
    }

    /// Takes `count` of `subject`'s allowance, or says clearly that it is used up.
    pub fn claim(self: &Arc<Self>, subject: &str, count: usize) -> Result<Claim, McpError> {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        let held = live.get(subject).copied().unwrap_or(0);
        if held + count > self.per_agent {
            return Err(McpError::invalid_request(
                format!(
                    "too many subscriptions: agent '{subject}' has {held} of at most {} \
                     (MCP_SUBSCRIPTIONS_PER_AGENT); unsubscribe from one first",
                    self.per_agent
                ),
                None,
            ));
        }
        live.insert(subject.to_string(), held + count);
        Ok(Claim {
            owner: self.clone(),
            subject: subject.to_string(),
            count,
        })
    }

    /// Starts watching `uris` for `agent`: each must be the agent's own and readable by it
    /// (the scope of `kv.read` or `kv.list`), and is stamped once now.
    pub async fn watch(
        &self,
        vault: Arc<Vault>,
        agent: Agent,
        uris: Vec<String>,
    ) -> Result<Watch, McpError> {
        let mut watched = Vec::with_capacity(uris.len());
        for uri in uris {
            let target = resources::parse(&uri, &agent)?;
            let target = match target {
                Target::Secret(_, Some(_)) => {
                    return Err(McpError::invalid_params(
                        "subscribe to a secret without ?version=N: an old version does not change",
                        None,
                    ));
                }
                Target::Secret(path, None) => {
                    ops::allow::<kv::KvRead>(&agent).map_err(|e| protocol_error(e, &uri))?;
                    Target::Secret(path, None)
                }
                Target::Folder(prefix) => {
                    ops::allow::<kv::KvList>(&agent).map_err(|e| protocol_error(e, &uri))?;
                    Target::Folder(prefix)
                }
            };
            let stamp = stamp(&vault, &agent, &target)
                .await
                .map_err(|e| protocol_error(e, &uri))?;
            watched.push(Watched { uri, target, stamp });
        }
        Ok(Watch {
            vault,
            agent,
            every: self.every,
            watched,
        })
    }
}

struct Watched {
    uri: String,
    target: Target,
    stamp: Option<String>,
}

/// Some URIs of one agent, polled.
pub struct Watch {
    vault: Arc<Vault>,
    agent: Agent,
    every: Duration,
    watched: Vec<Watched>,
}

impl Watch {
    /// Waits for the next poll that finds changes, and returns the URIs that changed. While
    /// Vault cannot be read, the last stamps are kept and polling goes on.
    pub async fn changed(&mut self) -> Vec<String> {
        loop {
            tokio::time::sleep(self.every).await;
            let mut changed = Vec::new();
            for watched in &mut self.watched {
                match stamp(&self.vault, &self.agent, &watched.target).await {
                    Ok(now) if now != watched.stamp => {
                        watched.stamp = now;
                        changed.push(watched.uri.clone());
                    }
                    Ok(_) => {}
                    Err(error) => tracing::warn!(
                        subject = %self.agent.subject,
                        error = %error,
                        "subscription poll failed; trying again"
                    ),
                }
            }
            if !changed.is_empty() {
                return changed;
            }
        }
    }
}

/// The URIs one session subscribed to with `resources/subscribe`, each watched by a task of
/// its own that ends when it is unsubscribed or the session ends (this is dropped with it),
/// or when the client can no longer be told.
#[derive(Clone, Default)]
pub struct InSession {
    watching: Arc<Mutex<HashMap<String, Subscribed>>>,
}

impl InSession {
    pub async fn subscribe(
        &self,
        subscriptions: &Arc<Subscriptions>,
        vault: Arc<Vault>,
        agent: Agent,
        uri: String,
        peer: Peer<RoleServer>,
    ) -> Result<(), McpError> {
        if self.lock().contains_key(&uri) {
            return Ok(());
        }
        let claim = subscriptions.claim(&agent.subject, 1)?;
        let mut watch = subscriptions.watch(vault, agent, vec![uri.clone()]).await?;
        // Dropping `stop` (unsubscribed, or the session gone) ends the task.
        let (stop, mut stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            loop {
                let changed = tokio::select! {
                    _ = &mut stopped => return,
                    changed = watch.changed() => changed,
                };
                for uri in changed {
                    let told = peer
                        .notify_resource_updated(ResourceUpdatedNotificationParam::new(uri))
                        .await;
                    if told.is_err() || peer.is_transport_closed() {
                        return;
                    }
                }
            }
        });
        self.lock().insert(
            uri,
            Subscribed {
                _stop: stop,
                _claim: claim,
            },
        );
        Ok(())
    }

    pub fn unsubscribe(&self, uri: &str) {
        self.lock().remove(uri);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Subscribed>> {
        self.watching.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One URI a session subscribed to: dropping it stops its task and gives back the allowance.
struct Subscribed {
    _stop: oneshot::Sender<()>,
    _claim: Claim,
}

/// Serves one 2026-07-28 `subscriptions/listen` until the client ends it or the agent is cut
/// off (`cut_off` completes): the accepted `resourceSubscriptions` are the agent's, within its
/// allowance, for as long as it listens.
/// rmcp acknowledges the filter before the agent is known here, so URIs that are not the
/// agent's, or beyond its allowance, end the listen at once with the error.
pub async fn listen(
    subscriptions: &Arc<Subscriptions>,
    vault: Arc<Vault>,
    agent: Agent,
    context: SubscriptionContext,
    cut_off: impl Future<Output = ()>,
) -> Result<(), McpError> {
    let subject = agent.subject.clone();
    let ended = || {
        McpError::invalid_request(
            format!("agent '{subject}' was disabled or removed: its subscriptions ended"),
            None,
        )
    };
    tokio::pin!(cut_off);
    let uris = context
        .accepted()
        .resource_subscriptions
        .clone()
        .unwrap_or_default();
    if uris.is_empty() {
        // Nothing of ours was asked for (the lists never change): hold the stream open.
        return tokio::select! {
            _ = context.cancelled() => Ok(()),
            _ = &mut cut_off => Err(ended()),
        };
    }
    let _claim = subscriptions.claim(&agent.subject, uris.len())?;
    let mut watch = subscriptions.watch(vault, agent, uris).await?;
    loop {
        let changed = tokio::select! {
            _ = context.cancelled() => return Ok(()),
            _ = &mut cut_off => return Err(ended()),
            changed = watch.changed() => changed,
        };
        for uri in changed {
            if context.sink().notify_resource_updated(uri).await.is_err() {
                return Ok(());
            }
        }
    }
}

async fn stamp(vault: &Vault, agent: &Agent, target: &Target) -> Result<Option<String>, ApiError> {
    Ok(match target {
        Target::Secret(path, _) => vault.kv_stamp(agent.into(), path).await?,
        Target::Folder(prefix) => Some(vault.kv_list(agent.into(), prefix).await?.keys.join("\n")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_agent_has_its_own_allowance_given_back_when_dropped() {
        let subscriptions = Subscriptions::new(Duration::from_secs(1), 3);
        let two = subscriptions.claim("a", 2).unwrap();
        let error = subscriptions.claim("a", 2).err().unwrap();
        assert!(
            error.message.contains("has 2 of at most 3"),
            "{}",
            error.message
        );
        let b = subscriptions.claim("b", 3).unwrap();
        let one = subscriptions.claim("a", 1).unwrap();
        assert!(subscriptions.claim("a", 1).is_err());
        drop(two);
        let _again = subscriptions.claim("a", 2).unwrap();
        drop((b, one));
        assert!(subscriptions.claim("b", 3).is_ok());
    }
}

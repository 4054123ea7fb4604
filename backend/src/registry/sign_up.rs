//! Registration on first sign-in (`USERS_SIGN_UP_SCOPES`): the registry's snapshot tells the
//! edge to admit a person it does not know yet with those scopes (as far as their token grants
//! them), and the first request such a person makes registers them here, as `agents add
//! NAME --user` would. From then on they are a record like any other: an operator changes their
//! scopes, disables them (which keeps them out: a disabled record is known) or removes them
//! (with sign-up on, they come back at their next sign-in).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock};

use vault_mcp_filter::identity::is_user_subject;
use vault_mcp_filter::registry::Registry as Snapshot;

use super::Registry;

pub struct SignUps {
    scopes: Vec<String>,
    /// The snapshot this replica last followed: who was registered then.
    held: RwLock<Option<Arc<Snapshot>>>,
    /// People registered (or found registered) here since that snapshot: one Vault call each.
    done: Mutex<HashSet<String>>,
}

impl SignUps {
    pub fn new(scopes: Vec<String>) -> Self {
        Self {
            scopes,
            held: RwLock::new(None),
            done: Mutex::new(HashSet::new()),
        }
    }

    /// A new snapshot: it knows whom this replica registered before it.
    pub fn follow(&self, snapshot: Arc<Snapshot>) {
        *self.held.write().expect("sign-up lock") = Some(snapshot);
        self.done.lock().expect("sign-up lock").clear();
    }

    fn needed(&self, subject: &str) -> bool {
        is_user_subject(subject)
            && self
                .held
                .read()
                .expect("sign-up lock")
                .as_ref()
                .is_none_or(|s| s.agent(subject).is_none())
            && !self.done.lock().expect("sign-up lock").contains(subject)
    }

    /// Registers the person `subject` unless the registry has them. A failure is logged and the
    /// request goes on: the edge admitted it, and the next request tries again.
    pub async fn register_if_new(&self, registry: &Registry, subject: &str) {
        if !self.needed(subject) {
            return;
        }
        match registry.sign_up(subject, &self.scopes).await {
            Ok(new) => {
                if new {
                    tracing::info!(target: "admin", action = "sign-up", agent = subject, scopes = ?self.scopes, "registry change");
                }
                self.done
                    .lock()
                    .expect("sign-up lock")
                    .insert(subject.to_string());
            }
            Err(error) => {
                tracing::warn!(%error, agent = subject, "sign-up failed; next request tries again")
            }
        }
    }
}

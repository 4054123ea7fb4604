//! Agents cut off while this process holds streams open for them. The kill switch (`agents
//! disable` and `remove`, the admin API, the console) disables the agent's Vault entity, which
//! stops every Vault call made for it; what the bridge itself holds open for the agent ends
//! here: its MCP sessions (their streams, pending questions and `resources/subscribe` watches,
//! [`super::owners`]) and its 2026-07-28 `subscriptions/listen` streams. The replica that
//! made the change learns it at once, every replica from the registry it follows
//! (`REGISTRY_REFRESH_SECONDS`): an agent enabled in one snapshot and disabled or gone in the
//! next is cut off. Until a snapshot shows it enabled again, it stays off here: a stream or
//! session it opens meanwhile (through an edge whose snapshot is older) ends or is refused at
//! once.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;
use vault_mcp_filter::registry::Registry;

pub struct CutOffs {
    state: Mutex<State>,
    /// Bumped at each cut off, waking whatever waits for one.
    epoch: watch::Sender<u64>,
}

#[derive(Default)]
struct State {
    /// How many times each agent was cut off in this process (only agents ever cut off).
    cuts: HashMap<String, u64>,
    /// The agents enabled in the last registry snapshot; `None` before the first.
    enabled: Option<HashSet<String>>,
    /// The agents cut off and not enabled since (disabled in the last snapshot included).
    off: HashSet<String>,
}

impl Default for CutOffs {
    fn default() -> Self {
        Self {
            state: Mutex::new(State::default()),
            epoch: watch::Sender::new(0),
        }
    }
}

impl CutOffs {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn cuts(&self, subject: &str) -> u64 {
        self.lock().cuts.get(subject).copied().unwrap_or(0)
    }

    /// Ends what waits in [`Self::until_cut_off`] for `subject`.
    pub fn cut_off(&self, subject: &str) {
        {
            let mut state = self.lock();
            *state.cuts.entry(subject.to_string()).or_default() += 1;
            state.off.insert(subject.to_string());
        }
        self.epoch.send_modify(|epoch| *epoch += 1);
    }

    /// The agent is enabled again (by this replica): no longer off here.
    pub fn restore(&self, subject: &str) {
        self.lock().off.remove(subject);
    }

    /// Whether `subject` is cut off now (and not enabled since).
    pub fn is_cut_off(&self, subject: &str) -> bool {
        self.lock().off.contains(subject)
    }

    /// Takes a new registry snapshot; returns the agents it cuts off (each also cut off here).
    pub fn follow(&self, registry: &Registry) -> Vec<String> {
        let now: HashSet<String> = registry
            .agents()
            .filter(|agent| agent.enabled)
            .map(|agent| agent.identity.subject.clone())
            .collect();
        let gone: Vec<String> = {
            let mut state = self.lock();
            let before = state.enabled.replace(now.clone());
            state.off.retain(|subject| !now.contains(subject));
            state.off.extend(
                registry
                    .agents()
                    .filter(|agent| !agent.enabled)
                    .map(|agent| agent.identity.subject.clone()),
            );
            before
                .unwrap_or_default()
                .difference(&now)
                .cloned()
                .collect()
        };
        for subject in &gone {
            self.cut_off(subject);
        }
        gone
    }

    /// Completes when `subject` is cut off after this call, or at once if it is cut off now
    /// (never, if it is not).
    pub fn until_cut_off(
        self: &Arc<Self>,
        subject: &str,
    ) -> impl Future<Output = ()> + Send + 'static {
        let seen = self.cuts(subject);
        let already = self.is_cut_off(subject);
        let mut epoch = self.epoch.subscribe();
        let subject = subject.to_string();
        let this = self.clone();
        async move {
            if already {
                return;
            }
            loop {
                if this.cuts(&subject) > seen {
                    return;
                }
                if epoch.changed().await.is_err() {
                    return std::future::pending().await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    fn registry(agents: &[(&str, bool)]) -> Registry {
        let agents: Vec<_> = agents
            .iter()
            .map(|(subject, enabled)| serde_json::json!({"subject": subject, "enabled": enabled}))
            .collect();
        let snapshot = serde_json::json!({ "agents": agents }).to_string();
        Registry::parse(snapshot.as_bytes(), usize::MAX).unwrap()
    }

    #[tokio::test]
    async fn an_agent_disabled_or_removed_in_the_next_snapshot_is_cut_off() {
        let cut_offs = Arc::new(CutOffs::default());
        // The first snapshot cuts no one off: nothing was known before it.
        assert!(
            cut_offs
                .follow(&registry(&[("a", true), ("b", false)]))
                .is_empty()
        );
        let a = cut_offs.until_cut_off("a");
        let c = cut_offs.until_cut_off("c");
        assert_eq!(
            cut_offs.follow(&registry(&[("a", false), ("c", true)])),
            ["a"]
        );
        a.await;
        assert_eq!(cut_offs.follow(&registry(&[("a", true)])), ["c"]);
        c.await;
        // Cut off and not enabled since: what starts now ends at once. A disabled agent in the
        // snapshot counts, from the first snapshot on.
        assert!(cut_offs.is_cut_off("c") && !cut_offs.is_cut_off("a"));
        cut_offs.until_cut_off("c").await;
        assert!(
            cut_offs
                .follow(&registry(&[("a", true), ("d", false)]))
                .is_empty()
        );
        assert!(cut_offs.is_cut_off("d") && cut_offs.is_cut_off("c"));
        // Enabled again: waiting starts from now, an earlier cut off does not end it.
        let again = cut_offs.until_cut_off("a");
        tokio::pin!(again);
        assert!(again.as_mut().now_or_never().is_none());
        cut_offs.cut_off("a");
        again.await;
    }
}

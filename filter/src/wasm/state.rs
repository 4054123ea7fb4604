//! What every HTTP context of one VM shares, built by the root context from the configuration:
//! apart from both contexts, so the root builds it and the HTTP contexts read it without either
//! module knowing the other's internals.

use super::metrics::Metrics;
use super::registry::Held;
use super::shared::HeldKeys;
use crate::Policy;

/// What every HTTP context of this VM shares.
pub struct Configured {
    pub policy: Policy,
    pub keys: HeldKeys,
    pub metrics: Metrics,
    pub registry: Held,
}

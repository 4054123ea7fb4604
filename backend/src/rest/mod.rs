//! REST routes for plain HTTP agents. Handlers only translate HTTP to [`crate::vault`] calls.

mod health;
mod secrets;

use actix_web::web;

pub use health::healthz;

/// Routes that act for an agent; the caller wraps them in [`crate::identity::require_agent`].
pub fn agent_routes(cfg: &mut web::ServiceConfig) {
    secrets::routes(cfg);
}

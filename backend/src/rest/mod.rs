//! REST routes for plain HTTP agents. Each handler turns its request into an operation of
//! [`crate::ops`] ([`call::Caller`]) and answers with its output.

mod admin;
mod call;
mod database;
mod edge;
mod health;
mod openapi;
mod pki;
mod secrets;
mod ssh;
mod transit;

use actix_web::web;

pub use edge::snapshot as registry_snapshot;
pub use health::{livez, readyz};
pub use openapi::{ApiDoc, routes as docs_routes};

/// Routes that act for an agent; the caller wraps them in [`crate::identity::require_agent`]
/// and [`crate::identity::require_route_scope`], so handlers never check scopes themselves.
pub fn agent_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/whoami", web::get().to(health::whoami));
    secrets::routes(cfg);
    transit::routes(cfg);
    database::routes(cfg);
    ssh::routes(cfg);
    pki::routes(cfg);
}

/// The operators' routes (`/admin/…`), wrapped like [`agent_routes`]; served whether or not the
/// agents' REST routes are.
pub fn admin_routes(cfg: &mut web::ServiceConfig) {
    admin::routes(cfg);
}

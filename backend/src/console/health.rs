//! The Health page's data: Vault as the backend sees it, the registry snapshot the console
//! decides with, and (with `CONSOLE_ENVOY_ADMIN_URL`) the filter's own counters from Envoy's
//! admin `/stats`: JWKS and registry fetches, the agents Envoy holds, refusals by code (a
//! refusal for rate-limit capacity means the limiter's slots are full), beside the number of
//! slots the edge's configuration gives it.

use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

use super::Console;
use crate::vault::Vault;

pub async fn health(vault: web::Data<Vault>, console: web::Data<Console>) -> HttpResponse {
    let vault = match vault.token_ttl().await {
        Ok(ttl) => json!({ "ready": true, "token_ttl_seconds": ttl }),
        Err(error) => json!({ "ready": false, "error": error.to_string() }),
    };
    let registry = match console.gate.registry_status() {
        Some((agents, age)) => json!({
            "agents": agents,
            "snapshot_age_seconds": age.as_secs_f64(),
            "refresh_seconds": console.registry_refresh_seconds,
        }),
        None => json!({ "agents": null, "refresh_seconds": console.registry_refresh_seconds }),
    };
    let edge = match &console.envoy_admin {
        None => Value::Null,
        Some(admin) => match admin.filter_counters().await {
            Ok(mut counters) => {
                // Per-agent refusals are the Traffic page's (one per agent and code).
                counters.retain(|name, _| !name.starts_with("agent."));
                json!({ "reachable": true, "counters": counters })
            }
            Err(error) => json!({ "reachable": false, "error": error }),
        },
    };
    // The edge's own configuration (the file Envoy loads): how many agents it can limit at once.
    let rate_limit = console
        .gate
        .policy
        .rate_limit
        .as_ref()
        .map(|rate| json!({ "slots": rate.limiter.slots(), "default": rate.default }));
    HttpResponse::Ok().json(json!({
        "vault": vault,
        "registry": registry,
        "edge": edge,
        "rate_limit": rate_limit,
    }))
}

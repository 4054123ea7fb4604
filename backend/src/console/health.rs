//! The Health page's data: Vault as the backend sees it, the registry snapshot the console
//! decides with, and (with `CONSOLE_ENVOY_ADMIN_URL`) the filter's own counters from Envoy's
//! admin `/stats`: JWKS and registry fetches, the agents Envoy holds, refusals by code (a
//! refusal for rate-limit capacity means the limiter's slots are full).

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Console;
use crate::vault::Vault;

/// The filter's counters in Envoy's stats (Envoy prefixes custom wasm metrics).
const FILTER_STATS: &str = "wasmcustom.vault_mcp_filter.";
/// An admin that does not answer within this is shown as unreachable.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(3);

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
            Ok(counters) => json!({ "reachable": true, "counters": counters }),
            Err(error) => json!({ "reachable": false, "error": error }),
        },
    };
    HttpResponse::Ok().json(json!({ "vault": vault, "registry": registry, "edge": edge }))
}

#[derive(Deserialize)]
struct Stats {
    stats: Vec<Stat>,
}

#[derive(Deserialize)]
struct Stat {
    name: Option<String>,
    value: Option<Value>,
}

/// Envoy's admin as the Health page reads it: the stats URL and a client, made once.
pub struct EnvoyAdmin {
    stats_url: String,
    client: reqwest::Client,
}

impl EnvoyAdmin {
    pub fn new(admin: &str) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(ADMIN_TIMEOUT)
            .build()
            .map_err(|e| e.to_string())?;
        let stats_url = format!(
            "{}/stats?format=json&filter=^wasmcustom\\.vault_mcp_filter\\.",
            admin.trim_end_matches('/')
        );
        Ok(Self { stats_url, client })
    }

    /// The filter's counters and gauges by name (`allowed`, `denied.invalid_api_key`, …).
    async fn filter_counters(&self) -> Result<BTreeMap<String, u64>, String> {
        let response = self
            .client
            .get(self.stats_url.as_str())
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if !response.status().is_success() {
            return Err(format!("Envoy admin answered {}", response.status()));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| e.without_url().to_string())?;
        let stats: Stats = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        Ok(stats
            .stats
            .into_iter()
            .filter_map(|s| {
                let name = s.name?.strip_prefix(FILTER_STATS)?.to_string();
                Some((name, s.value?.as_u64()?))
            })
            .collect())
    }
}

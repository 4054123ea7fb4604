//! The Traffic and Activity pages' data, from `crate::traffic` (what this backend answered),
//! shown only for agents of the registry; and a request's entries in Vault's audit log, found
//! by the request id the bridge sends Vault (`X-Request-Id`, an audited header).

use std::io::{Read, Seek, SeekFrom};

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Console;
use crate::error::ApiError;
use crate::traffic::TRAFFIC;

/// How much of the audit log's end is searched for a request id.
const AUDIT_TAIL: u64 = 16 * 1024 * 1024;
/// Audit entries returned for one request id.
const AUDIT_MAX: usize = 50;

fn now_ms() -> u64 {
    crate::clock::unix_millis()
}

fn known(console: &Console, subject: &str) -> Result<(), ApiError> {
    if console.gate.knows(subject) {
        Ok(())
    } else {
        Err(ApiError::Missing(format!(
            "no agent {subject} in the registry"
        )))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficQuery {
    agent: Option<String>,
}

/// `GET /api/traffic[?agent=]`: the last hour, minute by minute, overall or for one agent (as
/// this backend answered, and as the edge refused), and the registry's agents by requests.
pub async fn traffic(
    console: web::Data<Console>,
    query: web::Query<TrafficQuery>,
) -> Result<HttpResponse, ApiError> {
    if let Some(agent) = &query.agent {
        known(&console, agent)?;
    }
    let mut agents: Vec<_> = TRAFFIC
        .per_agent()
        .into_iter()
        .filter(|(subject, _)| console.gate.knows(subject))
        .collect();
    agents.sort_by(|a, b| b.1.requests.cmp(&a.1.requests).then_with(|| a.0.cmp(&b.0)));
    let (refusals, refusals_by_code) = console.refusals.series(query.agent.as_deref(), now_ms());
    Ok(HttpResponse::Ok().json(json!({
        "agent": query.agent,
        "series": TRAFFIC.series(query.agent.as_deref(), now_ms()),
        // Refused at the edge (never reaching this backend): sampled from Envoy's counters.
        "edge_refusals": {
            "sampled": console.envoy_admin.is_some(),
            "series": refusals,
            "by_code": refusals_by_code,
        },
        "agents": agents
            .into_iter()
            .map(|(subject, summary)| {
                let mut entry = json!(summary);
                entry["subject"] = json!(subject);
                entry
            })
            .collect::<Vec<_>>(),
    })))
}

/// `GET /api/activity/{agent}`: the agent's last requests, newest first.
pub async fn activity(
    console: web::Data<Console>,
    agent: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    known(&console, &agent)?;
    Ok(HttpResponse::Ok().json(json!({ "agent": *agent, "requests": TRAFFIC.recent(&agent) })))
}

/// `GET /api/audit/{request_id}`: what Vault's audit log recorded for one request (time,
/// request or response, operation, path, error), never the entries themselves.
pub async fn audit(
    console: web::Data<Console>,
    request_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let Some(path) = console.audit_log.clone() else {
        return Err(ApiError::NotReady(
            "no audit log configured (CONSOLE_VAULT_AUDIT_LOG)".into(),
        ));
    };
    let id = request_id.into_inner();
    if id.is_empty()
        || id.len() > 128
        || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(ApiError::BadRequest("not a request id".into()));
    }
    let entries = web::block(move || search_audit(&path, &id))
        .await
        .map_err(|e| ApiError::NotReady(e.to_string()))?
        .map_err(|e| ApiError::NotReady(format!("the audit log cannot be read: {e}")))?;
    Ok(HttpResponse::Ok().json(json!({ "entries": entries })))
}

fn search_audit(path: &std::path::Path, id: &str) -> std::io::Result<Vec<Value>> {
    let mut file = std::fs::File::open(path)?;
    let length = file.metadata()?.len();
    file.seek(SeekFrom::Start(length.saturating_sub(AUDIT_TAIL)))?;
    // The tail may start inside a line (and a character): the first line is cut, and lossy
    // decoding turns a cut character into a replacement one instead of failing.
    let mut bytes = Vec::new();
    file.take(AUDIT_TAIL).read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    let needle = format!("\"{id}\"");
    Ok(text
        .lines()
        .filter(|line| line.contains(&needle))
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|entry| {
            entry
                .pointer("/request/headers/x-request-id")
                .and_then(Value::as_array)
                .is_some_and(|ids| ids.iter().any(|v| v.as_str() == Some(id)))
        })
        .take(AUDIT_MAX)
        .map(|entry| {
            json!({
                "time": entry.get("time"),
                "type": entry.get("type"),
                "operation": entry.pointer("/request/operation"),
                "path": entry.pointer("/request/path"),
                "error": entry.get("error").filter(|e| e.as_str().is_some_and(|s| !s.is_empty())),
            })
        })
        .collect())
}

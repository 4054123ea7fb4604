//! `/admin/agents…`: the agent registry over HTTP, for operators (scope `admin`, required by the
//! route table at the edge and again here). Every handler calls `crate::registry`, as the CLI
//! does; every change is logged with the operator's subject and the request id.

use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use vault_mcp_filter::ratelimit::Limit;

use crate::error::ApiError;
use crate::identity::Agent;
use crate::mcp::owners::SessionOwners;
use crate::registry::{Changes, NewAgent, Registry};
use crate::telemetry::REQUEST_ID;
use crate::vault::registry::AgentRoles;
use crate::vault::revocation::Revocation;

/// Under the `/admin` scope, which the caller wraps in the identity and route-scope checks.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/agents", web::get().to(list))
        .route("/agents", web::post().to(add))
        .route("/agents/{subject}", web::get().to(show))
        .route("/agents/{subject}", web::patch().to(update))
        .route("/agents/{subject}", web::delete().to(remove))
        .route("/agents/{subject}/keys", web::post().to(rotate_key))
        .route(
            "/agents/{subject}/keys/{key_id}",
            web::delete().to(revoke_key),
        );
}

fn audit(operator: &Agent, action: &str, subject: &str) {
    audit_revoked(operator, action, subject, None);
}

/// The audit line, with what the kill switch revoked in Vault when it ran.
fn audit_revoked(operator: &Agent, action: &str, subject: &str, revoked: Option<&Revocation>) {
    let request_id = REQUEST_ID.try_with(Clone::clone).unwrap_or_default();
    tracing::info!(
        target: "admin",
        operator = %operator.subject,
        action,
        agent = subject,
        request_id = %request_id,
        entity_disabled = revoked.map(|r| r.entity_disabled),
        leases_revoked = ?revoked.map(|r| &r.leases_revoked),
        certificates_revoked = ?revoked.map(|r| &r.certificates_revoked),
        "registry change"
    );
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddBody {
    subject: String,
    /// A person signing in through the authorization server: `subject` is their name there.
    #[serde(default)]
    user: bool,
    scopes: Vec<String>,
    #[serde(default)]
    rate: Option<Limit>,
    /// MCP tool → the agent's own limit for it.
    #[serde(default)]
    tool_rates: BTreeMap<String, Limit>,
    /// MCP tool → how many calls over a long window, across every Envoy.
    #[serde(default)]
    budgets: BTreeMap<String, Limit>,
    /// Register an existing key by its SHA-256 instead of making one.
    #[serde(default)]
    key_sha256: Option<String>,
    /// The client-certificate name the agent answers to.
    #[serde(default)]
    certificate: Option<String>,
    /// Per engine, the configured roles it may use (absent: all).
    #[serde(default)]
    roles: AgentRoles,
}

async fn list(registry: web::Data<Registry>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(serde_json::json!({ "agents": registry.list().await? })))
}

async fn add(
    registry: web::Data<Registry>,
    operator: web::ReqData<Agent>,
    body: web::Json<AddBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let issued = registry
        .add(NewAgent {
            subject: body.subject,
            user: body.user,
            scopes: body.scopes,
            rate: body.rate,
            tool_rates: body.tool_rates,
            budgets: body.budgets,
            key_sha256: body.key_sha256,
            certificate: body.certificate,
            roles: body.roles,
        })
        .await?;
    audit(&operator, "add", &issued.subject);
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(issued))
}

async fn show(
    registry: web::Data<Registry>,
    subject: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(registry.show(&subject).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    /// `null` removes the agent's own limit.
    #[serde(default, with = "serde_with_null")]
    rate: Option<Option<Limit>>,
    /// Replaces every per-tool limit of the agent (`{}`: none).
    #[serde(default)]
    tool_rates: Option<BTreeMap<String, Limit>>,
    /// Replaces every budget of the agent (`{}`: none).
    #[serde(default)]
    budgets: Option<BTreeMap<String, Limit>>,
    /// `null` removes the certificate name.
    #[serde(default, with = "serde_with_null")]
    certificate: Option<Option<String>>,
    #[serde(default)]
    roles: Option<AgentRoles>,
}

/// Tells "absent" (`None`) from `null` (`Some(None)`).
mod serde_with_null {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(d).map(Some)
    }
}

async fn update(
    registry: web::Data<Registry>,
    sessions: web::Data<SessionOwners>,
    operator: web::ReqData<Agent>,
    subject: web::Path<String>,
    body: web::Json<UpdateBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let changes = Changes {
        enabled: body.enabled,
        scopes: body.scopes,
        rate: body.rate,
        tool_rates: body.tool_rates,
        budgets: body.budgets,
        certificate: body.certificate,
        roles: body.roles,
    };
    let changed = !changes.is_empty();
    let view = registry.update(&subject, changes).await?;
    if changed {
        audit_revoked(&operator, "update", &subject, view.revoked.as_ref());
    }
    match (view.revoked.is_some(), view.enabled) {
        // Disabled: what this replica holds open for the agent ends now (others follow the
        // registry).
        (true, _) => sessions.cut_off(&subject).await,
        (false, true) => sessions.restore(&subject),
        (false, false) => {}
    }
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoveQuery {
    #[serde(default)]
    destroy_data: bool,
}

async fn remove(
    registry: web::Data<Registry>,
    sessions: web::Data<SessionOwners>,
    operator: web::ReqData<Agent>,
    subject: web::Path<String>,
    query: web::Query<RemoveQuery>,
) -> Result<HttpResponse, ApiError> {
    let removed = registry.remove(&subject, query.destroy_data).await?;
    sessions.cut_off(&subject).await;
    audit_revoked(
        &operator,
        if query.destroy_data {
            "remove_destroy_data"
        } else {
            "remove"
        },
        &subject,
        Some(&removed.revoked),
    );
    Ok(HttpResponse::Ok().json(removed))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    /// Seconds the current keys stay valid (default 0: refused at once).
    #[serde(default)]
    grace_seconds: u64,
}

async fn rotate_key(
    registry: web::Data<Registry>,
    operator: web::ReqData<Agent>,
    subject: web::Path<String>,
    body: Option<web::Json<RotateBody>>,
) -> Result<HttpResponse, ApiError> {
    let grace = body.map(|b| b.grace_seconds).unwrap_or_default();
    let issued = registry.rotate_key(&subject, grace).await?;
    audit(&operator, "rotate_key", &subject);
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(issued))
}

async fn revoke_key(
    registry: web::Data<Registry>,
    operator: web::ReqData<Agent>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (subject, key_id) = path.into_inner();
    let view = registry.revoke_key(&subject, &key_id).await?;
    audit(&operator, "revoke_key", &subject);
    Ok(HttpResponse::Ok().json(view))
}

//! `/secrets/{path}`: KV v2 in the caller's own folder.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value};

use vault_mcp_filter::scopes;

use crate::error::ApiError;
use crate::identity::{Agent, require_scope};
use crate::vault::{SecretPath, Vault};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/secrets/{path:.*}", web::get().to(read))
        .route("/secrets/{path:.*}", web::put().to(write));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadQuery {
    version: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WriteBody {
    data: Map<String, Value>,
}

async fn read(
    vault: web::Data<Vault>,
    agent: web::ReqData<Agent>,
    path: web::Path<String>,
    query: web::Query<ReadQuery>,
) -> Result<HttpResponse, ApiError> {
    require_scope(&agent, scopes::READ)?;
    let path = SecretPath::parse(&path)?;
    let secret = vault.kv_read(&agent, &path, query.version).await?;
    Ok(HttpResponse::Ok().json(secret))
}

async fn write(
    vault: web::Data<Vault>,
    agent: web::ReqData<Agent>,
    path: web::Path<String>,
    body: web::Json<WriteBody>,
) -> Result<HttpResponse, ApiError> {
    require_scope(&agent, scopes::WRITE)?;
    let path = SecretPath::parse(&path)?;
    let written = vault.kv_write(&agent, &path, &body.data).await?;
    Ok(HttpResponse::Ok().json(written))
}

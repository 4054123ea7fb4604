//! `/secrets`: KV v2 in the caller's own folder.

use crate::error::ApiError;
use crate::identity::Agent;
use crate::vault::kv::check_versions;
use crate::vault::{SecretPath, SecretPrefix, Vault};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/secrets", web::get().to(list))
        .route("/secrets/{path:.*}", web::get().to(read))
        .route("/secrets/{path:.*}", web::put().to(write))
        .route("/secrets/{path:.*}", web::delete().to(delete))
        // `POST /secrets/{path}:undelete` and `:destroy` (':' is never part of a path).
        .route("/secrets/{path:.*}", web::post().to(versions_action));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadQuery {
    version: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    #[serde(default)]
    prefix: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WriteBody {
    data: Map<String, Value>,
    /// Check-and-set: write only if the current version is this (0: only if absent).
    #[serde(default)]
    cas: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VersionsBody {
    versions: Vec<u64>,
}

async fn read(
    vault: web::Data<Vault>,
    agent: web::ReqData<Agent>,
    path: web::Path<String>,
    query: web::Query<ReadQuery>,
) -> Result<HttpResponse, ApiError> {
    let path = SecretPath::parse(&path)?;
    Ok(HttpResponse::Ok().json(vault.kv_read(&agent, &path, query.version).await?))
}

async fn write(
    vault: web::Data<Vault>,
    agent: web::ReqData<Agent>,
    path: web::Path<String>,
    body: web::Json<WriteBody>,
) -> Result<HttpResponse, ApiError> {
    let path = SecretPath::parse(&path)?;
    let written = vault.kv_write(&agent, &path, &body.data, body.cas).await?;
    Ok(HttpResponse::Ok().json(written))
}

async fn list(
    vault: web::Data<Vault>,
    agent: web::ReqData<Agent>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let prefix = SecretPrefix::parse(&query.prefix)?;
    Ok(HttpResponse::Ok().json(vault.kv_list(&agent, &prefix).await?))
}

async fn delete(
    vault: web::Data<Vault>,
    agent: web::ReqData<Agent>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let path = SecretPath::parse(&path)?;
    Ok(HttpResponse::Ok().json(vault.kv_delete(&agent, &path).await?))
}

async fn versions_action(
    vault: web::Data<Vault>,
    agent: web::ReqData<Agent>,
    path: web::Path<String>,
    body: web::Json<VersionsBody>,
) -> Result<HttpResponse, ApiError> {
    let versions = body.into_inner().versions;
    check_versions(&versions).map_err(ApiError::BadRequest)?;
    let changed = if let Some(path) = path.strip_suffix(":undelete") {
        let path = SecretPath::parse(path)?;
        vault.kv_undelete(&agent, &path, versions).await?
    } else if let Some(path) = path.strip_suffix(":destroy") {
        let path = SecretPath::parse(path)?;
        vault.kv_destroy(&agent, &path, versions).await?
    } else {
        return Err(ApiError::BadRequest(
            "POST /secrets/{path} needs an action: ':undelete' or ':destroy'".into(),
        ));
    };
    Ok(HttpResponse::Ok().json(changed))
}

//! `/secrets`: KV v2 in the caller's own folder.

use crate::error::ApiError;
use crate::error::ErrorBody;
use crate::identity::Agent;
use crate::vault::kv::check_versions;
use crate::vault::kv::{Listing, Secret, VersionsChanged, Written, check_wrap_ttl};
use crate::vault::{SecretPath, SecretPrefix, Vault};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

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
pub(crate) struct ReadQuery {
    version: Option<u64>,
    /// Answer with a response-wrapping token valid this long instead of the value.
    wrap_ttl: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    #[serde(default)]
    prefix: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WriteBody {
    #[schema(value_type = Object)]
    data: Map<String, Value>,
    /// Check-and-set: write only if the current version is this (0: only if absent).
    #[serde(default)]
    cas: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VersionsBody {
    versions: Vec<u64>,
}

#[utoipa::path(get, path = "/secrets/{path}", operation_id = "kv_read", tag = "kv", summary = "Read a secret (latest or ?version=N)", params(("path" = String, Path, description = "Relative secret path, e.g. configs/demo"), ("version" = Option<u64>, Query, description = "Version to read"), ("wrap_ttl" = Option<String>, Query, description = "Return a one-time response-wrapping token valid this long (30s, 5m, 1h; at most 24h) instead of the value")), responses((status = 200, description = "The secret, or with wrap_ttl a Wrapped token", body = Secret), (status = 400, description = "Invalid input, or Vault rejected it", body = ErrorBody), (status = 401, description = "Not authenticated", body = ErrorBody), (status = 403, description = "Scope missing, or Vault refused", body = ErrorBody), (status = 404, description = "Nothing there", body = ErrorBody), (status = 503, description = "Vault sealed or unreachable (Retry-After)", body = ErrorBody)), security(("api_key" = []), ("bearer" = [])))]
pub(crate) async fn read(
    vault: web::Data<Vault>,
    agent: web::ReqData<Agent>,
    path: web::Path<String>,
    query: web::Query<ReadQuery>,
) -> Result<HttpResponse, ApiError> {
    let path = SecretPath::parse(&path)?;
    if let Some(ttl) = &query.wrap_ttl {
        check_wrap_ttl(ttl).map_err(ApiError::BadRequest)?;
        let wrapped = vault
            .kv_read_wrapped(&agent, &path, query.version, ttl)
            .await?;
        return Ok(HttpResponse::Ok().json(wrapped));
    }
    Ok(HttpResponse::Ok().json(vault.kv_read(&agent, &path, query.version).await?))
}

#[utoipa::path(put, path = "/secrets/{path}", operation_id = "kv_write", tag = "kv", summary = "Write a new version (optionally check-and-set)", request_body = WriteBody, params(("path" = String, Path, description = "Relative secret path, e.g. configs/demo")), responses((status = 200, description = "OK", body = Written), (status = 400, description = "Invalid input, or Vault rejected it", body = ErrorBody), (status = 401, description = "Not authenticated", body = ErrorBody), (status = 403, description = "Scope missing, or Vault refused", body = ErrorBody), (status = 503, description = "Vault sealed or unreachable (Retry-After)", body = ErrorBody)), security(("api_key" = []), ("bearer" = [])))]
pub(crate) async fn write(
    vault: web::Data<Vault>,
    agent: web::ReqData<Agent>,
    path: web::Path<String>,
    body: web::Json<WriteBody>,
) -> Result<HttpResponse, ApiError> {
    let path = SecretPath::parse(&path)?;
    let written = vault.kv_write(&agent, &path, &body.data, body.cas).await?;
    Ok(HttpResponse::Ok().json(written))
}

#[utoipa::path(get, path = "/secrets", operation_id = "kv_list", tag = "kv", summary = "List secret names under a folder (never values)", params(("prefix" = Option<String>, Query, description = "Folder, e.g. configs/")), responses((status = 200, description = "OK", body = Listing), (status = 400, description = "Invalid input, or Vault rejected it", body = ErrorBody), (status = 401, description = "Not authenticated", body = ErrorBody), (status = 403, description = "Scope missing, or Vault refused", body = ErrorBody), (status = 503, description = "Vault sealed or unreachable (Retry-After)", body = ErrorBody)), security(("api_key" = []), ("bearer" = [])))]
pub(crate) async fn list(
    vault: web::Data<Vault>,
    agent: web::ReqData<Agent>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let prefix = SecretPrefix::parse(&query.prefix)?;
    Ok(HttpResponse::Ok().json(vault.kv_list(&agent, &prefix).await?))
}

#[utoipa::path(delete, path = "/secrets/{path}", operation_id = "kv_delete", tag = "kv", summary = "Soft-delete the latest version", params(("path" = String, Path, description = "Relative secret path, e.g. configs/demo")), responses((status = 200, description = "OK", body = VersionsChanged), (status = 400, description = "Invalid input, or Vault rejected it", body = ErrorBody), (status = 401, description = "Not authenticated", body = ErrorBody), (status = 403, description = "Scope missing, or Vault refused", body = ErrorBody), (status = 503, description = "Vault sealed or unreachable (Retry-After)", body = ErrorBody)), security(("api_key" = []), ("bearer" = [])))]
pub(crate) async fn delete(
    vault: web::Data<Vault>,
    agent: web::ReqData<Agent>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let path = SecretPath::parse(&path)?;
    Ok(HttpResponse::Ok().json(vault.kv_delete(&agent, &path).await?))
}

#[utoipa::path(post, path = "/secrets/{path}:{action}", operation_id = "kv_versions_action", tag = "kv", summary = "Undelete (:undelete) or destroy (:destroy) versions", request_body = VersionsBody, params(("path" = String, Path, description = "Relative secret path, e.g. configs/demo"), ("action" = String, Path, description = "undelete or destroy")), responses((status = 200, description = "OK", body = VersionsChanged), (status = 400, description = "Invalid input, or Vault rejected it", body = ErrorBody), (status = 401, description = "Not authenticated", body = ErrorBody), (status = 403, description = "Scope missing, or Vault refused", body = ErrorBody), (status = 503, description = "Vault sealed or unreachable (Retry-After)", body = ErrorBody)), security(("api_key" = []), ("bearer" = [])))]
pub(crate) async fn versions_action(
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

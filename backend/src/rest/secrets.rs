//! `/secrets`: KV v2 in the caller's own folder.

use actix_web::web;

use super::call::{Answer, Body, Caller};
use super::openapi::AgentErrors;
use crate::error::ErrorBody;
use crate::ops::kv::{
    KvDelete, KvDestroy, KvList, KvRead, KvReadResult, KvUndelete, KvWrite, SecretVersions,
};
use crate::vault::kv::{Listing, VersionsChanged, Written};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/secrets", web::get().to(list))
        // `POST /secrets/{path}:undelete` and `:destroy` (':' is never part of a path).
        .route("/secrets/{path:.*}:undelete", web::post().to(undelete))
        .route("/secrets/{path:.*}:destroy", web::post().to(destroy))
        .route("/secrets/{path:.*}", web::get().to(read))
        .route("/secrets/{path:.*}", web::put().to(write))
        .route("/secrets/{path:.*}", web::delete().to(delete));
}

#[utoipa::path(get, path = "/secrets/{path}", operation_id = "kv_read", tag = "kv", summary = "Read a secret (latest or ?version=N)", params(("path" = String, Path, description = "Relative secret path, e.g. configs/demo"), ("version" = Option<u64>, Query, description = "Version to read"), ("wrap_ttl" = Option<String>, Query, description = "Return a one-time response-wrapping token valid this long (30s, 5m, 1h; at most 24h) instead of the value")), responses((status = 200, description = "The secret, or with wrap_ttl a wrapping token", body = KvReadResult), (status = 404, description = "Nothing there", body = ErrorBody), AgentErrors), security(("api_key" = []), ("bearer" = [])))]
pub(crate) async fn read(caller: Caller) -> Answer {
    caller.query::<KvRead>().await
}

#[utoipa::path(put, path = "/secrets/{path}", operation_id = "kv_write", tag = "kv", summary = "Write a new version (optionally check-and-set)", request_body = KvWrite, params(("path" = String, Path, description = "Relative secret path, e.g. configs/demo")), responses((status = 200, description = "OK", body = Written), AgentErrors), security(("api_key" = []), ("bearer" = [])))]
pub(crate) async fn write(caller: Caller, body: Body) -> Answer {
    caller.body::<KvWrite>(body).await
}

#[utoipa::path(get, path = "/secrets", operation_id = "kv_list", tag = "kv", summary = "List secret names under a folder (never values)", params(("prefix" = Option<String>, Query, description = "Folder, e.g. configs/")), responses((status = 200, description = "OK", body = Listing), AgentErrors), security(("api_key" = []), ("bearer" = [])))]
pub(crate) async fn list(caller: Caller) -> Answer {
    caller.query::<KvList>().await
}

#[utoipa::path(delete, path = "/secrets/{path}", operation_id = "kv_delete", tag = "kv", summary = "Soft-delete the latest version", params(("path" = String, Path, description = "Relative secret path, e.g. configs/demo")), responses((status = 200, description = "OK", body = VersionsChanged), AgentErrors), security(("api_key" = []), ("bearer" = [])))]
pub(crate) async fn delete(caller: Caller) -> Answer {
    caller.query::<KvDelete>().await
}

#[utoipa::path(post, path = "/secrets/{path}:undelete", operation_id = "kv_undelete", tag = "kv", summary = "Restore soft-deleted versions", request_body = SecretVersions, params(("path" = String, Path, description = "Relative secret path, e.g. configs/demo")), responses((status = 200, description = "OK", body = VersionsChanged), AgentErrors), security(("api_key" = []), ("bearer" = [])))]
pub(crate) async fn undelete(caller: Caller, body: Body) -> Answer {
    caller.body::<KvUndelete>(body).await
}

#[utoipa::path(post, path = "/secrets/{path}:destroy", operation_id = "kv_destroy", tag = "kv", summary = "Destroy versions for ever", request_body = SecretVersions, params(("path" = String, Path, description = "Relative secret path, e.g. configs/demo")), responses((status = 200, description = "OK", body = VersionsChanged), AgentErrors), security(("api_key" = []), ("bearer" = [])))]
pub(crate) async fn destroy(caller: Caller, body: Body) -> Answer {
    caller.body::<KvDestroy>(body).await
}

//! `/db`: dynamic database credentials, renewed and revoked only by the agent they were issued to.

use actix_web::web;

use super::call::{Answer, Body, Caller};
use super::openapi::AgentErrors;
use crate::ops::database::{DbIssueCreds, DbRenew, DbRevoke};
use crate::vault::database::{DbCredentials, Lease, Revoked};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/db/creds/{role}", web::post().to(issue))
        .route("/db/creds/{role}", web::get().to(issue))
        .route("/db/renew", web::post().to(renew))
        .route("/db/revoke", web::post().to(revoke));
}

#[utoipa::path(post, path = "/db/creds/{role}", operation_id = "database_issue", tag = "database", summary = "Issue database credentials for a role", params(("role" = String, Path, description = "Database role, e.g. readonly")), responses((status = 200, description = "OK", body = DbCredentials), AgentErrors), security(("api_key" = []), ("bearer" = [])))]
pub(crate) async fn issue(caller: Caller) -> Answer {
    caller.query::<DbIssueCreds>().await
}

#[utoipa::path(post, path = "/db/renew", operation_id = "database_renew", tag = "database", summary = "Renew a lease this agent was issued", request_body = DbRenew, responses((status = 200, description = "OK", body = Lease), AgentErrors), security(("api_key" = []), ("bearer" = [])))]
pub(crate) async fn renew(caller: Caller, body: Body) -> Answer {
    caller.body::<DbRenew>(body).await
}

#[utoipa::path(post, path = "/db/revoke", operation_id = "database_revoke", tag = "database", summary = "Revoke a lease this agent was issued", request_body = DbRevoke, responses((status = 200, description = "OK", body = Revoked), AgentErrors), security(("api_key" = []), ("bearer" = [])))]
pub(crate) async fn revoke(caller: Caller, body: Body) -> Answer {
    caller.body::<DbRevoke>(body).await
}

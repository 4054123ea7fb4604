//! `/pki`: client certificates for the agent's own name, and the chain they are issued under.

use actix_web::web;

use super::call::{Answer, Body, Caller};
use crate::error::ErrorBody;
use crate::ops::pki::{PkiCa, PkiIssue, PkiRevoke};
use crate::vault::pki::{CaChain, IssuedCertificate, RevokedCertificate};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/pki/issue", web::post().to(issue))
        .route("/pki/revoke", web::post().to(revoke))
        .route("/pki/ca", web::get().to(ca));
}

#[utoipa::path(post, path = "/pki/issue", operation_id = "pki_issue", tag = "pki", summary = "Sign a CSR as a client certificate for the agent's own name", request_body = PkiIssue, responses((status = 200, description = "OK", body = IssuedCertificate), (status = 400, description = "Invalid input (a CSR that does not parse, a weak key, a lifetime beyond the role), or Vault rejected it", body = ErrorBody), (status = 401, description = "Not authenticated", body = ErrorBody), (status = 403, description = "Scope missing, a CSR naming anyone else, a role not allowed, or Vault refused", body = ErrorBody), (status = 503, description = "Vault sealed or unreachable (Retry-After)", body = ErrorBody)), security(("api_key" = []), ("bearer" = [])))]
pub(crate) async fn issue(caller: Caller, body: Body) -> Answer {
    caller.body::<PkiIssue>(body).await
}

#[utoipa::path(post, path = "/pki/revoke", operation_id = "pki_revoke", tag = "pki", summary = "Revoke a client certificate the agent was issued", request_body = PkiRevoke, responses((status = 200, description = "OK", body = RevokedCertificate), (status = 400, description = "Invalid input, or Vault rejected it", body = ErrorBody), (status = 401, description = "Not authenticated", body = ErrorBody), (status = 403, description = "Scope missing, or a serial not issued to this agent", body = ErrorBody), (status = 503, description = "Vault sealed or unreachable (Retry-After)", body = ErrorBody)), security(("api_key" = []), ("bearer" = [])))]
pub(crate) async fn revoke(caller: Caller, body: Body) -> Answer {
    caller.body::<PkiRevoke>(body).await
}

#[utoipa::path(get, path = "/pki/ca", operation_id = "pki_ca", tag = "pki", summary = "The CA chain of agents' certificates", responses((status = 200, description = "OK", body = CaChain), (status = 401, description = "Not authenticated", body = ErrorBody), (status = 403, description = "Scope missing, or Vault refused", body = ErrorBody), (status = 503, description = "Vault sealed or unreachable (Retry-After)", body = ErrorBody)), security(("api_key" = []), ("bearer" = [])))]
pub(crate) async fn ca(caller: Caller) -> Answer {
    caller.query::<PkiCa>().await
}

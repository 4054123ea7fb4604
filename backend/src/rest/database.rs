//! `/db`: dynamic database credentials, renewed and revoked only by the agent they were issued to.

use actix_web::{HttpResponse, web};

use crate::error::ApiError;
use crate::identity::Agent;
use crate::vault::Vault;
use crate::vault::database::{RenewArgs, RevokeArgs};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/db/creds/{role}", web::post().to(issue))
        .route("/db/creds/{role}", web::get().to(issue))
        .route("/db/renew", web::post().to(renew))
        .route("/db/revoke", web::post().to(revoke));
}

async fn issue(
    vault: web::Data<Vault>,
    agent: web::ReqData<Agent>,
    role: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(vault.db_issue(&agent, &role).await?))
}

async fn renew(
    vault: web::Data<Vault>,
    agent: web::ReqData<Agent>,
    body: web::Json<RenewArgs>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(
        vault
            .db_renew(&agent, &body.lease_id, body.increment)
            .await?,
    ))
}

async fn revoke(
    vault: web::Data<Vault>,
    agent: web::ReqData<Agent>,
    body: web::Json<RevokeArgs>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(vault.db_revoke(&agent, &body.lease_id).await?))
}

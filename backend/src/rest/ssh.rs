//! `/ssh`: one-time passwords and user certificates for the agent's own principal.

use actix_web::{HttpResponse, web};

use crate::error::ApiError;
use crate::identity::Agent;
use crate::vault::Vault;
use crate::vault::ssh::{OtpArgs, SignArgs};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ssh/otp", web::post().to(otp))
        .route("/ssh/sign", web::post().to(sign));
}

async fn otp(
    vault: web::Data<Vault>,
    agent: web::ReqData<Agent>,
    body: web::Json<OtpArgs>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(vault.ssh_otp(&agent, &body).await?))
}

async fn sign(
    vault: web::Data<Vault>,
    agent: web::ReqData<Agent>,
    body: web::Json<SignArgs>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(vault.ssh_sign(&agent, &body).await?))
}

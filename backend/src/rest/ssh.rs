//! `/ssh`: one-time passwords and user certificates for the agent's own principal.

use actix_web::{HttpResponse, web};

use crate::error::ApiError;
use crate::error::ErrorBody;
use crate::identity::Agent;
use crate::vault::Vault;
use crate::vault::ssh::{Otp, SignedKey};
use crate::vault::ssh::{OtpArgs, SignArgs};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ssh/otp", web::post().to(otp))
        .route("/ssh/sign", web::post().to(sign));
}

#[utoipa::path(post, path = "/ssh/otp", operation_id = "ssh_otp", tag = "ssh", summary = "A one-time SSH password", request_body = OtpArgs, responses((status = 200, description = "OK", body = Otp), (status = 400, description = "Invalid input, or Vault rejected it", body = ErrorBody), (status = 401, description = "Not authenticated", body = ErrorBody), (status = 403, description = "Scope missing, or Vault refused", body = ErrorBody), (status = 503, description = "Vault sealed or unreachable (Retry-After)", body = ErrorBody)), security(("api_key" = []), ("bearer" = [])))]
pub(crate) async fn otp(
    vault: web::Data<Vault>,
    agent: web::ReqData<Agent>,
    body: web::Json<OtpArgs>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(vault.ssh_otp(&agent, &body).await?))
}

#[utoipa::path(post, path = "/ssh/sign", operation_id = "ssh_sign", tag = "ssh", summary = "Sign a public key for the agent's own principal", request_body = SignArgs, responses((status = 200, description = "OK", body = SignedKey), (status = 400, description = "Invalid input, or Vault rejected it", body = ErrorBody), (status = 401, description = "Not authenticated", body = ErrorBody), (status = 403, description = "Scope missing, or Vault refused", body = ErrorBody), (status = 503, description = "Vault sealed or unreachable (Retry-After)", body = ErrorBody)), security(("api_key" = []), ("bearer" = [])))]
pub(crate) async fn sign(
    vault: web::Data<Vault>,
    agent: web::ReqData<Agent>,
    body: web::Json<SignArgs>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(vault.ssh_sign(&agent, &body).await?))
}

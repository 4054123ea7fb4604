//! `/ssh`: one-time passwords and user certificates for the agent's own principal.

use actix_web::web;

use super::call::{Answer, Body, Caller};
use super::openapi::AgentErrors;
use crate::ops::ssh::{SshOtp, SshSign};
use crate::vault::ssh::{Otp, SignedKey};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ssh/otp", web::post().to(otp))
        .route("/ssh/sign", web::post().to(sign));
}

#[utoipa::path(post, path = "/ssh/otp", operation_id = "ssh_otp", tag = "ssh", summary = "A one-time SSH password", request_body = SshOtp, responses((status = 200, description = "OK", body = Otp), AgentErrors), security(("api_key" = []), ("bearer" = [])))]
pub(crate) async fn otp(caller: Caller, body: Body) -> Answer {
    caller.body::<SshOtp>(body).await
}

#[utoipa::path(post, path = "/ssh/sign", operation_id = "ssh_sign", tag = "ssh", summary = "Sign a public key for the agent's own principal", request_body = SshSign, responses((status = 200, description = "OK", body = SignedKey), AgentErrors), security(("api_key" = []), ("bearer" = [])))]
pub(crate) async fn sign(caller: Caller, body: Body) -> Answer {
    caller.body::<SshSign>(body).await
}

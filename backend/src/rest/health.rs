//! Health: liveness of the process, readiness of Vault, and who the caller is.

use actix_web::{HttpResponse, ResponseError, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::openapi::AgentErrors;
use crate::error::ApiError;
use crate::error::ErrorBody;
use crate::identity::Agent;
use crate::vault::Vault;

/// `{"status": "ok"}` / `{"status": "ready"}`.
#[derive(Serialize, ToSchema)]
pub struct Status {
    pub status: &'static str,
}

/// The caller's subject and scopes.
#[derive(Serialize, ToSchema)]
pub struct WhoAmI {
    pub subject: String,
    pub scopes: Vec<String>,
}

/// Liveness of the process itself; it does not call Vault. (`/healthz` and `/livez`.)
#[utoipa::path(get, path = "/livez", operation_id = "service_livez", tag = "service", summary = "The process is alive (also /healthz)", responses((status = 200, description = "OK", body = Status)))]
pub async fn livez() -> HttpResponse {
    HttpResponse::Ok().json(Status { status: "ok" })
}

/// Ready when Vault is reachable, unsealed, and the service's token is valid.
#[utoipa::path(get, path = "/readyz", operation_id = "service_readyz", tag = "service", summary = "Vault reachable, unsealed, token valid", responses((status = 200, description = "Ready", body = Status), (status = 503, description = "Not ready (Retry-After)", body = ErrorBody)))]
pub async fn readyz(vault: web::Data<Vault>) -> HttpResponse {
    match vault.ready().await {
        Ok(()) => HttpResponse::Ok().json(Status { status: "ready" }),
        // Whatever went wrong (sealed, unreachable, slow, token refused), this instance cannot
        // serve: 503 `not_ready` with Retry-After, Vault's reason in the message.
        Err(error) => ApiError::NotReady(error.to_string()).error_response(),
    }
}

/// The caller as the backend sees it.
#[utoipa::path(get, path = "/whoami", operation_id = "service_whoami", tag = "service", summary = "The caller as the backend sees it", responses((status = 200, description = "OK", body = WhoAmI), AgentErrors), security(("api_key" = []), ("bearer" = [])))]
pub async fn whoami(agent: web::ReqData<Agent>) -> HttpResponse {
    HttpResponse::Ok().json(WhoAmI {
        subject: agent.subject.clone(),
        scopes: agent.scopes.clone(),
    })
}

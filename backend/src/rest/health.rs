//! Health: liveness of the process, readiness of Vault, and who the caller is.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::error::ApiError;
use crate::identity::Agent;
use crate::vault::{Vault, VaultError};

/// Liveness of the process itself; it does not call Vault. (`/healthz` and `/livez`.)
pub async fn livez() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Ready when Vault is reachable, unsealed, and the service's token is valid.
pub async fn readyz(vault: web::Data<Vault>) -> HttpResponse {
    match vault.ready().await {
        Ok(()) => HttpResponse::Ok().json(json!({ "status": "ready" })),
        Err(error) => {
            // Whatever went wrong, this instance cannot serve: 503, try again later.
            let error = match error {
                VaultError::Unavailable | VaultError::Timeout => ApiError::Vault(error),
                other => ApiError::NotReady(other.to_string()),
            };
            let mut response = actix_web::ResponseError::error_response(&error);
            *response.status_mut() = actix_web::http::StatusCode::SERVICE_UNAVAILABLE;
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
            response
        }
    }
}

/// The caller as the backend sees it.
pub async fn whoami(agent: web::ReqData<Agent>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "subject": agent.subject, "scopes": agent.scopes }))
}

use actix_web::HttpResponse;

/// Liveness of the process itself; it does not call Vault.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

//! `/transit`: encryption, signing and randomness with the caller's own Transit keys.

use crate::error::ApiError;
use crate::error::ErrorBody;
use crate::identity::Agent;
use crate::vault::Vault;
use crate::vault::transit::{Ciphertext, Plaintext, RandomBytes, Signature, Verification};
use crate::vault::transit::{
    CiphertextArgs, Payload, RandomArgs, SignArgs, VerifyArgs, check_random_bytes,
};
use actix_web::{HttpResponse, web};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/transit/encrypt", web::post().to(encrypt))
        .route("/transit/decrypt", web::post().to(decrypt))
        .route("/transit/rewrap", web::post().to(rewrap))
        .route("/transit/sign", web::post().to(sign))
        .route("/transit/verify", web::post().to(verify))
        .route("/transit/random", web::get().to(random));
}

fn bad(message: String) -> ApiError {
    ApiError::BadRequest(message)
}

#[utoipa::path(post, path = "/transit/encrypt", operation_id = "transit_encrypt", tag = "transit", summary = "Encrypt with the agent's key", request_body = Payload, responses((status = 200, description = "OK", body = Ciphertext), (status = 400, description = "Invalid input, or Vault rejected it", body = ErrorBody), (status = 401, description = "Not authenticated", body = ErrorBody), (status = 403, description = "Scope missing, or Vault refused", body = ErrorBody), (status = 503, description = "Vault sealed or unreachable (Retry-After)", body = ErrorBody)), security(("api_key" = []), ("bearer" = [])))]
pub(crate) async fn encrypt(
    vault: web::Data<Vault>,
    agent: web::ReqData<Agent>,
    body: web::Json<Payload>,
) -> Result<HttpResponse, ApiError> {
    let plaintext = body.to_base64().map_err(bad)?;
    Ok(HttpResponse::Ok().json(vault.transit_encrypt(&agent, &plaintext).await?))
}

#[utoipa::path(post, path = "/transit/decrypt", operation_id = "transit_decrypt", tag = "transit", summary = "Decrypt with the agent's key", request_body = CiphertextArgs, responses((status = 200, description = "OK", body = Plaintext), (status = 400, description = "Invalid input, or Vault rejected it", body = ErrorBody), (status = 401, description = "Not authenticated", body = ErrorBody), (status = 403, description = "Scope missing, or Vault refused", body = ErrorBody), (status = 503, description = "Vault sealed or unreachable (Retry-After)", body = ErrorBody)), security(("api_key" = []), ("bearer" = [])))]
pub(crate) async fn decrypt(
    vault: web::Data<Vault>,
    agent: web::ReqData<Agent>,
    body: web::Json<CiphertextArgs>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(vault.transit_decrypt(&agent, &body.ciphertext).await?))
}

#[utoipa::path(post, path = "/transit/rewrap", operation_id = "transit_rewrap", tag = "transit", summary = "Re-encrypt with the latest key version", request_body = CiphertextArgs, responses((status = 200, description = "OK", body = Ciphertext), (status = 400, description = "Invalid input, or Vault rejected it", body = ErrorBody), (status = 401, description = "Not authenticated", body = ErrorBody), (status = 403, description = "Scope missing, or Vault refused", body = ErrorBody), (status = 503, description = "Vault sealed or unreachable (Retry-After)", body = ErrorBody)), security(("api_key" = []), ("bearer" = [])))]
pub(crate) async fn rewrap(
    vault: web::Data<Vault>,
    agent: web::ReqData<Agent>,
    body: web::Json<CiphertextArgs>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(vault.transit_rewrap(&agent, &body.ciphertext).await?))
}

#[utoipa::path(post, path = "/transit/sign", operation_id = "transit_sign", tag = "transit", summary = "Sign with the agent's signing key", request_body = SignArgs, responses((status = 200, description = "OK", body = Signature), (status = 400, description = "Invalid input, or Vault rejected it", body = ErrorBody), (status = 401, description = "Not authenticated", body = ErrorBody), (status = 403, description = "Scope missing, or Vault refused", body = ErrorBody), (status = 503, description = "Vault sealed or unreachable (Retry-After)", body = ErrorBody)), security(("api_key" = []), ("bearer" = [])))]
pub(crate) async fn sign(
    vault: web::Data<Vault>,
    agent: web::ReqData<Agent>,
    body: web::Json<SignArgs>,
) -> Result<HttpResponse, ApiError> {
    let input = body.input.to_base64().map_err(bad)?;
    Ok(HttpResponse::Ok().json(vault.transit_sign(&agent, &input, &body.options()).await?))
}

#[utoipa::path(post, path = "/transit/verify", operation_id = "transit_verify", tag = "transit", summary = "Verify a signature of the agent's key", request_body = VerifyArgs, responses((status = 200, description = "OK", body = Verification), (status = 400, description = "Invalid input, or Vault rejected it", body = ErrorBody), (status = 401, description = "Not authenticated", body = ErrorBody), (status = 403, description = "Scope missing, or Vault refused", body = ErrorBody), (status = 503, description = "Vault sealed or unreachable (Retry-After)", body = ErrorBody)), security(("api_key" = []), ("bearer" = [])))]
pub(crate) async fn verify(
    vault: web::Data<Vault>,
    agent: web::ReqData<Agent>,
    body: web::Json<VerifyArgs>,
) -> Result<HttpResponse, ApiError> {
    let input = body.input.to_base64().map_err(bad)?;
    let verification = vault
        .transit_verify(&agent, &input, &body.signature, &body.options())
        .await?;
    Ok(HttpResponse::Ok().json(verification))
}

#[utoipa::path(get, path = "/transit/random", operation_id = "transit_random", tag = "transit", summary = "Random bytes (1 to 1024)", params(("bytes" = Option<u32>, Query, description = "1 to 1024, default 32"), ("format" = Option<String>, Query, description = "base64 or hex")), responses((status = 200, description = "OK", body = RandomBytes), (status = 400, description = "Invalid input, or Vault rejected it", body = ErrorBody), (status = 401, description = "Not authenticated", body = ErrorBody), (status = 403, description = "Scope missing, or Vault refused", body = ErrorBody), (status = 503, description = "Vault sealed or unreachable (Retry-After)", body = ErrorBody)), security(("api_key" = []), ("bearer" = [])))]
pub(crate) async fn random(
    vault: web::Data<Vault>,
    agent: web::ReqData<Agent>,
    query: web::Query<RandomArgs>,
) -> Result<HttpResponse, ApiError> {
    check_random_bytes(query.bytes).map_err(bad)?;
    Ok(HttpResponse::Ok().json(
        vault
            .transit_random(&agent, query.bytes, query.format)
            .await?,
    ))
}

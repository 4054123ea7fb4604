//! `/transit`: encryption, signing and randomness with the caller's own Transit keys.

use crate::error::ApiError;
use crate::identity::Agent;
use crate::vault::Vault;
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

async fn encrypt(
    vault: web::Data<Vault>,
    agent: web::ReqData<Agent>,
    body: web::Json<Payload>,
) -> Result<HttpResponse, ApiError> {
    let plaintext = body.to_base64().map_err(bad)?;
    Ok(HttpResponse::Ok().json(vault.transit_encrypt(&agent, &plaintext).await?))
}

async fn decrypt(
    vault: web::Data<Vault>,
    agent: web::ReqData<Agent>,
    body: web::Json<CiphertextArgs>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(vault.transit_decrypt(&agent, &body.ciphertext).await?))
}

async fn rewrap(
    vault: web::Data<Vault>,
    agent: web::ReqData<Agent>,
    body: web::Json<CiphertextArgs>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(vault.transit_rewrap(&agent, &body.ciphertext).await?))
}

async fn sign(
    vault: web::Data<Vault>,
    agent: web::ReqData<Agent>,
    body: web::Json<SignArgs>,
) -> Result<HttpResponse, ApiError> {
    let input = body.input.to_base64().map_err(bad)?;
    Ok(HttpResponse::Ok().json(vault.transit_sign(&agent, &input, &body.options()).await?))
}

async fn verify(
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

async fn random(
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

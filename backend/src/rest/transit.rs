//! `/transit`: encryption, signing and randomness with the caller's own Transit keys.

use actix_web::web;

use super::call::{Answer, Body, Caller};
use super::openapi::AgentErrors;
use crate::ops::transit::{
    CiphertextOf, EncryptInput, TransitCreateKey, TransitDecrypt, TransitEncrypt, TransitRandom,
    TransitRewrap, TransitSign, TransitVerify,
};
use crate::vault::transit::{Ciphertext, KeyInfo, Plaintext, RandomBytes, Signature, Verification};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/transit/encrypt", web::post().to(encrypt))
        .route("/transit/decrypt", web::post().to(decrypt))
        .route("/transit/rewrap", web::post().to(rewrap))
        .route("/transit/sign", web::post().to(sign))
        .route("/transit/verify", web::post().to(verify))
        .route("/transit/random", web::get().to(random))
        .route("/transit/keys/{name}", web::post().to(create_key));
}

#[utoipa::path(post, path = "/transit/encrypt", operation_id = "transit_encrypt", tag = "transit", summary = "Encrypt with the agent's key", request_body = EncryptInput, responses((status = 200, description = "OK", body = Ciphertext), AgentErrors), security(("api_key" = []), ("bearer" = [])))]
pub(crate) async fn encrypt(caller: Caller, body: Body) -> Answer {
    caller.body::<TransitEncrypt>(body).await
}

#[utoipa::path(post, path = "/transit/decrypt", operation_id = "transit_decrypt", tag = "transit", summary = "Decrypt with the agent's key", request_body = CiphertextOf, responses((status = 200, description = "OK", body = Plaintext), AgentErrors), security(("api_key" = []), ("bearer" = [])))]
pub(crate) async fn decrypt(caller: Caller, body: Body) -> Answer {
    caller.body::<TransitDecrypt>(body).await
}

#[utoipa::path(post, path = "/transit/rewrap", operation_id = "transit_rewrap", tag = "transit", summary = "Re-encrypt with the latest key version", request_body = CiphertextOf, responses((status = 200, description = "OK", body = Ciphertext), AgentErrors), security(("api_key" = []), ("bearer" = [])))]
pub(crate) async fn rewrap(caller: Caller, body: Body) -> Answer {
    caller.body::<TransitRewrap>(body).await
}

#[utoipa::path(post, path = "/transit/sign", operation_id = "transit_sign", tag = "transit", summary = "Sign with the agent's signing key", request_body = TransitSign, responses((status = 200, description = "OK", body = Signature), AgentErrors), security(("api_key" = []), ("bearer" = [])))]
pub(crate) async fn sign(caller: Caller, body: Body) -> Answer {
    caller.body::<TransitSign>(body).await
}

#[utoipa::path(post, path = "/transit/verify", operation_id = "transit_verify", tag = "transit", summary = "Verify a signature of the agent's key", request_body = TransitVerify, responses((status = 200, description = "OK", body = Verification), AgentErrors), security(("api_key" = []), ("bearer" = [])))]
pub(crate) async fn verify(caller: Caller, body: Body) -> Answer {
    caller.body::<TransitVerify>(body).await
}

#[utoipa::path(get, path = "/transit/random", operation_id = "transit_random", tag = "transit", summary = "Random bytes (1 to 1024)", params(("bytes" = Option<u32>, Query, description = "1 to 1024, default 32"), ("format" = Option<String>, Query, description = "base64 or hex")), responses((status = 200, description = "OK", body = RandomBytes), AgentErrors), security(("api_key" = []), ("bearer" = [])))]
pub(crate) async fn random(caller: Caller) -> Answer {
    caller.query::<TransitRandom>().await
}

#[utoipa::path(post, path = "/transit/keys/{name}", operation_id = "transit_create_key", tag = "transit", summary = "Create one of the agent's own keys by name", request_body = TransitCreateKey, params(("name" = String, Path, description = "Key name: letters, digits, - and _")), responses((status = 200, description = "OK", body = KeyInfo), AgentErrors), security(("api_key" = []), ("bearer" = [])))]
pub(crate) async fn create_key(caller: Caller, body: Body) -> Answer {
    caller.body::<TransitCreateKey>(body).await
}

//! Executing vaultrs request types with the caller's request id on every Vault call
//! (`X-Request-Id`), so Vault's audit log (with that header audited) joins ours. vaultrs's own
//! helpers cannot add headers, so agent-facing calls go through here; the id comes from
//! [`REQUEST_ID`], set by the HTTP middleware (and by MCP tools from their request's headers).
//!
//! Calls made through here (every agent's) are sent with the HTTP client of the thread they run
//! on ([`http_for`]), not the one
//! inside the `VaultClient`: each actix worker serves its requests on a runtime of its own, and
//! a pooled connection is driven by the runtime that opened it, so a call from one worker on
//! another worker's connection hands its request and its answer between threads (two wake-ups
//! and context switches per call, issue #27's profile). One client per thread also means one
//! pool for every agent's token, rather than a pool per agent.

use std::cell::RefCell;
use std::sync::Arc;

use rustify::clients::reqwest::Client as HttpClient;
use rustify::endpoint::{Endpoint, MiddleWare};
use vaultrs::api::{AuthInfo, EndpointMiddleware, EndpointResult};
use vaultrs::client::VaultClient;
use vaultrs::error::ClientError;

use super::VaultError;
use crate::telemetry::REQUEST_ID;

/// vaultrs's middleware (path version, token, namespace, wrap TTL) plus the request id.
struct Traced<'a>(&'a EndpointMiddleware);

impl MiddleWare for Traced<'_> {
    fn request<E: Endpoint>(
        &self,
        endpoint: &E,
        request: &mut http::Request<Vec<u8>>,
    ) -> Result<(), rustify::errors::ClientError> {
        self.0.request(endpoint, request)?;
        let _ = REQUEST_ID.try_with(|id| {
            if let Ok(value) = http::HeaderValue::from_str(id) {
                request.headers_mut().insert("x-request-id", value);
            }
        });
        Ok(())
    }

    fn response<E: Endpoint>(
        &self,
        endpoint: &E,
        response: &mut http::Response<Vec<u8>>,
    ) -> Result<(), rustify::errors::ClientError> {
        self.0.response(endpoint, response)
    }
}

thread_local! {
    /// This thread's HTTP clients, one per Vault address.
    static HTTP: RefCell<Vec<Arc<HttpClient>>> = const { RefCell::new(Vec::new()) };
}

/// The HTTP client for `client`'s calls on this thread, made on the thread's first call to its
/// address with `client`'s settings. Keyed by address alone: a process's clients all take their
/// TLS settings from the same configuration and environment (`VAULT_CACERT`, client
/// certificate), whatever token they carry.
fn http_for(client: &VaultClient) -> Arc<HttpClient> {
    HTTP.with(|clients| {
        let mut clients = clients.borrow_mut();
        if let Some(found) = clients.iter().find(|c| c.base == client.http.base) {
            return found.clone();
        }
        let made = Arc::new(match VaultClient::new(client.settings.clone()) {
            Ok(fresh) => fresh.http,
            // Its settings made `client` already; should a CA file have gone since, that
            // client's own connections still serve.
            Err(_) => HttpClient::new(&client.http.base, client.http.http.clone()),
        });
        clients.push(made.clone());
        made
    })
}

/// Sends the request with this thread's HTTP client, the middleware's token and the request id;
/// the answer as it came.
async fn exec<E: Endpoint>(
    client: &VaultClient,
    endpoint: E,
    middleware: Option<&EndpointMiddleware>,
) -> Result<rustify::endpoint::EndpointResult<E::Response>, VaultError> {
    Ok(endpoint
        .with_middleware(&Traced(middleware.unwrap_or(&client.middle)))
        .exec(&*http_for(client))
        .await
        .map_err(ClientError::from)?)
}

/// Sends the request; the whole answer, lease and wrap fields included.
pub async fn send<E: Endpoint>(
    client: &VaultClient,
    endpoint: E,
    middleware: Option<&EndpointMiddleware>,
) -> Result<EndpointResult<E::Response>, VaultError> {
    let response = exec(client, endpoint, middleware).await?;
    Ok(response
        .wrap::<EndpointResult<E::Response>>()
        .map_err(ClientError::from)?)
}

/// The `data` of the answer.
pub async fn data<E: Endpoint>(
    client: &VaultClient,
    endpoint: E,
) -> Result<E::Response, VaultError> {
    send(client, endpoint, None)
        .await?
        .data
        .ok_or(VaultError::Upstream)
}

/// For requests whose answer has no body (204).
pub async fn empty<E: Endpoint>(client: &VaultClient, endpoint: E) -> Result<(), VaultError> {
    exec(client, endpoint, None).await?;
    Ok(())
}

/// The `auth` of a login or token answer.
pub async fn auth<E: Endpoint>(client: &VaultClient, endpoint: E) -> Result<AuthInfo, VaultError> {
    send(client, endpoint, None)
        .await?
        .auth
        .ok_or(VaultError::Upstream)
}

/// The `data` of an answer that may have none (204, e.g. a look-up that found nothing).
pub async fn maybe_data<E: Endpoint>(
    client: &VaultClient,
    endpoint: E,
) -> Result<Option<E::Response>, VaultError> {
    let response = exec(client, endpoint, None).await?;
    if response.response.body().is_empty() {
        return Ok(None);
    }
    Ok(response
        .wrap::<EndpointResult<E::Response>>()
        .map_err(ClientError::from)?
        .data)
}

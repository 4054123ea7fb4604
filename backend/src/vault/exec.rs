//! Executing vaultrs request types with the caller's request id on every Vault call
//! (`X-Request-Id`), so Vault's audit log (with that header audited) joins ours. vaultrs's own
//! helpers cannot add headers, so agent-facing calls go through here; the id comes from
//! [`REQUEST_ID`], set by the HTTP middleware (and by MCP tools from their request's headers).

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

/// Sends the request; the whole answer, lease and wrap fields included.
pub async fn send<E: Endpoint>(
    client: &VaultClient,
    endpoint: E,
    middleware: Option<&EndpointMiddleware>,
) -> Result<EndpointResult<E::Response>, VaultError> {
    let response = endpoint
        .with_middleware(&Traced(middleware.unwrap_or(&client.middle)))
        .exec(&client.http)
        .await
        .map_err(ClientError::from)?;
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
    endpoint
        .with_middleware(&Traced(&client.middle))
        .exec(&client.http)
        .await
        .map_err(ClientError::from)?;
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
    let response = endpoint
        .with_middleware(&Traced(&client.middle))
        .exec(&client.http)
        .await
        .map_err(ClientError::from)?;
    if response.response.body().is_empty() {
        return Ok(None);
    }
    Ok(response
        .wrap::<EndpointResult<E::Response>>()
        .map_err(ClientError::from)?
        .data)
}

//! What can go wrong talking to Vault, in terms a caller can act on.

use thiserror::Error;
use vaultrs::error::ClientError;

#[derive(Debug, Error)]
pub enum VaultError {
    #[error("Vault denied the operation")]
    Forbidden,
    #[error("no secret at that path")]
    NotFound,
    #[error("Vault rejected the request: {0}")]
    Rejected(String),
    #[error("Vault is sealed or unreachable")]
    Unavailable,
    #[error("Vault did not answer in time")]
    Timeout,
    #[error("Vault returned an unexpected response")]
    Upstream,
}

impl From<ClientError> for VaultError {
    fn from(error: ClientError) -> Self {
        match error {
            ClientError::APIError { code: 403, .. } => VaultError::Forbidden,
            ClientError::APIError { code: 404, .. } => VaultError::NotFound,
            // 400 messages are Vault's own words about the request (e.g. a check-and-set
            // mismatch); they name no secret value.
            ClientError::APIError { code: 400, errors } => VaultError::Rejected(errors.join("; ")),
            ClientError::APIError { code: 503, .. } => VaultError::Unavailable,
            ClientError::RestClientError {
                source:
                    rustify::errors::ClientError::RequestError { source, .. }
                    | rustify::errors::ClientError::ResponseError { source },
            } => match source.downcast_ref::<reqwest::Error>() {
                Some(e) if e.is_timeout() => VaultError::Timeout,
                Some(e) if e.is_connect() => VaultError::Unavailable,
                _ => VaultError::Upstream,
            },
            _ => VaultError::Upstream,
        }
    }
}

//! The one mapping from everything that can fail in a request to an HTTP status and a stable
//! error code. REST handlers return [`ApiError`]; the MCP face turns the same errors into tool
//! results or protocol errors (`mcp::errors`), with the same codes.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use thiserror::Error;

use crate::registry::RegistryError;
use crate::vault::path::INVALID_PATH;
use crate::vault::{PathError, VaultError};

#[derive(Debug, Error)]
pub enum ApiError {
    #[error("authentication required: {0}")]
    Unauthenticated(&'static str),
    #[error("{}", vault_mcp_filter::scopes::requirement(.0))]
    MissingScope(String),
    #[error("no route here")]
    UnknownRoute,
    /// Allowed in general, not to this agent: a role it may not use, a principal not its own.
    #[error("not allowed: {0}")]
    NotAllowed(String),
    #[error("invalid path: {0}")]
    BadPath(#[from] PathError),
    #[error("invalid request: {0}")]
    BadRequest(String),
    /// Input that did not deserialize into an operation: the field, and what serde or the
    /// field's own check said of it.
    #[error("invalid request: {field}: {message}")]
    Arguments { field: String, message: String },
    #[error("request body is too large")]
    TooLarge,
    #[error("not ready: {0}")]
    NotReady(String),
    /// Something named in the request does not exist (an agent, a key).
    #[error("{0}")]
    Missing(String),
    /// The request clashes with what exists (an agent added twice, a concurrent change).
    #[error("{0}")]
    Conflict(String),
    /// An irreversible MCP tool the person at the client did not confirm (`MCP_CONFIRM_TOOLS`):
    /// declined, cancelled, unanswered, or a client that cannot ask.
    #[error("not done: {0}")]
    NotConfirmed(String),
    #[error(transparent)]
    Vault(#[from] VaultError),
}

impl ApiError {
    /// Stable snake_case code clients can match on.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated(_) => "unauthenticated",
            ApiError::MissingScope(_) => "insufficient_scope",
            ApiError::UnknownRoute => "unknown_route",
            ApiError::NotAllowed(_) => "not_allowed",
            ApiError::BadPath(_) => "invalid_path",
            ApiError::BadRequest(_) => "invalid_request",
            // The path types say so first (`vault::path::INVALID_PATH`), wherever they sit.
            ApiError::Arguments { message, .. } if message.starts_with(INVALID_PATH) => {
                "invalid_path"
            }
            ApiError::Arguments { .. } => "invalid_request",
            ApiError::TooLarge => "body_too_large",
            ApiError::NotReady(_) => "not_ready",
            ApiError::Missing(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::NotConfirmed(_) => "not_confirmed",
            ApiError::Vault(VaultError::Forbidden) => "vault_forbidden",
            ApiError::Vault(VaultError::NotFound) => "not_found",
            ApiError::Vault(VaultError::Rejected(_)) => "vault_rejected",
            ApiError::Vault(VaultError::Unavailable) => "vault_unavailable",
            ApiError::Vault(VaultError::Timeout) => "vault_timeout",
            ApiError::Vault(VaultError::Upstream) => "vault_error",
            ApiError::Vault(VaultError::AgentToken) => "agent_token_unavailable",
            ApiError::Vault(VaultError::AgentDisabled) => "agent_disabled",
        }
    }
}

impl ApiError {
    /// Deserializes an operation (or any input) from `input`; a failure names the field.
    pub fn parse<'de, T, D>(input: D) -> Result<T, ApiError>
    where
        T: serde::Deserialize<'de>,
        D: serde::Deserializer<'de>,
    {
        serde_path_to_error::deserialize(input).map_err(|error| ApiError::Arguments {
            field: error.path().to_string(),
            message: error.inner().to_string(),
        })
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::MissingScope(_)
            | ApiError::NotAllowed(_)
            | ApiError::NotConfirmed(_)
            | ApiError::Vault(VaultError::Forbidden | VaultError::AgentDisabled) => {
                StatusCode::FORBIDDEN
            }
            ApiError::BadPath(_)
            | ApiError::BadRequest(_)
            | ApiError::Arguments { .. }
            | ApiError::Vault(VaultError::Rejected(_)) => StatusCode::BAD_REQUEST,
            ApiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Vault(VaultError::NotFound)
            | ApiError::UnknownRoute
            | ApiError::Missing(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Vault(VaultError::Unavailable | VaultError::AgentToken)
            | ApiError::NotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Vault(VaultError::Timeout) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Vault(VaultError::Upstream) => StatusCode::BAD_GATEWAY,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if matches!(
            self,
            ApiError::Vault(VaultError::Unavailable | VaultError::AgentToken)
                | ApiError::NotReady(_)
        ) {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("5")));
        }
        response.json(ErrorBody {
            error: self.code().to_string(),
            message: self.to_string(),
        })
    }
}

impl From<RegistryError> for ApiError {
    fn from(error: RegistryError) -> Self {
        match error {
            RegistryError::Vault(error) => ApiError::Vault(error),
            RegistryError::UnknownAgent(_) | RegistryError::UnknownKey { .. } => {
                ApiError::Missing(error.to_string())
            }
            RegistryError::Exists(_) | RegistryError::Conflict | RegistryError::Taken(..) => {
                ApiError::Conflict(error.to_string())
            }
            RegistryError::InvalidName(_)
            | RegistryError::PeoplesName(_)
            | RegistryError::InvalidUserName(_)
            | RegistryError::PersonHasNoKeys(_)
            | RegistryError::InvalidScope(_)
            | RegistryError::NoScopes
            | RegistryError::InvalidRate
            | RegistryError::UnknownTool(_)
            | RegistryError::DuplicateTool(_)
            | RegistryError::BudgetWindow(_)
            | RegistryError::InvalidDigest
            | RegistryError::InvalidCertificate(_)
            | RegistryError::InvalidRole { .. } => ApiError::BadRequest(error.to_string()),
        }
    }
}

/// The JSON body of every error answer.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable snake_case code, e.g. `not_found`.
    pub error: String,
    pub message: String,
}

/// Turns actix's JSON extractor failures into the same error shape as everything else.
pub fn json_error(error: actix_web::error::JsonPayloadError) -> ApiError {
    use actix_web::error::JsonPayloadError as E;
    match error {
        E::Overflow { .. } | E::OverflowKnownLength { .. } => ApiError::TooLarge,
        E::ContentType => ApiError::BadRequest("expected Content-Type: application/json".into()),
        E::Deserialize(e) => ApiError::BadRequest(format!("body is not the expected JSON: {e}")),
        other => ApiError::BadRequest(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_codes() {
        let cases: Vec<(ApiError, u16, &str)> = vec![
            (ApiError::Unauthenticated("x"), 401, "unauthenticated"),
            (
                ApiError::MissingScope("read".into()),
                403,
                "insufficient_scope",
            ),
            (ApiError::UnknownRoute, 404, "unknown_route"),
            (ApiError::NotAllowed("x".into()), 403, "not_allowed"),
            (PathError::Absolute.into(), 400, "invalid_path"),
            (
                ApiError::Arguments {
                    field: "path".into(),
                    message: "invalid path: path is empty".into(),
                },
                400,
                "invalid_path",
            ),
            (
                ApiError::Arguments {
                    field: "versions".into(),
                    message: "versions start at 1".into(),
                },
                400,
                "invalid_request",
            ),
            (ApiError::TooLarge, 413, "body_too_large"),
            (VaultError::Forbidden.into(), 403, "vault_forbidden"),
            (VaultError::NotFound.into(), 404, "not_found"),
            (VaultError::Unavailable.into(), 503, "vault_unavailable"),
            (VaultError::Timeout.into(), 504, "vault_timeout"),
            (VaultError::Upstream.into(), 502, "vault_error"),
            (
                VaultError::AgentToken.into(),
                503,
                "agent_token_unavailable",
            ),
        ];
        for (error, status, code) in cases {
            assert_eq!(error.status_code().as_u16(), status, "{error}");
            assert_eq!(error.code(), code);
        }
        let unavailable = ApiError::Vault(VaultError::Unavailable).error_response();
        assert_eq!(unavailable.headers().get("retry-after").unwrap(), "5");
    }
}

//! What can go wrong talking to Vault, in terms a caller can act on.

use thiserror::Error;
use vaultrs::error::ClientError;

#[derive(Debug, Error)]
pub enum VaultError {
    #[error("Vault denied the operation")]
    Forbidden,
    #[error("nothing at that path")]
    NotFound,
    #[error("Vault rejected the request: {0}")]
    Rejected(String),
    #[error("Vault is sealed or unreachable")]
    Unavailable,
    #[error("Vault did not answer in time")]
    Timeout,
    #[error("Vault returned an unexpected response")]
    Upstream,
    /// Vault did not give the agent a token of its own (the token role missing or refusing,
    /// the agent's entity disabled, the service's token lacking a permission): the service
    /// never falls back to acting with its own token. The log says why; the caller does not.
    #[error("Vault did not give this agent a token of its own")]
    AgentToken,
    /// The agent's identity entity is disabled (the kill switch), though the registry this
    /// replica last read may not say so yet.
    #[error("this agent is disabled")]
    AgentDisabled,
}

impl VaultError {
    /// A metric label for this error (a fixed set).
    pub fn outcome(&self) -> &'static str {
        match self {
            VaultError::Forbidden => "forbidden",
            VaultError::NotFound => "not_found",
            VaultError::Rejected(_) => "rejected",
            VaultError::Unavailable => "unavailable",
            VaultError::Timeout => "timeout",
            VaultError::Upstream => "error",
            VaultError::AgentToken => "agent_token",
            VaultError::AgentDisabled => "agent_disabled",
        }
    }

    /// A failure to make an agent's token: Vault down or slow, and what is already about the
    /// agent's token, stay what they are; anything else is [`VaultError::AgentToken`], with
    /// Vault's reason in the log only.
    pub fn for_agent_token(self) -> Self {
        match self {
            VaultError::Unavailable
            | VaultError::Timeout
            | VaultError::AgentToken
            | VaultError::AgentDisabled => self,
            other => {
                tracing::warn!(error = %other, "Vault refused an agent's token (AGENT_TOKEN_ROLE, the agent's policy or entity)");
                VaultError::AgentToken
            }
        }
    }

    fn from_status(code: u16, errors: Vec<String>) -> Self {
        match code {
            403 => VaultError::Forbidden,
            404 => VaultError::NotFound,
            // 400 messages are Vault's own words about the request (e.g. a check-and-set
            // mismatch); they name no secret value.
            400 => VaultError::Rejected(if errors.is_empty() {
                "invalid request".into()
            } else {
                errors.join("; ")
            }),
            // 503: sealed or standby; 429 from a performance standby is also "try later".
            503 | 429 => VaultError::Unavailable,
            // While a node seals, unseals or changes leader it may answer 500 for a moment;
            // that too is "try later", not a broken answer.
            500 if errors.iter().any(|e| is_transitional(e)) => VaultError::Unavailable,
            _ => {
                // Vault's own words (they name paths, never secret values) for the operator.
                tracing::warn!(status = code, errors = ?errors, "Vault answered with an unexpected status");
                VaultError::Upstream
            }
        }
    }
}

/// Vault's and OpenBao's messages for a node that is sealing, unsealing, standing by or
/// without a leader.
fn is_transitional(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    [
        "sealed",
        "standby",
        "not active",
        "no active",
        "leader",
        "shutting down",
        "context canceled",
    ]
    .iter()
    .any(|needle| message.contains(needle))
}

impl From<ClientError> for VaultError {
    fn from(error: ClientError) -> Self {
        use rustify::errors::ClientError as Rest;
        match error {
            ClientError::APIError { code, errors } => VaultError::from_status(code, errors),
            // A non-2xx answer whose body has no "errors" list (a deleted KV version's 404).
            ClientError::RestClientError {
                source: Rest::ServerResponseError { code, content },
            } => {
                #[derive(serde::Deserialize)]
                struct Errors {
                    #[serde(default)]
                    errors: Vec<String>,
                }
                let errors = content
                    .and_then(|c| serde_json::from_str::<Errors>(&c).ok())
                    .map(|e| e.errors)
                    .unwrap_or_default();
                VaultError::from_status(code, errors)
            }
            ClientError::RestClientError {
                source: Rest::RequestError { source, .. } | Rest::ResponseError { source },
            } => match source.downcast_ref::<reqwest::Error>() {
                Some(e) if e.is_timeout() => VaultError::Timeout,
                // Refused, reset or closed while the request was on its way: Vault went away
                // (a restart, a node stopping). "Try later" is the true answer, not a 502.
                Some(e) if e.is_connect() || e.is_request() => VaultError::Unavailable,
                other => {
                    tracing::warn!(
                        kind = other.map_or("not reqwest", |_| "response"),
                        "Vault's answer could not be read"
                    );
                    VaultError::Upstream
                }
            },
            _ => VaultError::Upstream,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_errors_whatever_the_body() {
        let api = |code| ClientError::APIError {
            code,
            errors: vec!["check-and-set parameter did not match the current version".into()],
        };
        let bare = |code| ClientError::RestClientError {
            source: rustify::errors::ClientError::ServerResponseError {
                code,
                content: Some(r#"{"data":{"data":null}}"#.into()),
            },
        };
        assert!(matches!(VaultError::from(api(403)), VaultError::Forbidden));
        assert!(matches!(VaultError::from(bare(404)), VaultError::NotFound));
        assert!(matches!(
            VaultError::from(bare(503)),
            VaultError::Unavailable
        ));
        assert!(matches!(VaultError::from(bare(500)), VaultError::Upstream));
        let transitional = ClientError::APIError {
            code: 500,
            errors: vec!["local node not active but active cluster node not found".into()],
        };
        assert!(matches!(
            VaultError::from(transitional),
            VaultError::Unavailable
        ));
        match VaultError::from(api(400)) {
            VaultError::Rejected(message) => assert!(message.contains("check-and-set")),
            other => panic!("{other:?}"),
        }
    }
}

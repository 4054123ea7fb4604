//! Why a request is refused at the edge, and how each reason is answered: the one place where
//! reasons map to an HTTP status, a stable error code and the challenge headers.

use thiserror::Error;

use crate::jwt::JwtError;
use crate::mcp::McpBodyError;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Reason {
    #[error("no credentials were presented")]
    MissingCredentials,
    #[error("the API key was not accepted")]
    InvalidApiKey,
    #[error("more than one credential was presented")]
    AmbiguousCredentials,
    #[error("credentials in the query string are not accepted")]
    CredentialsInQuery,
    #[error("{0}")]
    InvalidToken(JwtError),
    #[error("the client certificate names no known agent")]
    UnknownClientCertificate,
    #[error("the client certificate was revoked")]
    RevokedClientCertificate,
    #[error("{}", crate::scopes::requirement(.0))]
    InsufficientScope(String),
    #[error("the MCP tool '{0}' is not offered")]
    UnknownTool(String),
    #[error("no route here")]
    UnknownRoute,
    #[error("{0}")]
    InvalidMcpBody(McpBodyError),
    #[error("the request body is larger than {0} bytes")]
    BodyTooLarge(usize),
    #[error("rate limit exceeded")]
    RateLimited { retry_after: u64 },
    #[error("this agent's budget for the tool is spent for now")]
    BudgetExhausted { retry_after: u64 },
    #[error("too many agents are active at once")]
    RateLimitCapacity,
    #[error("the rate limiter is not available")]
    RateLimiterUnavailable,
    #[error("this agent is disabled")]
    AgentDisabled,
    #[error("this person is not registered with the bridge")]
    UnknownUser,
    #[error("the agent registry is not available yet")]
    RegistryUnavailable,
}

/// What a 401 points the client at (RFC 9728 §5.1): the protected-resource metadata, and the
/// scopes to ask the authorization server for.
#[derive(Debug, Clone, Copy)]
pub struct Challenge<'a> {
    pub resource_metadata: &'a str,
    pub scope: &'a str,
}

/// A local reply: status, headers and JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub status: u16,
    pub code: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Reason {
    /// Every code [`Reason::code`] can return with its status, for metrics defined up front
    /// and for reading those metrics by status (the console's refusals by 401/403/429).
    pub const CODES: &'static [(&'static str, u16)] = &[
        ("missing_credentials", 401),
        ("invalid_api_key", 401),
        ("ambiguous_credentials", 401),
        ("credentials_in_query", 401),
        ("jwks_unavailable", 401),
        ("invalid_token", 401),
        ("unknown_client_certificate", 401),
        ("revoked_client_certificate", 401),
        ("insufficient_scope", 403),
        ("unknown_tool", 403),
        ("unknown_route", 404),
        ("invalid_jsonrpc", 400),
        ("body_too_large", 413),
        ("rate_limited", 429),
        ("rate_limit_capacity", 429),
        ("budget_exhausted", 429),
        ("rate_limiter_unavailable", 503),
        ("agent_disabled", 403),
        ("unknown_user", 403),
        ("registry_unavailable", 503),
    ];

    /// The status of a refusal with this code, if it is one.
    pub fn status_of(code: &str) -> Option<u16> {
        Self::CODES
            .iter()
            .find(|(known, _)| *known == code)
            .map(|(_, status)| *status)
    }

    pub fn status(&self) -> u16 {
        match self {
            Reason::MissingCredentials
            | Reason::InvalidApiKey
            | Reason::AmbiguousCredentials
            | Reason::CredentialsInQuery
            | Reason::InvalidToken(_)
            | Reason::UnknownClientCertificate
            | Reason::RevokedClientCertificate => 401,
            Reason::InsufficientScope(_)
            | Reason::UnknownTool(_)
            | Reason::AgentDisabled
            | Reason::UnknownUser => 403,
            Reason::UnknownRoute => 404,
            Reason::InvalidMcpBody(_) => 400,
            Reason::BodyTooLarge(_) => 413,
            Reason::RateLimited { .. }
            | Reason::BudgetExhausted { .. }
            | Reason::RateLimitCapacity => 429,
            Reason::RateLimiterUnavailable | Reason::RegistryUnavailable => 503,
        }
    }

    /// Stable, machine-readable code for the JSON body and the metrics; clients may match on it.
    pub fn code(&self) -> &'static str {
        match self {
            Reason::MissingCredentials => "missing_credentials",
            Reason::InvalidApiKey => "invalid_api_key",
            Reason::AmbiguousCredentials => "ambiguous_credentials",
            Reason::CredentialsInQuery => "credentials_in_query",
            Reason::InvalidToken(JwtError::NoKeys) => "jwks_unavailable",
            Reason::InvalidToken(_) => "invalid_token",
            Reason::UnknownClientCertificate => "unknown_client_certificate",
            Reason::RevokedClientCertificate => "revoked_client_certificate",
            Reason::InsufficientScope(_) => "insufficient_scope",
            Reason::UnknownTool(_) => "unknown_tool",
            Reason::UnknownRoute => "unknown_route",
            Reason::InvalidMcpBody(_) => "invalid_jsonrpc",
            Reason::BodyTooLarge(_) => "body_too_large",
            Reason::RateLimited { .. } => "rate_limited",
            Reason::RateLimitCapacity => "rate_limit_capacity",
            Reason::BudgetExhausted { .. } => "budget_exhausted",
            Reason::RateLimiterUnavailable => "rate_limiter_unavailable",
            Reason::AgentDisabled => "agent_disabled",
            Reason::UnknownUser => "unknown_user",
            Reason::RegistryUnavailable => "registry_unavailable",
        }
    }

    /// The local reply; `challenge` when protected-resource metadata is configured. The
    /// message never echoes what the client sent.
    pub fn denial(&self, challenge: Option<Challenge<'_>>) -> Denial {
        let mut headers = vec![
            ("content-type", "application/json".to_string()),
            ("cache-control", "no-store".to_string()),
        ];
        let metadata = challenge
            .map(|c| {
                format!(
                    r#", resource_metadata="{}", scope="{}""#,
                    c.resource_metadata, c.scope
                )
            })
            .unwrap_or_default();
        match self {
            Reason::InvalidToken(_) => headers.push((
                "www-authenticate",
                format!(r#"Bearer error="invalid_token"{metadata}"#),
            )),
            Reason::InsufficientScope(scope) => headers.push((
                "www-authenticate",
                format!(r#"Bearer error="insufficient_scope", scope="{scope}"{metadata}"#),
            )),
            _ if self.status() == 401 => headers.push((
                "www-authenticate",
                format!("Bearer{}", metadata.trim_start_matches(',')),
            )),
            Reason::RateLimited { retry_after } | Reason::BudgetExhausted { retry_after } => {
                headers.push(("retry-after", retry_after.to_string()))
            }
            Reason::RateLimitCapacity
            | Reason::RegistryUnavailable
            | Reason::RateLimiterUnavailable => headers.push(("retry-after", "1".to_string())),
            _ => {}
        }
        Denial {
            status: self.status(),
            code: self.code(),
            headers,
            body: serde_json::json!({ "error": self.code(), "message": self.to_string() })
                .to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'a>(denial: &'a Denial, name: &str) -> Option<&'a str> {
        denial
            .headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn challenges_and_codes() {
        let meta = Some(Challenge {
            resource_metadata: "http://edge/.well-known/oauth-protected-resource",
            scope: "read write",
        });
        let missing = Reason::MissingCredentials.denial(meta);
        assert_eq!(missing.status, 401);
        assert_eq!(
            header(&missing, "www-authenticate"),
            Some(
                r#"Bearer resource_metadata="http://edge/.well-known/oauth-protected-resource", scope="read write""#
            )
        );
        assert_eq!(
            header(&Reason::MissingCredentials.denial(None), "www-authenticate"),
            Some("Bearer")
        );
        let expired = Reason::InvalidToken(JwtError::Expired).denial(None);
        assert_eq!(
            header(&expired, "www-authenticate"),
            Some(r#"Bearer error="invalid_token""#)
        );
        let body: serde_json::Value = serde_json::from_str(&expired.body).unwrap();
        assert_eq!(body["error"], "invalid_token");
        assert_eq!(body["message"], "the token has expired");
        let scope = Reason::InsufficientScope("write".into()).denial(None);
        assert_eq!(scope.status, 403);
        assert_eq!(
            header(&scope, "www-authenticate"),
            Some(r#"Bearer error="insufficient_scope", scope="write""#)
        );
        let limited = Reason::RateLimited { retry_after: 7 }.denial(None);
        assert_eq!(
            (limited.status, header(&limited, "retry-after")),
            (429, Some("7"))
        );
        assert_eq!(Reason::BodyTooLarge(10).denial(None).status, 413);
        assert_eq!(
            Reason::InvalidToken(JwtError::NoKeys).code(),
            "jwks_unavailable"
        );
        for reason in [
            Reason::MissingCredentials,
            Reason::InvalidApiKey,
            Reason::AmbiguousCredentials,
            Reason::CredentialsInQuery,
            Reason::InvalidToken(JwtError::NoKeys),
            Reason::InvalidToken(JwtError::Expired),
            Reason::UnknownClientCertificate,
            Reason::InsufficientScope("x".into()),
            Reason::UnknownTool("x".into()),
            Reason::UnknownRoute,
            Reason::InvalidMcpBody(McpBodyError::Malformed),
            Reason::BodyTooLarge(1),
            Reason::RateLimited { retry_after: 1 },
            Reason::RateLimitCapacity,
            Reason::BudgetExhausted { retry_after: 1 },
            Reason::RateLimiterUnavailable,
            Reason::AgentDisabled,
            Reason::UnknownUser,
            Reason::RegistryUnavailable,
        ] {
            assert_eq!(
                Reason::status_of(reason.code()),
                Some(reason.status()),
                "{reason:?}"
            );
        }
    }
}

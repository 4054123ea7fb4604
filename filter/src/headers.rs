//! Header hygiene: which request headers the edge owns.
//!
//! Every `x-agent-*` header reaching the backend must have been written by the edge, so all
//! client-sent ones are removed, whatever their case and however often they appear.

/// Prefix of the headers only the edge may set.
pub const IDENTITY_PREFIX: &str = "x-agent-";
/// The authenticated subject, forwarded to the backend.
pub const SUBJECT: &str = "x-agent-subject";
/// The subject's scopes, space-separated.
pub const SCOPES: &str = "x-agent-scopes";
/// The id of the registry API key the caller presented (not its value), when it used one.
pub const KEY_ID: &str = "x-agent-key-id";
/// HMAC over subject, scopes, time, request id and key id (see [`crate::assertion`]).
pub const ASSERTION: &str = "x-agent-assertion";
/// The edge's own assertion on its calls to the backend (see [`crate::assertion::edge_claims`]).
pub const EDGE_ASSERTION: &str = "x-agent-edge";
/// The request id the assertion is bound to (Envoy's).
pub const REQUEST_ID: &str = "x-request-id";

pub fn is_identity_header(name: &str) -> bool {
    name.len() >= IDENTITY_PREFIX.len()
        && name.as_bytes()[..IDENTITY_PREFIX.len()].eq_ignore_ascii_case(IDENTITY_PREFIX.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_headers_in_any_case() {
        for name in [
            "x-agent-subject",
            "X-Agent-Subject",
            "X-AGENT-SCOPES",
            "x-agent-",
        ] {
            assert!(is_identity_header(name), "{name}");
        }
        for name in [
            "x-agent",
            "x-agentsubject",
            "agent-subject",
            "x-api-key",
            "",
        ] {
            assert!(!is_identity_header(name), "{name}");
        }
    }
}

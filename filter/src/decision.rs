//! From request headers to a decision: who the caller is, and what goes upstream.

use crate::config::Policy;
use crate::error::AuthError;
use crate::headers::{self, is_identity_header};
use crate::identity::Identity;

/// The parts of a request the decision looks at, borrowed from whatever host holds them.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub headers: &'a [(String, String)],
}

impl<'a> Request<'a> {
    pub fn new(headers: &'a [(String, String)]) -> Self {
        Self { headers }
    }

    /// All values of a header, matched case-insensitively.
    pub fn header_values(&self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the host should do with the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Forward it, after removing and setting the listed headers (removal first).
    Allow {
        identity: Identity,
        remove: Vec<String>,
        set: Vec<(&'static str, String)>,
    },
    /// Answer locally.
    Deny(AuthError),
}

pub fn decide(policy: &Policy, request: &Request<'_>) -> Decision {
    match authenticate(policy, request) {
        Ok(identity) => {
            let set = vec![
                (headers::SUBJECT, identity.subject.clone()),
                (headers::SCOPES, identity.scopes_header()),
            ];
            Decision::Allow {
                remove: headers_to_remove(policy, request),
                set,
                identity,
            }
        }
        Err(error) => Decision::Deny(error),
    }
}

pub fn authenticate(policy: &Policy, request: &Request<'_>) -> Result<Identity, AuthError> {
    let mut keys = request.header_values(&policy.api_key_header);
    let key = keys.next().ok_or(AuthError::MissingCredentials)?;
    if keys.next().is_some() {
        return Err(AuthError::AmbiguousCredentials);
    }
    policy
        .api_keys
        .lookup(key.trim())
        .cloned()
        .ok_or(AuthError::InvalidCredentials)
}

/// Client-sent identity headers, and the credential itself: the backend never needs it.
fn headers_to_remove(policy: &Policy, request: &Request<'_>) -> Vec<String> {
    let mut remove: Vec<String> = request
        .headers
        .iter()
        .map(|(name, _)| name)
        .filter(|name| is_identity_header(name))
        .map(|name| name.to_ascii_lowercase())
        .collect();
    remove.push(policy.api_key_header.clone());
    remove.sort();
    remove.dedup();
    remove
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apikey::{ApiKeyStore, digest};

    fn policy() -> Policy {
        Policy {
            api_key_header: "x-api-key".into(),
            api_keys: ApiKeyStore::new(vec![
                (
                    digest("dev-key"),
                    Identity::new("agent_api", ["read", "write"].map(String::from)),
                ),
                (digest("dev-key-b"), Identity::new("agent_b", [])),
            ]),
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn refusals() {
        let cases: &[(&[(&str, &str)], AuthError)] = &[
            (&[], AuthError::MissingCredentials),
            (&[("x-api-key", "nope")], AuthError::InvalidCredentials),
            (&[("x-api-key", "")], AuthError::InvalidCredentials),
            (
                &[("x-api-key", "dev-key"), ("X-Api-Key", "dev-key-b")],
                AuthError::AmbiguousCredentials,
            ),
            (
                &[("x-agent-subject", "agent_api")],
                AuthError::MissingCredentials,
            ),
        ];
        for (pairs, expected) in cases {
            let h = headers(pairs);
            assert_eq!(
                decide(&policy(), &Request::new(&h)),
                Decision::Deny(*expected),
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn allowed_request_gets_edge_identity_and_loses_spoofed_headers() {
        let h = headers(&[
            ("X-API-Key", "dev-key-b"),
            ("x-agent-subject", "agent_api"),
            ("X-Agent-Subject", "agent_api"),
            ("X-AGENT-SCOPES", "read write"),
            ("content-type", "application/json"),
        ]);
        let Decision::Allow {
            identity,
            remove,
            set,
        } = decide(&policy(), &Request::new(&h))
        else {
            panic!("expected allow");
        };
        assert_eq!(identity.subject, "agent_b");
        assert_eq!(remove, ["x-agent-scopes", "x-agent-subject", "x-api-key"]);
        assert_eq!(
            set,
            [
                (headers::SUBJECT, "agent_b".to_string()),
                (headers::SCOPES, String::new())
            ]
        );
    }
}

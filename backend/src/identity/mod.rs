//! Who is calling the backend.
//!
//! Behind Envoy the filter has authenticated the caller, removed every client-sent `x-agent-*`
//! header and set `x-agent-subject`, `x-agent-scopes`, `x-agent-key-id` (for a registry API key)
//! and `x-agent-assertion`, an HMAC over those and the request id with a key only the filter and
//! the backend hold. The backend trusts the identity only when the assertion checks out and is
//! fresh, so a request that did not pass the filter is refused even if it reaches its port.
//!
//! In standalone mode ([`standalone`]) there is no edge: the backend runs the edge's decision
//! code itself.

pub mod standalone;

use crate::clock::unix_seconds;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderMap;
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};
use std::sync::LazyLock;
use vault_mcp_filter::assertion::{AssertionKey, Claims};
use vault_mcp_filter::headers;
use vault_mcp_filter::identity::is_valid_subject;
use vault_mcp_filter::scopes::{RouteRule, RouteScope, default_routes, route_scope};

use crate::config::{Config, ConfigError};
use crate::error::ApiError;

/// The authenticated agent, as decided at the edge.
pub type Agent = vault_mcp_filter::Identity;

/// How the backend checks the edge's assertion.
pub struct EdgeTrust {
    pub key: AssertionKey,
    pub max_age: u64,
}

/// Where the caller's identity comes from.
pub enum Trust {
    /// Behind Envoy: the filter's identity headers, proven by its assertion.
    Edge(EdgeTrust),
    /// Without Envoy: the caller's own credentials, checked by the edge's decision code here.
    Standalone(Box<standalone::Standalone>),
}

impl Trust {
    /// How `serve` will know its callers: the standalone policy, or the edge's assertion key.
    /// (Not needed by `stdio`, which serves the one agent it was started for.)
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        Ok(if config.standalone {
            Trust::Standalone(Box::new(standalone::Standalone::new(
                standalone::policy(config)?,
                config.registry_refresh_seconds > 0,
            )))
        } else {
            Trust::Edge(EdgeTrust {
                key: config.assertion_key()?,
                max_age: config.agent_assertion_max_age,
            })
        })
    }
}

fn single<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    let mut values = headers.get_all(name);
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::Unauthenticated("repeated identity header"));
    }
    first
        .to_str()
        .map(Some)
        .map_err(|_| ApiError::Unauthenticated("malformed identity header"))
}

pub fn agent_from_headers(
    headers: &HeaderMap,
    trust: &EdgeTrust,
    now: u64,
) -> Result<Agent, ApiError> {
    let subject = single(headers, headers::SUBJECT)?.ok_or(ApiError::Unauthenticated(
        "no agent identity on the request",
    ))?;
    if !is_valid_subject(subject) {
        return Err(ApiError::Unauthenticated("malformed agent identity"));
    }
    let scopes = single(headers, headers::SCOPES)?.unwrap_or("");
    let assertion = single(headers, headers::ASSERTION)?.ok_or(ApiError::Unauthenticated(
        "the request did not pass the edge",
    ))?;
    let request_id = single(headers, headers::REQUEST_ID)?.unwrap_or("");
    let key_id = single(headers, headers::KEY_ID)?;
    let claims = Claims {
        subject,
        scopes,
        request_id,
        key_id: key_id.unwrap_or(""),
    };
    trust
        .key
        .verify(assertion, &claims, now, trust.max_age)
        .map_err(|_| ApiError::Unauthenticated("the edge assertion is invalid or stale"))?;
    let agent = Agent::new(subject, scopes.split_ascii_whitespace().map(str::to_string));
    // Signed by the edge along with the subject, so it is the registry's id of that key.
    Ok(match key_id {
        Some(id) if !id.is_empty() => agent.with_key_id(id),
        _ => agent,
    })
}

pub fn require_scope(agent: &Agent, scope: &str) -> Result<(), ApiError> {
    if agent.has_scope(scope) {
        Ok(())
    } else {
        Err(ApiError::MissingScope(scope.to_string()))
    }
}

/// The route → scope table the edge enforces, checked again here for every REST route.
static ROUTES: LazyLock<Vec<RouteRule>> = LazyLock::new(default_routes);

/// Middleware for the REST routes, after [`require_agent`]: the scope the route needs.
pub async fn require_route_scope(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let needed = route_scope(&ROUTES, request.method().as_str(), request.path());
    match needed {
        RouteScope::Unknown => return Err(ApiError::UnknownRoute.into()),
        RouteScope::Needs(Some(scope)) => {
            let allowed = request
                .extensions()
                .get::<Agent>()
                .is_some_and(|agent| agent.has_scope(scope));
            if !allowed {
                return Err(ApiError::MissingScope(scope.to_string()).into());
            }
        }
        RouteScope::Needs(None) => {}
    }
    next.call(request).await
}

/// Middleware for every route that acts for an agent: no verified identity, no service.
pub async fn require_agent(
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let trust = request
        .app_data::<web::Data<Trust>>()
        .expect("Trust is registered by AppState::configure");
    let trust = trust.clone();
    let agent = match trust.get_ref() {
        Trust::Edge(edge) => agent_from_headers(request.headers(), edge, unix_seconds())?,
        Trust::Standalone(standalone) => {
            match standalone
                .authenticate(&mut request, unix_seconds() * 1000)
                .await
            {
                Ok(agent) => agent,
                Err(refusal) => {
                    if let Some(subject) = refusal.agent {
                        // The console's Traffic counts it against the agent, as the edge does.
                        request
                            .extensions_mut()
                            .insert(crate::traffic::RefusedAgent(subject));
                    }
                    let reply = standalone::reply(refusal.denial);
                    return Ok(request.into_response(reply).map_into_right_body());
                }
            }
        }
    };
    // A person the registry does not know yet, admitted because people sign up: registered now.
    if let (Some(sign_ups), Some(registry)) = (
        request.app_data::<web::Data<crate::registry::sign_up::SignUps>>(),
        request.app_data::<web::Data<crate::registry::Registry>>(),
    ) {
        sign_ups.register_if_new(registry, &agent.subject).await;
    }
    request.extensions_mut().insert(agent);
    next.call(request).await.map(|r| r.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    const NOW: u64 = 1_800_000_000;

    fn trust() -> EdgeTrust {
        EdgeTrust {
            key: AssertionKey::new(vec![3u8; 32]).unwrap(),
            max_age: 60,
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn signed(subject: &str, scopes: &str, request_id: &str, key_id: &str, at: u64) -> String {
        trust().key.sign(
            &Claims {
                subject,
                scopes,
                request_id,
                key_id,
            },
            at,
        )
    }

    #[test]
    fn trust_needs_a_key_or_a_standalone_policy() {
        use crate::config::tests::{KEY, figment};
        let cases = [
            (vec![("vault_token", "t")], "required unless STANDALONE"),
            (
                vec![("vault_token", "t"), ("standalone", "true")],
                "no authentication method",
            ),
            (
                vec![
                    ("vault_token", "t"),
                    ("standalone", "true"),
                    ("api_keys_json", "{\"k\": {\"subject\": \"../x\"}}"),
                ],
                "not a valid subject",
            ),
            (
                vec![("vault_token", "t"), ("agent_assertion_key", "short")],
                "AGENT_ASSERTION_KEY",
            ),
        ];
        for (pairs, name) in cases {
            let config = Config::from_figment(figment(&pairs)).unwrap();
            let err = Trust::from_config(&config).err().unwrap().to_string();
            assert!(err.contains(name), "{err}");
        }
        let config = Config::from_figment(figment(&[("vault_token", "t"), KEY])).unwrap();
        assert!(matches!(Trust::from_config(&config), Ok(Trust::Edge(_))));
    }

    #[test]
    fn a_fresh_assertion_makes_an_agent() {
        let assertion = signed("agent_api", "read write", "r1", "", NOW);
        let agent = agent_from_headers(
            &headers(&[
                ("x-agent-subject", "agent_api"),
                ("x-agent-scopes", "read write"),
                ("x-agent-assertion", &assertion),
                ("x-request-id", "r1"),
            ]),
            &trust(),
            NOW + 1,
        )
        .unwrap();
        assert_eq!(agent.subject, "agent_api");
        assert!(agent.has_scope("write"));
        assert_eq!(agent.key_id, None);
    }

    #[test]
    fn the_key_id_is_taken_only_as_signed() {
        let with_key = signed("agent_api", "read", "r1", "0a1b2c3d4e5f", NOW);
        let without = signed("agent_api", "read", "r1", "", NOW);
        let request = |assertion: &str, key_id: Option<&str>| {
            let mut pairs = vec![
                ("x-agent-subject", "agent_api"),
                ("x-agent-scopes", "read"),
                ("x-agent-assertion", assertion),
                ("x-request-id", "r1"),
            ];
            pairs.extend(key_id.map(|id| ("x-agent-key-id", id)));
            agent_from_headers(&headers(&pairs), &trust(), NOW)
        };
        let agent = request(&with_key, Some("0a1b2c3d4e5f")).unwrap();
        assert_eq!(agent.key_id.as_deref(), Some("0a1b2c3d4e5f"));
        // Another key's id, an id added to an assertion made without one, or one dropped.
        assert!(request(&with_key, Some("ffffffffffff")).is_err());
        assert!(request(&without, Some("0a1b2c3d4e5f")).is_err());
        assert!(request(&with_key, None).is_err());
    }

    #[test]
    fn forged_stale_replayed_or_missing_assertions_are_refused() {
        let good = signed("agent_api", "read", "r1", "", NOW);
        let forged = AssertionKey::new(vec![4u8; 32]).unwrap().sign(
            &Claims {
                subject: "agent_api",
                scopes: "read",
                request_id: "r1",
                key_id: "",
            },
            NOW,
        );
        let base = |assertion: &str, request_id: &str, scopes: &str| {
            vec![
                ("x-agent-subject".to_string(), "agent_api".to_string()),
                ("x-agent-scopes".to_string(), scopes.to_string()),
                ("x-agent-assertion".to_string(), assertion.to_string()),
                ("x-request-id".to_string(), request_id.to_string()),
            ]
        };
        type Headers = Vec<(String, String)>;
        let cases: Vec<(&str, Headers, u64)> = vec![
            ("forged", base(&forged, "r1", "read"), NOW),
            ("stale", base(&good, "r1", "read"), NOW + 61),
            ("other request", base(&good, "r2", "read"), NOW),
            ("escalated scopes", base(&good, "r1", "read write"), NOW),
            ("garbage", base("v2.x.y", "r1", "read"), NOW),
            ("missing", base(&good, "r1", "read")[..2].to_vec(), NOW),
        ];
        for (name, pairs, now) in cases {
            let pairs: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            assert!(
                agent_from_headers(&headers(&pairs), &trust(), now).is_err(),
                "{name}"
            );
        }
        let twice = headers(&[
            ("x-agent-subject", "agent_api"),
            ("x-agent-subject", "agent_b"),
            ("x-agent-assertion", &good),
        ]);
        assert!(agent_from_headers(&twice, &trust(), NOW).is_err());
    }
}

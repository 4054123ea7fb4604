//! Who the caller is: the one credential presented (API key, static or from the registry; an
//! agent's JWT or a person's OAuth access token; client certificate), and what the registry
//! says of that subject (disabled, its own limits; for a person, whether they may come in).

use super::{KeySource, Keys, Refused, Request};
use crate::config::{OAuthPolicy, Policy};
use crate::error::Reason;
use crate::identity::{Identity, is_user_subject};
use crate::jwt::{self, JwtError};
use crate::mtls::CertIdentity;
use crate::registry::{AgentLimits, Followed};

/// Query parameters that would carry a credential where logs and caches see it.
const CREDENTIAL_PARAMETERS: &[&str] = &["access_token", "api_key", "apikey"];

/// The caller's identity and, when the registry knows it, its own rate limit. With a registry
/// configured, a subject it marks disabled is refused whatever the credential; until a first
/// snapshot arrives only static API keys are served (fail closed). A person comes in only as
/// the registry has them, with the scopes both their token and the registry grant.
pub(super) fn authenticate(
    policy: &Policy,
    keys: Keys<'_>,
    registry: Followed<'_>,
    request: &Request<'_>,
) -> Result<(Identity, AgentLimits), Refused> {
    let (identity, static_key) = credential(policy, keys, registry, request)?;
    if is_user_subject(&identity.subject) {
        let refused = |reason| Refused {
            reason,
            subject: Some(identity.subject.clone()),
        };
        return match registry {
            Followed::Yes(registry) => match registry.agent(&identity.subject) {
                Some(user) if !user.enabled => Err(refused(Reason::AgentDisabled)),
                Some(user) => Ok((identity.clone().within(&user.identity), user.limits.clone())),
                // Signing up: the backend registers them with these scopes on this request.
                None => match registry.sign_up() {
                    Some(scopes) => Ok((identity.clone().within(scopes), AgentLimits::default())),
                    None => Err(refused(Reason::UnknownUser)),
                },
            },
            Followed::Pending => Err(Reason::RegistryUnavailable.into()),
            Followed::No => Err(refused(Reason::UnknownUser)),
        };
    }
    match registry {
        Followed::No => Ok((identity, AgentLimits::default())),
        Followed::Yes(registry) => match registry.agent(&identity.subject) {
            Some(agent) if !agent.enabled => Err(Refused {
                reason: Reason::AgentDisabled,
                subject: Some(identity.subject),
            }),
            Some(agent) => Ok((identity, agent.limits.clone())),
            None => Ok((identity, AgentLimits::default())),
        },
        Followed::Pending if static_key => Ok((identity, AgentLimits::default())),
        Followed::Pending => Err(Reason::RegistryUnavailable.into()),
    }
}

/// The identity the one presented credential proves, and whether it was a static API key.
fn credential(
    policy: &Policy,
    keys: Keys<'_>,
    registry: Followed<'_>,
    request: &Request<'_>,
) -> Result<(Identity, bool), Reason> {
    let query = request.path().split_once('?').map_or("", |(_, q)| q);
    if query.split('&').any(|pair| {
        let name = pair.split_once('=').map_or(pair, |(n, _)| n);
        CREDENTIAL_PARAMETERS
            .iter()
            .any(|p| name.eq_ignore_ascii_case(p))
    }) {
        return Err(Reason::CredentialsInQuery);
    }
    let bearers = bearers(request);
    let api_keys: Vec<&str> = request.header_values(&policy.api_key_header).collect();
    // jwt_authn consumed the token it verified (forward: false): its payload is the credential.
    let envoy_jwt = request.envoy_jwt.filter(|_| {
        policy
            .jwt
            .as_ref()
            .is_some_and(|j| j.envoy_payload_key.is_some())
    });
    if let Some(payload) = envoy_jwt {
        return match (bearers.as_slice(), api_keys.as_slice()) {
            // Only the agents' issuer: a second provider in front (the authorization server's,
            // say) must not turn a person's token into an agent's.
            ([], []) if !agents_issued(policy, payload) => {
                Err(Reason::InvalidToken(JwtError::WrongIssuer))
            }
            ([], []) => jwt::envoy::identity(payload)
                .map(|id| (id, false))
                .map_err(Reason::InvalidToken),
            _ => Err(Reason::AmbiguousCredentials),
        };
    }
    match (bearers.as_slice(), api_keys.as_slice()) {
        ([], []) => authenticate_certificate(policy, registry, request).map(|id| (id, false)),
        ([token], []) => {
            let (jwt, keys) = match oauth_issued(policy, token) {
                Some(oauth) => (&oauth.jwt, keys.oauth),
                None => (
                    policy
                        .jwt
                        .as_ref()
                        .ok_or(Reason::InvalidToken(JwtError::NoKeys))?,
                    keys.agents,
                ),
            };
            let now = request.now_ms / 1000;
            jwt::verify_cached(token, keys, &jwt.settings, &jwt.cache, now)
                .map(|id| (id, false))
                .map_err(Reason::InvalidToken)
        }
        ([], [key]) => {
            let key = key.trim();
            if let Some(identity) = policy.api_keys.lookup(key) {
                return Ok((identity.clone(), true));
            }
            match registry {
                Followed::Yes(registry) => registry
                    .by_key(key, request.now_ms / 1000)
                    .map(|(agent, id)| (agent.identity.clone().with_key_id(id), false))
                    .ok_or(Reason::InvalidApiKey),
                Followed::Pending => Err(Reason::RegistryUnavailable),
                Followed::No => Err(Reason::InvalidApiKey),
            }
        }
        _ => Err(Reason::AmbiguousCredentials),
    }
}

/// The authorization server's rules, for a token that says it comes from there. Any other
/// token is an agent's (and an agents' issuer naming a person is refused in verification).
pub(super) fn oauth_issued<'p>(policy: &'p Policy, token: &str) -> Option<&'p OAuthPolicy> {
    let oauth = policy.oauth.as_ref()?;
    (jwt::claimed_issuer(token)? == oauth.issuer).then_some(oauth)
}

/// Whether a payload `jwt_authn` verified is the agents' issuer's (`jwt.issuer`, when it is
/// checked) and not the authorization server's.
fn agents_issued(policy: &Policy, payload: &[u8]) -> bool {
    let agents = policy
        .jwt
        .as_ref()
        .and_then(|j| j.settings.issuer.as_deref());
    let oauth = policy.oauth.as_ref().map(|o| o.issuer.as_str());
    agents.is_none_or(|iss| jwt::envoy::issued_by(payload, iss))
        && oauth.is_none_or(|iss| !jwt::envoy::issued_by(payload, iss))
}

/// Whose keys verify the request's bearer token.
pub(super) fn key_source(policy: &Policy, request: &Request<'_>) -> KeySource {
    let token = bearers(request).into_iter().next().unwrap_or("");
    match oauth_issued(policy, token) {
        Some(_) => KeySource::OAuth,
        None => KeySource::Agents,
    }
}

fn bearers<'a>(request: &Request<'a>) -> Vec<&'a str> {
    request
        .header_values("authorization")
        .filter_map(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .collect()
}

fn authenticate_certificate(
    policy: &Policy,
    registry: Followed<'_>,
    request: &Request<'_>,
) -> Result<Identity, Reason> {
    let Some(mtls) = &policy.mtls else {
        return Err(Reason::MissingCredentials);
    };
    match mtls.identify(request.peer_subject, |name| request.header(name)) {
        CertIdentity::Known(identity) => Ok(identity),
        CertIdentity::Named(name) => match registry {
            Followed::Yes(registry) => {
                let agent = registry
                    .by_certificate(&name)
                    .ok_or(Reason::UnknownClientCertificate)?;
                // A revoked certificate of an agent still enabled (`pki.revoke`): refused from
                // the next snapshot on, though Envoy's TLS accepted it. An agent with revoked
                // certificates is not taken on a certificate the source gives no digest of.
                let digest =
                    mtls.certificate_sha256(request.peer_sha256, |name| request.header(name));
                let revoked = match digest {
                    Some(digest) => agent.revoked(&digest),
                    None => !agent.revoked_certificates.is_empty(),
                };
                if revoked {
                    Err(Reason::RevokedClientCertificate)
                } else {
                    Ok(agent.identity.clone())
                }
            }
            Followed::Pending => Err(Reason::RegistryUnavailable),
            Followed::No => Err(Reason::UnknownClientCertificate),
        },
        CertIdentity::Unknown => Err(Reason::UnknownClientCertificate),
        CertIdentity::Absent => Err(Reason::MissingCredentials),
    }
}

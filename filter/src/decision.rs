//! From a request to a verdict: who the caller is, whether it may do this, whether it is within
//! its rate, and what goes upstream. Everything the host knows comes in through [`Request`] and
//! a [`SlotStore`]; nothing here calls the host.

use crate::assertion::Claims;
use crate::config::Policy;
use crate::error::{Challenge, Denial, Reason};
use crate::global::{Answer, Kind, Question};
use crate::headers::{self, is_identity_header};
use crate::identity::Identity;
pub use crate::jwt::KeySource;
use crate::jwt::{JwtError, KeySet};
use crate::mcp::{self, Call};
use crate::mtls::{self, MtlsSource};
use crate::ratelimit::SlotStore;
use crate::registry::{AgentLimits, Followed};
use crate::scopes::{self, RouteScope};
use credentials::authenticate;
use limits::admit;

/// The parts of a request the decision looks at, borrowed from whatever host holds them.
/// Headers include the pseudo-headers `:method` and `:path`.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub headers: &'a [(String, String)],
    /// Subject DN of the verified client certificate of this connection, if any.
    pub peer_subject: Option<&'a str>,
    /// Hex SHA-256 of that certificate (Envoy's `connection.sha256_peer_certificate_digest`).
    pub peer_sha256: Option<&'a str>,
    /// The payload Envoy's `jwt_authn` verified for this request, as the host serializes it
    /// (only read when `jwt.envoy_jwt_authn` is configured; see [`jwt::envoy`]).
    pub envoy_jwt: Option<&'a [u8]>,
    pub now_ms: u64,
    /// Whether a body follows the headers.
    pub has_body: bool,
}

impl<'a> Request<'a> {
    /// All values of a header, matched case-insensitively.
    pub fn header_values<'n>(&self, name: &'n str) -> impl Iterator<Item = &'a str> + 'n
    where
        'a: 'n,
    {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn method(&self) -> &'a str {
        self.header(":method").unwrap_or("")
    }

    pub fn path(&self) -> &'a str {
        self.header(":path").unwrap_or("")
    }
}

/// The verification keys the host holds: the agents' issuer's (the HS256 secret, inline and
/// fetched JWKS) and the OAuth authorization server's.
#[derive(Debug, Clone, Copy)]
pub struct Keys<'a> {
    pub agents: &'a KeySet,
    pub oauth: &'a KeySet,
}

/// What the host should do with the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Forward it upstream after this header rewrite.
    Forward(Forward),
    /// Answer locally (a refusal, or a document the filter serves).
    Respond(Denial),
    /// Apply the pending header rewrite now, buffer the body, and call [`on_body`] with it.
    /// (Envoy's proxy-wasm host cannot hold headers while reading the body, so they go on
    /// ahead; if the body is refused the upstream request is reset before it completes.)
    ReadBody(Pending),
    /// Hold the request, send the question to the rate-limit service, and call [`on_answer`]
    /// with what it says (or with the failure).
    Ask(Asking),
}

/// An admitted request waiting for the global count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asking {
    forward: Forward,
    pub question: Question,
}

impl Asking {
    pub fn forward(&self) -> &Forward {
        &self.forward
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    pub identity: Identity,
    /// The agent's own rate limits, from the registry.
    pub limits: AgentLimits,
    /// Headers to remove (all their values), before `set`.
    pub remove: Vec<String>,
    pub set: Vec<(&'static str, String)>,
}

/// An authenticated request waiting for its body to be checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    forward: Forward,
}

impl Pending {
    /// The header rewrite to apply while the body is read.
    pub fn forward(&self) -> &Forward {
        &self.forward
    }
}

/// The verdict, plus what the host should learn from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub verdict: Verdict,
    /// A token named a key id no key set holds: that remote JWKS may have rotated.
    pub unknown_kid: Option<KeySource>,
    /// For a refusal of a caller whose credential was good (disabled, out of scope, over its
    /// rate, a bad body): its subject, so refusals can be counted per agent.
    pub refused: Option<String>,
}

/// A refusal, with the authenticated subject it refuses when it got that far.
#[derive(Debug)]
struct Refused {
    reason: Reason,
    subject: Option<String>,
}

impl From<Reason> for Refused {
    fn from(reason: Reason) -> Self {
        Self {
            reason,
            subject: None,
        }
    }
}

/// What an authenticated request needs next.
enum Next {
    Forward,
    ReadBody,
    Ask(Question),
}

impl Next {
    fn verdict(self, forward: Forward) -> Verdict {
        match self {
            Next::Forward => Verdict::Forward(forward),
            Next::ReadBody => Verdict::ReadBody(Pending { forward }),
            Next::Ask(question) => Verdict::Ask(Asking { forward, question }),
        }
    }
}

/// `registry`: what the host holds of the agent registry it follows, if any.
pub fn on_headers(
    policy: &Policy,
    keys: Keys<'_>,
    registry: Followed<'_>,
    store: &impl SlotStore,
    request: &Request<'_>,
) -> Outcome {
    let mut unknown_kid = None;
    let verdict = (|| -> Result<Verdict, Refused> {
        let (method, path) = (request.method(), request.path());
        if let Some(meta) = &policy.resource_metadata {
            let bare = path.split_once('?').map_or(path, |(p, _)| p);
            if method == "GET" && meta.paths.iter().any(|p| p == bare) {
                return Ok(Verdict::Respond(Denial {
                    status: 200,
                    code: "resource_metadata",
                    headers: vec![("content-type", "application/json".into())],
                    body: meta.document.clone(),
                }));
            }
        }
        let (identity, limits) =
            authenticate(policy, keys, registry, request).inspect_err(|refused| {
                if matches!(
                    refused.reason,
                    Reason::InvalidToken(JwtError::UnknownKid(_))
                ) {
                    unknown_kid = Some(credentials::key_source(policy, request));
                }
            })?;
        let forward = forward(policy, request, identity, limits);
        // The subject is copied only when the request is refused.
        match authorize(policy, store, request, &forward) {
            Ok(next) => Ok(next.verdict(forward)),
            Err(reason) => Err(Refused {
                reason,
                subject: Some(forward.identity.subject),
            }),
        }
    })();
    finish(policy, verdict, unknown_kid)
}

/// Scopes and rates of an authenticated request, as far as its headers tell.
fn authorize(
    policy: &Policy,
    store: &impl SlotStore,
    request: &Request<'_>,
    forward: &Forward,
) -> Result<Next, Reason> {
    let (method, path) = (request.method(), request.path());
    if is_mcp_path(&policy.mcp_path, path) {
        if method != "POST" {
            // GET (stream) and DELETE (session end) act on nothing by themselves.
            return admit(policy, store, request.now_ms, forward, &[]);
        }
        let calls = mcp::calls_from_headers(
            request.header("mcp-protocol-version"),
            request.header("mcp-method"),
            request.header("mcp-name"),
        );
        return match calls {
            Some(calls) => admit(policy, store, request.now_ms, forward, &calls),
            // A declared length over the limit is refused before a byte is buffered.
            None if request
                .header("content-length")
                .and_then(|n| n.trim().parse::<usize>().ok())
                .is_some_and(|n| n > policy.mcp_max_body) =>
            {
                Err(Reason::BodyTooLarge(policy.mcp_max_body))
            }
            None if request.has_body => Ok(Next::ReadBody),
            None => admit(policy, store, request.now_ms, forward, &[]),
        };
    }
    match scopes::route_scope(&policy.routes, method, path) {
        RouteScope::Unknown => Err(Reason::UnknownRoute),
        RouteScope::Needs(scope) => {
            if let Some(scope) = scope {
                require(&forward.identity, scope)?;
            }
            // A route that runs a tool counts as that tool: its limits and budget hold on REST
            // as on MCP.
            let calls: Vec<Call> = scopes::route_tool(&policy.routes, method, path)
                .map(|tool| Call {
                    method: "tools/call".into(),
                    tool: Some(tool.into()),
                })
                .into_iter()
                .collect();
            admit(policy, store, request.now_ms, forward, &calls)
        }
    }
}

fn finish(
    policy: &Policy,
    verdict: Result<Verdict, Refused>,
    unknown_kid: Option<KeySource>,
) -> Outcome {
    match verdict {
        Ok(verdict) => Outcome {
            verdict,
            unknown_kid,
            refused: None,
        },
        Err(Refused { reason, subject }) => Outcome {
            verdict: Verdict::Respond(deny(policy, &reason)),
            unknown_kid,
            refused: subject,
        },
    }
}

/// Finishes a request whose MCP calls are in its body.
pub fn on_body(
    policy: &Policy,
    store: &impl SlotStore,
    pending: Pending,
    body: &[u8],
    now_ms: u64,
) -> Outcome {
    let forward = pending.forward;
    let admitted = if body.len() > policy.mcp_max_body {
        Err(Reason::BodyTooLarge(policy.mcp_max_body))
    } else {
        mcp::calls_from_body(body)
            .map_err(Reason::InvalidMcpBody)
            .and_then(|calls| admit(policy, store, now_ms, &forward, &calls))
    };
    let verdict = match admitted {
        Ok(next) => Ok(next.verdict(forward)),
        Err(reason) => Err(Refused {
            reason,
            subject: Some(forward.identity.subject),
        }),
    };
    finish(policy, verdict, None)
}

/// Finishes a request the rate-limit service was asked about, with its answer.
pub fn on_answer(policy: &Policy, asking: Asking, answer: Answer) -> Outcome {
    let Asking { forward, question } = asking;
    let refusal = match answer {
        Answer::Admit => None,
        Answer::Over {
            retry_after,
            kind: Kind::Rate,
        } => Some(Reason::RateLimited { retry_after }),
        Answer::Over {
            retry_after,
            kind: Kind::Budget,
        } => Some(Reason::BudgetExhausted { retry_after }),
        // The local buckets admitted it: they decide, unless it must not go on uncounted.
        Answer::Failed(_) if question.fail_closed() => Some(Reason::RateLimiterUnavailable),
        Answer::Failed(_) => None,
    };
    let verdict = match refusal {
        None => Ok(Verdict::Forward(forward)),
        Some(reason) => Err(Refused {
            reason,
            subject: Some(forward.identity.subject),
        }),
    };
    finish(policy, verdict, None)
}

/// The refusal for a body that has grown past the limit while arriving.
pub fn body_too_large(policy: &Policy) -> Denial {
    deny(policy, &Reason::BodyTooLarge(policy.mcp_max_body))
}

fn deny(policy: &Policy, reason: &Reason) -> Denial {
    reason.denial(policy.resource_metadata.as_ref().map(|m| Challenge {
        resource_metadata: &m.url,
        scope: &m.scope,
    }))
}

fn is_mcp_path(mcp_path: &str, path: &str) -> bool {
    path.strip_prefix(mcp_path)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'))
}

fn require(identity: &Identity, scope: &str) -> Result<(), Reason> {
    if identity.has_scope(scope) {
        Ok(())
    } else {
        Err(Reason::InsufficientScope(scope.to_string()))
    }
}

/// The header rewrite for an authenticated caller: every client-sent identity header goes, and
/// so do the credentials (the backend never needs them); the edge's identity is set.
fn forward(
    policy: &Policy,
    request: &Request<'_>,
    identity: Identity,
    limits: AgentLimits,
) -> Forward {
    let mut remove: Vec<String> = request
        .headers
        .iter()
        .map(|(name, _)| name)
        .filter(|name| is_identity_header(name))
        .map(|name| name.to_ascii_lowercase())
        .collect();
    // Credentials go too; only those present are named (each removal is a host call).
    let mut credentials = vec![policy.api_key_header.as_str(), "authorization"];
    if policy
        .mtls
        .as_ref()
        .is_some_and(|m| m.source == MtlsSource::TrustedHeaders)
    {
        credentials.extend([mtls::SSL_CLIENT_VERIFY, mtls::SSL_CLIENT_S_DN]);
    }
    remove.extend(
        credentials
            .into_iter()
            .filter(|name| request.header(name).is_some())
            .map(str::to_string),
    );
    remove.sort();
    remove.dedup();
    let scopes = identity.scopes_header();
    let request_id = request
        .header(headers::REQUEST_ID)
        .unwrap_or("")
        .to_string();
    let mut set = vec![
        (headers::SUBJECT, identity.subject.clone()),
        (headers::SCOPES, scopes.clone()),
    ];
    if let Some(id) = &identity.key_id {
        set.push((headers::KEY_ID, id.clone()));
    }
    if let Some(key) = &policy.assertion_key {
        // Sign exactly what is forwarded, bound to this request's id.
        let claims = Claims {
            subject: &identity.subject,
            scopes: &scopes,
            request_id: &request_id,
            key_id: identity.key_id.as_deref().unwrap_or(""),
        };
        set.push((headers::ASSERTION, key.sign(&claims, request.now_ms / 1000)));
    }
    Forward {
        identity,
        limits,
        remove,
        set,
    }
}

mod credentials;
#[cfg(test)]
mod global_tests;
mod limits;
#[cfg(test)]
mod oauth_tests;
#[cfg(test)]
mod registry_tests;
#[cfg(test)]
mod tests;

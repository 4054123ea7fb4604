//! Standalone mode: the backend authenticates callers itself, for running without Envoy (local
//! development, MCP Inspector, stdio). It links the filter's decision code natively, so API
//! keys, JWTs, client-certificate headers, scopes and rate limits behave exactly as at the edge:
//! there is no second implementation.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use actix_web::dev::ServiceRequest;
use actix_web::http::StatusCode;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{HttpMessage, HttpResponse};
use futures_util::StreamExt;
use vault_mcp_filter::decision::{self, KeySource, Keys, Outcome, Request, Verdict};
use vault_mcp_filter::error::Denial;
use vault_mcp_filter::jwt::KeySet;
use vault_mcp_filter::ratelimit::MemoryStore;
use vault_mcp_filter::registry::{Followed, Registry};
use vault_mcp_filter::{Identity, Policy};

use secrecy::ExposeSecret;
use serde::Deserialize;

use crate::config::{Config, ConfigError};

/// The edge policy, its rate-limit slots and the agent registry, in this process.
pub struct Standalone {
    pub policy: Policy,
    store: MemoryStore,
    /// Whether the agent registry is followed (`REGISTRY_REFRESH_SECONDS` > 0).
    pub follows_registry: bool,
    /// The last registry snapshot read from Vault (`crate::registry::follow`); `None` before the
    /// first, when only static API keys are served, as at the edge; and when it arrived (the
    /// operator console shows its age).
    registry: RwLock<Option<(Arc<Registry>, Instant)>>,
    /// The OAuth authorization server's keys, fetched by the console at each sign-in through
    /// it (this mode fetches no JWKS by itself).
    oauth_keys: RwLock<Option<Arc<KeySet>>>,
}

impl Standalone {
    pub fn new(mut policy: Policy, follows_registry: bool) -> Self {
        // The question to a rate-limit service is the edge's (a gRPC call from the filter
        // inside Envoy); here, the console's sign-ins and standalone mode, limits count
        // in-process.
        if let Some(rate) = &mut policy.rate_limit
            && rate.global.take().is_some()
        {
            tracing::debug!("rate_limit.global is Envoy's: limits here count in this process");
        }
        if policy
            .token_rules(KeySource::OAuth)
            .is_some_and(|rules| rules.remote.is_some())
        {
            // Only Envoy and the console's sign-in through the server fetch JWKS: a standalone
            // backend verifies a person's token only with inline keys.
            tracing::debug!(
                "oauth.jwks_remote is not followed here: people's tokens verify with oauth.jwks inline, or keys the console fetched at a sign-in"
            );
        }
        let store = MemoryStore::default();
        if let Some(rate) = &policy.rate_limit {
            rate.limiter.create_slots(&store);
        }
        Self {
            policy,
            store,
            follows_registry,
            registry: RwLock::new(None),
            oauth_keys: RwLock::new(None),
        }
    }

    /// The authorization server's keys as just fetched, beside any inline ones.
    pub fn set_oauth_keys(&self, mut keys: KeySet) {
        if let Some(rules) = self.policy.token_rules(KeySource::OAuth) {
            keys.extend(rules.static_keys.clone());
        }
        *self.oauth_keys.write().expect("keys lock") = Some(Arc::new(keys));
    }

    pub fn set_registry(&self, registry: Arc<Registry>) {
        *self.registry.write().expect("registry lock") = Some((registry, Instant::now()));
    }

    /// The agents in the snapshot held and how long ago it arrived; `None` before the first.
    pub fn registry_status(&self) -> Option<(usize, Duration)> {
        let held = self.registry.read().expect("registry lock");
        let (registry, at) = held.as_ref()?;
        Some((registry.len(), at.elapsed()))
    }

    /// Whether the registry snapshot held names this agent.
    pub fn knows(&self, subject: &str) -> bool {
        let held = self.registry.read().expect("registry lock");
        held.as_ref()
            .is_some_and(|(r, _)| r.agent(subject).is_some())
    }

    /// The edge's verdict on a request with these headers (`:method` and `:path` included).
    fn decide(&self, headers: &[(String, String)], has_body: bool, now_ms: u64) -> Outcome {
        // Borrowed, not cloned: the keys were built once, at start-up (inline keys only: this
        // mode fetches no JWKS).
        let no_keys = KeySet::default();
        let held = |source| {
            self.policy
                .token_rules(source)
                .map_or(&no_keys, |j| &j.static_keys)
        };
        let fetched = self.oauth_keys.read().expect("keys lock").clone();
        let keys = Keys {
            agents: held(KeySource::Agents),
            oauth: fetched.as_deref().unwrap_or_else(|| held(KeySource::OAuth)),
        };
        let request = Request {
            headers,
            peer_subject: None,
            peer_sha256: None,
            envoy_jwt: None,
            now_ms,
            has_body,
        };
        let held = self.registry.read().expect("registry lock").clone();
        let registry = match (self.follows_registry, held.as_ref().map(|(r, _)| &**r)) {
            (false, _) => Followed::No,
            (true, None) => Followed::Pending,
            (true, Some(registry)) => Followed::Yes(registry),
        };
        decision::on_headers(&self.policy, keys, registry, &self.store, &request)
    }

    /// Whom `headers` prove, for a bodiless request: the operator console's sign-in asks this
    /// of the route it is for, so scopes, disabled agents and rate limits apply as at the edge.
    pub fn identify(&self, headers: &[(String, String)], now_ms: u64) -> Result<Identity, Denial> {
        match self.decide(headers, false, now_ms).verdict {
            Verdict::Forward(forward) => Ok(forward.identity),
            Verdict::Respond(reply) => Err(reply),
            Verdict::ReadBody(_) => unreachable!("a bodiless request is decided on its headers"),
            Verdict::Ask(_) => unreachable!("global limits are removed in new()"),
        }
    }

    /// The caller, or the reply that refuses it. An MCP call named only in its body (no
    /// `Mcp-Method`/`Mcp-Name` headers) is read here as the edge reads it, so its per-tool
    /// limits and scopes apply; the body is then handed on unchanged.
    pub async fn authenticate(
        &self,
        request: &mut ServiceRequest,
        now_ms: u64,
    ) -> Result<Identity, Refusal> {
        let path = request
            .uri()
            .path_and_query()
            .map_or(request.path(), |pq| pq.as_str());
        let mut headers: Vec<(String, String)> = vec![
            (":method".into(), request.method().to_string()),
            (":path".into(), path.to_string()),
        ];
        headers.extend(request.headers().iter().filter_map(|(name, value)| {
            Some((name.as_str().to_string(), value.to_str().ok()?.to_string()))
        }));
        let has_body = request
            .headers()
            .get("content-length")
            .is_some_and(|v| v != "0")
            || request.headers().contains_key("transfer-encoding");
        let outcome = match self.decide(&headers, has_body, now_ms) {
            Outcome {
                verdict: Verdict::ReadBody(pending),
                ..
            } => {
                let body = self.read_body(request).await.map_err(|denial| Refusal {
                    denial,
                    agent: self.agent(pending.forward().identity.subject.clone()),
                })?;
                let outcome = decision::on_body(&self.policy, &self.store, pending, &body, now_ms);
                let (_, mut payload) = actix_http::h1::Payload::create(true);
                payload.unread_data(body);
                request.set_payload(payload.into());
                outcome
            }
            outcome => outcome,
        };
        match outcome.verdict {
            Verdict::Forward(forward) => Ok(forward.identity),
            Verdict::Respond(denial) => Err(Refusal {
                denial,
                agent: outcome.refused.and_then(|subject| self.agent(subject)),
            }),
            Verdict::ReadBody(_) => unreachable!("on_body decides"),
            Verdict::Ask(_) => unreachable!("global limits are removed in new()"),
        }
    }

    /// `subject` if it is an agent of the registry, as the edge counts refusals per agent only
    /// for those (a valid JWT may name any subject).
    fn agent(&self, subject: String) -> Option<String> {
        self.knows(&subject).then_some(subject)
    }

    /// The whole body, refused once it grows past the edge's MCP body limit.
    async fn read_body(&self, request: &mut ServiceRequest) -> Result<Bytes, Denial> {
        let mut payload = request.take_payload();
        let mut body = BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| decision::body_too_large(&self.policy))?;
            if body.len() + chunk.len() > self.policy.mcp_max_body {
                return Err(decision::body_too_large(&self.policy));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }
}

/// Why standalone mode refused a request, and whom when the caller was an agent of the
/// registry whose credential was good (disabled, out of scope, over its rate, a bad body).
pub struct Refusal {
    pub denial: Denial,
    pub agent: Option<String>,
}

/// The edge's local reply, as an HTTP response of the backend.
pub fn reply(denial: Denial) -> HttpResponse {
    let mut response = HttpResponse::build(
        StatusCode::from_u16(denial.status).unwrap_or(StatusCode::UNAUTHORIZED),
    );
    for (name, value) in &denial.headers {
        response.insert_header((*name, value.as_str()));
    }
    response.body(denial.body)
}

/// The edge policy for standalone mode: `EDGE_POLICY_FILE`, or one built from the seed's
/// variables. Either way it goes through the filter's own parser and checks.
pub fn policy(config: &Config) -> Result<Policy, ConfigError> {
    let invalid = |name: &'static str, reason: String| ConfigError::Invalid { name, reason };
    let env = |name: &str| std::env::var(name).ok();
    if let Some(file) = &config.edge_policy_file {
        let bytes = std::fs::read(file).map_err(|e| invalid("EDGE_POLICY_FILE", e.to_string()))?;
        return Policy::from_json(&bytes, &env)
            .map_err(|e| invalid("EDGE_POLICY_FILE", e.to_string()));
    }
    let mut policy = serde_json::json!({
        "rate_limit": {
            "requests": config.rate_limit_requests,
            "per_seconds": config.rate_limit_window_seconds,
        },
    });
    if let Some(keys) = &config.api_keys_json {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct KeyEntry {
            subject: String,
            #[serde(default)]
            scopes: Vec<String>,
        }
        let keys: std::collections::BTreeMap<String, KeyEntry> =
            serde_json::from_str(keys.expose_secret())
                .map_err(|e| invalid("API_KEYS_JSON", e.to_string()))?;
        policy["api_keys"] = keys
            .into_iter()
            .map(|(key, entry)| {
                serde_json::json!({
                    "sha256": hex::encode(vault_mcp_filter::apikey::digest(&key)),
                    "subject": entry.subject,
                    "scopes": entry.scopes,
                })
            })
            .collect();
    }
    if config.jwt_hs256_secret.is_some() || config.jwt_jwks_json.is_some() {
        let mut jwt = serde_json::json!({
            "issuer": config.jwt_issuer,
            "audience": config.jwt_audience,
            "validate_issuer": config.jwt_validate_issuer,
            "validate_audience": config.jwt_validate_audience,
            "leeway_seconds": config.jwt_leeway_seconds,
        });
        if let Some(secret) = &config.jwt_hs256_secret {
            jwt["hs256_secret"] = serde_json::json!({ "value": secret.expose_secret() });
        }
        if let Some(jwks) = &config.jwt_jwks_json {
            jwt["jwks"] =
                serde_json::from_str(jwks).map_err(|e| invalid("JWT_JWKS_JSON", e.to_string()))?;
        }
        policy["jwt"] = jwt;
    }
    if let Some(identities) = &config.mtls_identities_json {
        let identities: serde_json::Value = serde_json::from_str(identities)
            .map_err(|e| invalid("MTLS_IDENTITIES_JSON", e.to_string()))?;
        policy["mtls"] = serde_json::json!({
            "source": "trusted_headers",
            "cn_prefix": config.mtls_cn_prefix,
            "identities": identities,
        });
    }
    Policy::from_json(policy.to_string().as_bytes(), &env)
        .map_err(|e| invalid("STANDALONE", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::figment;

    #[test]
    fn standalone_policy_from_the_seeds_variables() {
        let config = Config::from_figment(figment(&[
            ("vault_token", "t"),
            ("standalone", "true"),
            (
                "api_keys_json",
                r#"{"dev-key": {"subject": "agent_api", "scopes": ["read"]}}"#,
            ),
            ("jwt_hs256_secret", "0123456789abcdef0123456789abcdef"),
            ("jwt_issuer", "iss"),
            ("jwt_audience", "aud"),
            ("mtls_identities_json", r#"{"agent_cert": ["read"]}"#),
            ("rate_limit_requests", "5"),
        ]))
        .unwrap();
        let policy = policy(&config).unwrap();
        assert_eq!(
            policy.api_keys.lookup("dev-key").unwrap().subject,
            "agent_api"
        );
        assert_eq!(policy.jwt.unwrap().settings.issuer.as_deref(), Some("iss"));
        assert!(policy.mtls.is_some());
        assert_eq!(policy.rate_limit.unwrap().default.requests, 5);
        // The raw key never shows in the summary.
        assert!(!config.summary().contains("dev-key"));
    }
}

//! One HTTP request: headers (and maybe the body) in, host calls out.

use std::rc::Rc;
use std::time::Duration;

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, LogLevel};

use super::shared::{self, SharedData};
use super::state::Configured;
use super::timing::{self, Step};
use super::{log, now_ms};
use crate::decision::{self, Asking, Forward, KeySource, Keys, Pending};
use crate::error::Denial;
use crate::global::{self, Answer, Failure};
use crate::jwt::envoy::METADATA_NAMESPACE;
use crate::mtls::MtlsSource;
use crate::registry::Followed;
use crate::{Outcome, Request, Verdict};

pub struct Filter {
    state: Rc<Configured>,
    pending: Option<Pending>,
    /// Bytes of the pending body buffered so far.
    buffered: usize,
    asking: Option<Held>,
}

/// A request held while the rate-limit service is asked about it.
struct Held {
    token: u32,
    asking: Asking,
    headers_sent: bool,
}

impl Filter {
    pub fn new(state: Rc<Configured>) -> Self {
        Self {
            state,
            pending: None,
            buffered: 0,
            asking: None,
        }
    }

    /// Sends the question; the request waits (its body too) until the answer comes.
    fn ask(&mut self, asking: Asking, headers_sent: bool) -> Action {
        let global = self
            .state
            .policy
            .rate_limit
            .as_ref()
            .and_then(|rate| rate.global.as_ref())
            .expect("a question is asked only when global limits are configured");
        let message = asking.question.encode(global);
        let sent = self.dispatch_grpc_call(
            &global.cluster,
            global::SERVICE,
            global::METHOD,
            Vec::new(),
            Some(&message),
            Duration::from_millis(global.timeout_ms.into()),
        );
        match sent {
            Ok(token) => {
                self.asking = Some(Held {
                    token,
                    asking,
                    headers_sent,
                });
                Action::Pause
            }
            // The host refused the call (no such cluster): the same as an unreachable service.
            Err(_) => self.answered(asking, Answer::Failed(Failure::Unavailable), headers_sent),
        }
    }

    fn answered(&mut self, asking: Asking, answer: Answer, headers_sent: bool) -> Action {
        if let Answer::Failed(failure) = answer {
            self.state.metrics.global_failed(failure);
            let detail = match failure {
                Failure::Status(code) => format!(" (gRPC status {code})"),
                _ => String::new(),
            };
            log(
                LogLevel::Warn,
                &format!(
                    "rate-limit service: {}{detail}; {}",
                    failure.code(),
                    if asking.question.fail_closed() {
                        "request refused"
                    } else {
                        "local limits decide"
                    }
                ),
            );
        }
        let outcome = decision::on_answer(&self.state.policy, asking, answer);
        self.carry_out(outcome, headers_sent)
    }

    fn rewrite_headers(&self, forward: &Forward) {
        timing::time(Step::Rewrite, || self.apply_rewrite(forward));
    }

    fn apply_rewrite(&self, forward: &Forward) {
        for name in &forward.remove {
            self.set_http_request_header(name, None);
        }
        for (name, value) in &forward.set {
            self.set_http_request_header(name, Some(value));
        }
    }

    /// `headers_sent`: the rewrite was applied when the body started (see `Verdict::ReadBody`).
    fn carry_out(&mut self, outcome: Outcome, headers_sent: bool) -> Action {
        if let (Verdict::Respond(reply), Some(subject)) = (&outcome.verdict, &outcome.refused) {
            self.count_agent_refusal(subject, reply.code);
        }
        match outcome.verdict {
            Verdict::Forward(forward) => {
                if !headers_sent {
                    self.rewrite_headers(&forward);
                }
                self.state.metrics.allowed();
                Action::Continue
            }
            Verdict::Respond(reply) => {
                self.respond(&reply);
                Action::Pause
            }
            Verdict::Ask(asking) => self.ask(asking, headers_sent),
            Verdict::ReadBody(pending) => {
                // The host cannot hold the headers while the body arrives: they go on now.
                self.rewrite_headers(pending.forward());
                self.pending = Some(pending);
                Action::Continue
            }
        }
    }

    /// Per agent only for the registry's agents: a valid token may name any subject.
    fn count_agent_refusal(&self, subject: &str, code: &'static str) {
        let known = self
            .state
            .registry
            .current()
            .is_some_and(|registry| registry.agent(subject).is_some());
        if known {
            self.state.metrics.agent_denied(subject, code);
        }
    }

    fn respond(&self, reply: &Denial) {
        if reply.status >= 400 {
            self.state.metrics.denied(reply.code);
        }
        let headers: Vec<(&str, &str)> = reply
            .headers
            .iter()
            .map(|(n, v)| (*n, v.as_str()))
            .collect();
        self.send_http_response(
            u32::from(reply.status),
            headers,
            Some(reply.body.as_bytes()),
        );
    }

    /// The request's certificate subject and digest (mTLS from the connection) and the payload
    /// `jwt_authn` verified, each read only when the policy uses it.
    fn properties(&self) -> (Option<String>, Option<String>, Option<Vec<u8>>) {
        let policy = &self.state.policy;
        let connection = |name| {
            policy
                .mtls
                .as_ref()
                .filter(|m| m.source == MtlsSource::Connection)
                .and_then(|_| self.get_property(vec!["connection", name]))
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .filter(|text| !text.is_empty())
        };
        let peer = connection("subject_peer_certificate");
        let peer_sha256 = peer
            .as_ref()
            .and_then(|_| connection("sha256_peer_certificate_digest"));
        let envoy_jwt = policy
            .jwt
            .as_ref()
            .and_then(|j| j.envoy_payload_key.as_deref())
            .and_then(|key| {
                self.get_property(vec!["metadata", "filter_metadata", METADATA_NAMESPACE, key])
            });
        (peer, peer_sha256, envoy_jwt)
    }

    fn decide_headers(&mut self, end_of_stream: bool) -> Action {
        let policy = &self.state.policy;
        let headers = timing::time(Step::ReadHeaders, || self.get_http_request_headers());
        let (peer, peer_sha256, envoy_jwt) = timing::time(Step::Properties, || self.properties());
        let remote = |source| {
            policy
                .token_rules(source)
                .is_some_and(|j| j.remote.is_some())
        };
        // Only a bearer token is verified with the keys: other requests skip the shared-data
        // reads that tell whether a fetched JWKS changed.
        let bearer = headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("authorization"));
        let held_keys = &self.state.keys;
        let (agent_keys, oauth_keys, held) = timing::time(Step::Snapshots, || {
            let agents = held_keys
                .of(KeySource::Agents)
                .current(bearer && remote(KeySource::Agents));
            let oauth = held_keys
                .of(KeySource::OAuth)
                .current(bearer && remote(KeySource::OAuth));
            let mut held = self.state.registry.current();
            if let Some(config) = &policy.registry
                && held.is_none()
            {
                // Until this worker holds a snapshot, look for one on every request (another
                // worker may have stored it since this one's last tick); afterwards the tick does.
                self.state.registry.sync(config.max_bytes);
                held = self.state.registry.current();
            }
            (agents, oauth, held)
        });
        let keys = Keys {
            agents: &agent_keys,
            oauth: &oauth_keys,
        };
        let request = Request {
            headers: &headers,
            peer_subject: peer.as_deref(),
            peer_sha256: peer_sha256.as_deref(),
            envoy_jwt: envoy_jwt.as_deref(),
            now_ms: timing::time(Step::Clock, now_ms),
            has_body: !end_of_stream,
        };
        let registry = match (&policy.registry, held.as_deref()) {
            (None, _) => Followed::No,
            (Some(_), None) => Followed::Pending,
            (Some(_), Some(registry)) => Followed::Yes(registry),
        };
        let outcome = timing::time(Step::Decision, || {
            decision::on_headers(policy, keys, registry, &SharedData, &request)
        });
        if let Some(source) = outcome.unknown_kid
            && remote(source)
        {
            shared::report_unknown_kid(shared::JwksSlot::of(source));
        }
        self.carry_out(outcome, false)
    }
}

impl Context for Filter {
    fn on_grpc_call_response(&mut self, token_id: u32, status_code: u32, response_size: usize) {
        let Some(held) = self.asking.take_if(|held| held.token == token_id) else {
            return;
        };
        let body = (status_code == 0)
            .then(|| self.get_grpc_call_response_body(0, response_size))
            .flatten();
        let answer = held
            .asking
            .question
            .read_answer(status_code, body.as_deref());
        if self.answered(held.asking, answer, held.headers_sent) == Action::Continue {
            self.resume_http_request();
        }
    }
}

impl HttpContext for Filter {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let action = timing::time(Step::Callback, || self.decide_headers(end_of_stream));
        timing::request_done();
        action
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if self.asking.is_some() {
            // Continuing here would send the held headers on before the answer.
            return Action::Pause;
        }
        if self.pending.is_none() {
            return Action::Continue;
        }
        if body_size > self.state.policy.mcp_max_body {
            let pending = self.pending.take().expect("checked above");
            let reply = decision::body_too_large(&self.state.policy);
            self.count_agent_refusal(&pending.forward().identity.subject, reply.code);
            self.respond(&reply);
            return Action::Pause;
        }
        if !end_of_stream {
            self.buffered = body_size;
            return Action::Pause; // buffer until the whole body is here
        }
        self.decide_body(body_size)
    }

    /// Trailers end the request: continuing here would release headers held for an answer, or a
    /// body never checked (HTTP/2 lets a client end a body with trailers instead of an empty
    /// frame that ends the stream).
    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        if self.asking.is_some() {
            return Action::Pause;
        }
        if self.pending.is_some() {
            return self.decide_body(self.buffered);
        }
        Action::Continue
    }
}

impl Filter {
    /// The whole body is here: the MCP calls in it decide.
    fn decide_body(&mut self, size: usize) -> Action {
        let pending = self.pending.take().expect("a body is pending");
        let body = self.get_http_request_body(0, size).unwrap_or_default();
        let outcome = decision::on_body(&self.state.policy, &SharedData, pending, &body, now_ms());
        self.carry_out(outcome, true)
    }
}

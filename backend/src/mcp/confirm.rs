//! A person's yes before irreversible tools (`MCP_CONFIRM_TOOLS`, by default `kv.destroy`).
//!
//! In a session (2025-06-18 … 2025-11-25) the server asks the client with a form-mode
//! `elicitation/create`: a plain message saying what will be done and one yes/no field. A
//! 2026-07-28 request, which may not be answered with a request of the server's, gets an
//! `input_required` result carrying the same form; the client retries the call with the answer
//! and the state it was given, sealed (HMAC) to the agent, the tool and its arguments, and
//! valid as long as the person had to answer, once: the state carries a Vault ticket
//! (`Vault::single_use_ticket`, encrypted, since rmcp's states are signed but readable) that
//! the retry redeems, so a replayed retry is refused on whichever replica it reaches. Declined, cancelled, unanswered in time, or a
//! client that cannot ask: the tool is refused with a result that says why, and nothing is
//! done. The message names paths, versions and leases, never a value. REST is not asked: its
//! callers are programs, and their scopes already say what they may do.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use rmcp::RoleServer;
use rmcp::model::{
    ElicitRequest, ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationSchema,
    InputRequest, InputRequiredResult, InputResponses, JsonObject, ProtocolVersion,
    RequestStateCodec, SealOptions,
};
use rmcp::service::{ElicitationError, RequestContext, ServiceError};
use schemars::JsonSchema;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::vault::Vault;

/// The one field of the form.
#[derive(Debug, Deserialize, JsonSchema)]
struct Answer {
    /// Yes, do it: this cannot be undone.
    confirm: bool,
}

rmcp::elicit_safe!(Answer);

/// The key of the confirmation among a 2026-07-28 call's input requests.
const INPUT_KEY: &str = "confirm";

/// What the previous round of a 2026-07-28 call brought back.
#[derive(Default)]
pub struct Round {
    pub input_responses: Option<InputResponses>,
    pub request_state: Option<String>,
}

pub enum Decision {
    /// Confirmed: run the tool.
    Run,
    /// 2026-07-28: answer with this and wait for the retry.
    Ask(InputRequiredResult),
    /// Why the tool does not run.
    Refuse(String),
}

pub struct Confirmations {
    tools: BTreeSet<String>,
    timeout: Duration,
    codec: RequestStateCodec,
    /// Encrypts the Vault ticket inside a state.
    tickets: LessSafeKey,
}

impl Confirmations {
    /// `secret` seals the state of 2026-07-28 rounds: replicas that share it (the assertion
    /// key) accept each other's; without one each process draws its own.
    pub fn new(tools: Vec<String>, timeout: Duration, secret: Option<&[u8]>) -> Self {
        let secret = match secret {
            Some(secret) => secret.to_vec(),
            None => {
                let mut key = vec![0; 32];
                getrandom::fill(&mut key).expect("the operating system's random numbers");
                key
            }
        };
        // One key per use, each derived from the shared secret under its own label.
        let derive = |label: &[u8]| -> Vec<u8> {
            Sha256::new()
                .chain_update(label)
                .chain_update(&secret)
                .finalize()
                .to_vec()
        };
        let tickets = UnboundKey::new(
            &CHACHA20_POLY1305,
            &derive(b"vault-mcp-bridge/mcp-request-state-ticket/v1\0"),
        )
        .expect("a 32-byte key");
        Self {
            tools: tools.into_iter().collect(),
            timeout,
            codec: RequestStateCodec::try_new(derive(b"vault-mcp-bridge/mcp-request-state/v1\0"))
                .expect("a 32-byte key"),
            tickets: LessSafeKey::new(tickets),
        }
    }

    pub fn required(&self, tool: &str) -> bool {
        self.tools.contains(tool)
    }

    /// Asks (or reads the answer to) whether `subject` may run `tool` with `arguments`, which
    /// would `summary` (e.g. "destroy versions 1 of the secret 'a/b'").
    #[allow(clippy::too_many_arguments)]
    pub async fn decide(
        &self,
        vault: &Vault,
        context: &RequestContext<RoleServer>,
        subject: &str,
        tool: &str,
        arguments: &JsonObject,
        summary: &str,
        round: Round,
    ) -> Decision {
        let message =
            format!("The agent '{subject}' asks to {summary}. This cannot be undone. Allow it?");
        let stateless = context
            .protocol_version()
            .is_some_and(|version| version >= ProtocolVersion::V_2026_07_28);
        let decision = if stateless {
            let bound = bound_to(subject, tool, arguments);
            self.in_rounds(vault, context, &message, &bound, round)
                .await
        } else {
            self.in_session(context, message).await
        };
        let outcome = match &decision {
            Decision::Run => "confirmed",
            Decision::Ask(_) => "asked",
            Decision::Refuse(_) => "refused",
        };
        let reason = match &decision {
            Decision::Refuse(why) => why.as_str(),
            _ => "",
        };
        tracing::info!(
            tool,
            subject,
            outcome,
            reason,
            request_id = super::request_id(context).as_deref().unwrap_or(""),
            "confirmation"
        );
        decision
    }

    /// A session: ask now and wait for the person.
    async fn in_session(&self, context: &RequestContext<RoleServer>, message: String) -> Decision {
        let asked = context
            .peer
            .elicit_with_timeout::<Answer>(message, Some(self.timeout))
            .await;
        match asked {
            Ok(Some(Answer { confirm: true })) => Decision::Run,
            Ok(_) => Decision::Refuse("the person at the client did not confirm it".into()),
            Err(error) => Decision::Refuse(self.why(error)),
        }
    }

    fn why(&self, error: ElicitationError) -> String {
        match error {
            ElicitationError::UserDeclined => "the person at the client declined it".into(),
            ElicitationError::UserCancelled => "the person at the client cancelled it".into(),
            ElicitationError::CapabilityNotSupported => cannot_ask(),
            ElicitationError::Service(ServiceError::Timeout { .. }) => format!(
                "no answer from the person at the client within {} s",
                self.timeout.as_secs()
            ),
            other => format!("the confirmation failed: {other}"),
        }
    }

    /// 2026-07-28: the first round asks, the retry brings the answer.
    async fn in_rounds(
        &self,
        vault: &Vault,
        context: &RequestContext<RoleServer>,
        message: &str,
        bound: &[u8],
        round: Round,
    ) -> Decision {
        let Some(state) = round.request_state else {
            let can_ask = context
                .meta
                .client_capabilities()
                .and_then(|capabilities| capabilities.elicitation)
                .is_some_and(|elicitation| elicitation.form.is_some() || elicitation.url.is_none());
            if !can_ask {
                return Decision::Refuse(cannot_ask());
            }
            return match vault.single_use_ticket(&digest(bound), self.timeout).await {
                Ok(ticket) => Decision::Ask(self.question(message, bound, &ticket)),
                Err(error) => Decision::Refuse(format!("the confirmation cannot be kept: {error}")),
            };
        };
        let Some(ticket) = self
            .codec
            .open_with(&state, bound)
            .ok()
            .and_then(|sealed| self.open_ticket(&sealed, bound))
        else {
            return Decision::Refuse(
                "the confirmation given is not for this call, or has expired".into(),
            );
        };
        match vault.redeem_ticket(&ticket, &digest(bound)).await {
            Ok(true) => {}
            Ok(false) => {
                return Decision::Refuse(
                    "the confirmation given was used already, or has expired".into(),
                );
            }
            Err(error) => {
                return Decision::Refuse(format!("the confirmation cannot be checked: {error}"));
            }
        }
        let answer = round
            .input_responses
            .and_then(|mut responses| responses.remove(INPUT_KEY))
            .and_then(|answer| serde_json::from_value::<ElicitResult>(answer).ok());
        match answer.map(|answer| (answer.action, answer.content)) {
            Some((ElicitationAction::Accept, Some(content))) => {
                match serde_json::from_value::<Answer>(content) {
                    Ok(Answer { confirm: true }) => Decision::Run,
                    _ => Decision::Refuse("the person at the client did not confirm it".into()),
                }
            }
            Some((ElicitationAction::Decline, _)) => {
                Decision::Refuse("the person at the client declined it".into())
            }
            Some((ElicitationAction::Cancel, _)) => {
                Decision::Refuse("the person at the client cancelled it".into())
            }
            _ => Decision::Refuse("the retry carries no answer to the confirmation".into()),
        }
    }

    fn question(&self, message: &str, bound: &[u8], ticket: &str) -> InputRequiredResult {
        let schema = ElicitationSchema::from_type::<Answer>().expect("a flat object");
        let request = ElicitRequest::new(ElicitRequestParams::FormElicitationParams {
            meta: None,
            message: message.to_string(),
            requested_schema: schema,
        });
        let state = self.codec.seal_with(
            &self.seal_ticket(ticket, bound),
            &SealOptions::new().associated_data(bound).ttl(self.timeout),
        );
        let requests =
            BTreeMap::from([(INPUT_KEY.to_string(), InputRequest::Elicitation(request))]);
        InputRequiredResult::new(Some(requests), Some(state))
    }

    /// `nonce ‖ ciphertext ‖ tag` of the ticket, bound to the call.
    fn seal_ticket(&self, ticket: &str, bound: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the operating system's random numbers");
        let mut sealed = ticket.as_bytes().to_vec();
        self.tickets
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(bound),
                &mut sealed,
            )
            .expect("a ticket is far below ChaCha20-Poly1305's limit");
        [nonce.as_slice(), &sealed].concat()
    }

    fn open_ticket(&self, sealed: &[u8], bound: &[u8]) -> Option<String> {
        let (nonce, ciphertext) = sealed.split_at_checked(NONCE_LEN)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut ciphertext = ciphertext.to_vec();
        let ticket = self
            .tickets
            .open_in_place(nonce, Aad::from(bound), &mut ciphertext)
            .ok()?;
        String::from_utf8(ticket.to_vec()).ok()
    }
}

/// What Vault keeps behind a ticket: the call's digest, never its arguments.
fn digest(bound: &[u8]) -> String {
    hex::encode(Sha256::digest(bound))
}

fn cannot_ask() -> String {
    "this tool needs a person to confirm it and this client cannot ask (it offers no form elicitation)"
        .into()
}

/// What a sealed state is bound to: the agent, the tool and its arguments (keys sorted, so
/// the order a client sends them in does not matter).
fn bound_to(subject: &str, tool: &str, arguments: &JsonObject) -> Vec<u8> {
    let sorted: BTreeMap<&String, &serde_json::Value> = arguments.iter().collect();
    let arguments = serde_json::to_string(&sorted).expect("plain JSON");
    [subject, tool, &arguments].join("\0").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn confirmations() -> Confirmations {
        Confirmations::new(
            vec!["kv.destroy".into()],
            Duration::from_secs(60),
            Some(b"k"),
        )
    }

    #[test]
    fn state_is_bound_to_the_agent_the_tool_and_the_arguments() {
        let c = confirmations();
        let args: JsonObject = serde_json::from_str(r#"{"path":"a","versions":[1]}"#).unwrap();
        let reordered: JsonObject = serde_json::from_str(r#"{"versions":[1],"path":"a"}"#).unwrap();
        let other: JsonObject = serde_json::from_str(r#"{"path":"b","versions":[1]}"#).unwrap();
        let asked = c.question("m", &bound_to("agent_a", "kv.destroy", &args), "ticket");
        let state = asked.request_state.unwrap();
        // rmcp's state is readable by anyone: the Vault ticket in it is not.
        assert!(
            !String::from_utf8_lossy(
                &c.codec
                    .open_with(&state, &bound_to("agent_a", "kv.destroy", &args))
                    .unwrap()
            )
            .contains("ticket")
        );
        let opens = |subject, arguments| {
            c.codec
                .open_with(&state, &bound_to(subject, "kv.destroy", arguments))
                .is_ok()
        };
        assert!(opens("agent_a", &args));
        assert!(opens("agent_a", &reordered));
        assert!(!opens("agent_a", &other));
        assert!(!opens("agent_b", &args));
        // Another replica with the same assertion key accepts it; one with another key does not.
        let twin = confirmations();
        let sealed = twin
            .codec
            .open_with(&state, &bound_to("agent_a", "kv.destroy", &args))
            .unwrap();
        assert_eq!(
            twin.open_ticket(&sealed, &bound_to("agent_a", "kv.destroy", &args))
                .as_deref(),
            Some("ticket")
        );
        assert_eq!(
            twin.open_ticket(&sealed, &bound_to("agent_a", "kv.destroy", &other)),
            None
        );
        let stranger = Confirmations::new(vec![], Duration::from_secs(60), Some(b"other"));
        assert!(
            stranger
                .codec
                .open_with(&state, &bound_to("agent_a", "kv.destroy", &args))
                .is_err()
        );
    }

    #[test]
    fn the_form_is_one_yes_no_field() {
        let schema =
            serde_json::to_value(ElicitationSchema::from_type::<Answer>().unwrap()).unwrap();
        assert_eq!(schema["properties"]["confirm"]["type"], "boolean");
        assert_eq!(schema["required"], serde_json::json!(["confirm"]));
    }
}

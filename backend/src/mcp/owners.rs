//! Each MCP session belongs to the agent that opened it. rmcp knows sessions only by id: any
//! caller naming an id could post into it (tool calls, and answers to the server's questions,
//! such as a confirmation of `kv.destroy`), read its stream or end it. Here the agent who
//! opened a session is remembered with its id, and a request naming a session of another
//! agent gets exactly the answer rmcp gives an unknown id (404 "Session not found"), so an
//! intruder cannot even learn that the session exists. An agent cut off (`super::cutoff`)
//! has its sessions closed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, ResponseError, web};
use rmcp::transport::streamable_http_server::SessionManager;
use rmcp_actix_web::transport::LocalSessionManager;

use super::cutoff::CutOffs;
use crate::error::ApiError;
use crate::identity::Agent;
use crate::vault::VaultError;

const SESSION_HEADER: &str = "mcp-session-id";
/// rmcp's own answer for a session it does not know.
const NOT_FOUND_BODY: &str = "Not Found: Session not found";
/// Sessions remembered before the first sweep of those rmcp has ended (idle, or closed).
const FIRST_SWEEP: usize = 256;

pub struct SessionOwners {
    /// rmcp's sessions: which of the remembered ones still exist.
    sessions: Arc<LocalSessionManager>,
    held: Mutex<Held>,
    /// What else ends when an agent is cut off (its `subscriptions/listen` streams).
    cut_offs: Arc<CutOffs>,
}

struct Held {
    /// Session id → the subject that opened it.
    owners: HashMap<String, String>,
    /// Sweep when this many are held (twice what the last sweep kept, at least FIRST_SWEEP).
    sweep_at: usize,
}

impl SessionOwners {
    pub fn new(sessions: Arc<LocalSessionManager>, cut_offs: Arc<CutOffs>) -> Self {
        Self {
            sessions,
            held: Mutex::new(Held {
                owners: HashMap::new(),
                sweep_at: FIRST_SWEEP,
            }),
            cut_offs,
        }
    }

    /// The agent is cut off: its sessions are closed (rmcp ends their streams and tasks) and
    /// its `subscriptions/listen` streams end.
    pub async fn cut_off(&self, subject: &str) {
        self.cut_offs.cut_off(subject);
        self.close_sessions_of(subject).await;
    }

    async fn close_sessions_of(&self, subject: &str) {
        let ids: Vec<String> = {
            let mut held = self.held.lock().expect("owners lock");
            let ids = held
                .owners
                .iter()
                .filter(|(_, owner)| *owner == subject)
                .map(|(id, _)| id.clone())
                .collect::<Vec<_>>();
            for id in &ids {
                held.owners.remove(id);
            }
            ids
        };
        for id in &ids {
            // An id rmcp ended meanwhile is no error worth more than the log.
            if let Err(error) = self.sessions.close_session(&id.as_str().into()).await {
                tracing::debug!(%error, "closing a cut-off agent's session");
            }
        }
        if !ids.is_empty() {
            tracing::info!(
                agent = subject,
                sessions = ids.len(),
                "closed the MCP sessions of an agent cut off"
            );
        }
    }

    /// The agent is enabled again (by this replica): new sessions and streams are its again.
    pub fn restore(&self, subject: &str) {
        self.cut_offs.restore(subject);
    }

    /// A new registry snapshot: the agents it disables or removes are cut off.
    pub async fn follow_registry(&self, registry: &vault_mcp_filter::registry::Registry) {
        for subject in self.cut_offs.follow(registry) {
            self.close_sessions_of(&subject).await;
        }
    }

    fn owner(&self, session: &str) -> Option<String> {
        self.held
            .lock()
            .expect("owners lock")
            .owners
            .get(session)
            .cloned()
    }

    fn forget(&self, session: &str) {
        self.held
            .lock()
            .expect("owners lock")
            .owners
            .remove(session);
    }

    async fn remember(&self, session: String, subject: String) {
        let sweep = {
            let mut held = self.held.lock().expect("owners lock");
            held.owners.insert(session, subject);
            let due = held.owners.len() >= held.sweep_at;
            if due {
                // One sweep at a time: the sessions opened meanwhile do not start another.
                held.sweep_at = usize::MAX;
            }
            due.then(|| held.owners.keys().cloned().collect())
        };
        if let Some(ids) = sweep {
            self.sweep(ids).await;
        }
    }

    /// Drops the sessions rmcp no longer has (ended by their idle timeout or closed).
    async fn sweep(&self, ids: Vec<String>) {
        let mut ended = Vec::new();
        for id in ids {
            if !self
                .sessions
                .has_session(&id.as_str().into())
                .await
                .unwrap_or(false)
            {
                ended.push(id);
            }
        }
        let mut held = self.held.lock().expect("owners lock");
        for id in &ended {
            held.owners.remove(id);
        }
        held.sweep_at = (held.owners.len() * 2).max(FIRST_SWEEP);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.held.lock().expect("owners lock").owners.len()
    }
}

fn not_found() -> HttpResponse {
    HttpResponse::NotFound().body(NOT_FOUND_BODY)
}

/// On `/mcp`, after the agent is known (`identity::require_agent`): a request naming a session
/// passes only for the agent that opened it; a response that opens a session records its agent.
pub async fn bind_to_agent(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let owners = request
        .app_data::<web::Data<SessionOwners>>()
        .expect("registered with the /mcp scope")
        .clone();
    let subject = request
        .extensions()
        .get::<Agent>()
        .map(|agent| agent.subject.clone());
    let named = request
        .headers()
        .get(SESSION_HEADER)
        .map(|id| id.to_str().unwrap_or_default().to_string());
    match (named, subject) {
        (Some(session), Some(subject)) => {
            if owners.owner(&session).as_deref() != Some(subject.as_str()) {
                tracing::warn!(target: "requests", subject = %subject,
                               "MCP request naming a session this agent does not hold");
                return Ok(request.into_response(not_found()).map_into_right_body());
            }
            let ending = request.method() == actix_web::http::Method::DELETE;
            let response = next.call(request).await?;
            if ending && response.status().is_success() {
                owners.forget(&session);
            }
            Ok(response.map_into_left_body())
        }
        (None, Some(subject)) => {
            // An agent cut off here, admitted by an edge whose snapshot is older.
            if owners.cut_offs.is_cut_off(&subject) {
                let refused = ApiError::Vault(VaultError::AgentDisabled).error_response();
                return Ok(request.into_response(refused).map_into_right_body());
            }
            let response = next.call(request).await?;
            let opened = response
                .headers()
                .get(SESSION_HEADER)
                .and_then(|id| id.to_str().ok())
                .map(str::to_string);
            if let Some(session) = opened {
                // Recorded before the client can see the id, so its first use finds it.
                owners.remember(session, subject.clone()).await;
                // Cut off while the session opened: closed now, as the cut off missed it.
                if owners.cut_offs.is_cut_off(&subject) {
                    owners.close_sessions_of(&subject).await;
                }
            }
            Ok(response.map_into_left_body())
        }
        // `require_agent` runs first and refuses requests without an agent.
        (_, None) => Ok(request.into_response(not_found()).map_into_right_body()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn a_session_rmcp_ended_is_forgotten_at_the_next_sweep() {
        let owners = SessionOwners::new(
            Arc::new(LocalSessionManager::default()),
            Arc::new(CutOffs::default()),
        );
        for n in 0..FIRST_SWEEP - 1 {
            owners.remember(format!("s{n}"), "a".into()).await;
        }
        assert_eq!(owners.len(), FIRST_SWEEP - 1);
        assert_eq!(owners.owner("s1").as_deref(), Some("a"));
        // None of them is a live rmcp session: the sweep at FIRST_SWEEP drops them all.
        owners.remember("last".into(), "b".into()).await;
        assert_eq!(owners.len(), 0);
        assert_eq!(owners.owner("s1"), None);
    }
}

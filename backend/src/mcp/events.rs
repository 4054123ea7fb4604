//! `GET /mcp/sse` (the seed's event stream): a keep-alive comment every 15 s and a
//! `tool.completed` event `{type, tool, subject, ts}` after each tool call, delivered only to
//! streams of the same subject.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use tokio::sync::broadcast;
use tokio_stream::wrappers::{BroadcastStream, IntervalStream};

use crate::identity::Agent;

const KEEPALIVE: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Serialize)]
pub struct ToolCompleted {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub tool: String,
    pub subject: String,
    /// Unix time in milliseconds.
    pub ts: u64,
}

/// The bus tools publish on; each stream subscribes.
#[derive(Clone)]
pub struct Events(broadcast::Sender<ToolCompleted>);

impl Default for Events {
    fn default() -> Self {
        // A slow stream loses the oldest events rather than holding up tool calls.
        Self(broadcast::channel(256).0)
    }
}

impl Events {
    pub fn tool_completed(&self, tool: &str, subject: &str) {
        let ts = crate::clock::unix_millis();
        // No stream listening is fine.
        let _ = self.0.send(ToolCompleted {
            kind: "tool.completed",
            tool: tool.to_string(),
            subject: subject.to_string(),
            ts,
        });
    }
}

enum Item {
    KeepAlive,
    Event(ToolCompleted),
}

/// `GET /mcp/sse` for the calling agent, until it is cut off (`super::cutoff`).
pub async fn stream(
    events: web::Data<Events>,
    cut_offs: web::Data<super::cutoff::CutOffs>,
    agent: web::ReqData<Agent>,
) -> HttpResponse {
    let subject = agent.subject.clone();
    let cut_off = cut_offs.into_inner().until_cut_off(&subject);
    let own = BroadcastStream::new(events.0.subscribe()).filter_map(move |event| {
        let subject = subject.clone();
        async move {
            match event {
                Ok(event) if event.subject == subject => Some(Item::Event(event)),
                _ => None,
            }
        }
    });
    let keepalive = IntervalStream::new(tokio::time::interval(KEEPALIVE)).map(|_| Item::KeepAlive);
    let body = stream::select(keepalive, own)
        .take_until(cut_off)
        .map(|item| {
            let text = match item {
                Item::KeepAlive => ": keepalive\n\n".to_string(),
                Item::Event(event) => format!(
                    "event: tool.completed\ndata: {}\n\n",
                    serde_json::to_string(&event).unwrap_or_default()
                ),
            };
            Ok::<_, actix_web::Error>(web::Bytes::from(text))
        });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-store"))
        .streaming(body)
}

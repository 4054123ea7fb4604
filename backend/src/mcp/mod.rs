//! The MCP face: the operation catalogue as tools, the agent's folder as resources, and
//! prompts ([`server`]); [`http_service`] mounts it for Streamable HTTP, [`serve_stdio`] on
//! stdin/stdout.

mod completions;
pub mod confirm;
mod context;
pub mod cutoff;
mod errors;
pub mod events;
pub mod owners;
mod prompts;
mod resources;
mod server;
pub mod subscriptions;
mod tools;
mod transport;

use std::sync::Arc;
use std::time::Duration;

use rmcp::handler::server::router::tool::ToolRouter;
use secrecy::ExposeSecret;

use context::{caller, request_id, traced};
pub use server::BridgeMcp;
pub use transport::{
    McpHttpService, McpSettings, http_service, rpc_compat, serve_stdio, session_end_is_done,
};

use crate::config::Config;

/// What every MCP session of this process shares.
#[derive(Clone)]
pub struct Shared {
    /// List tools as `kv_read` rather than `kv.read`, for clients that refuse dots (both
    /// spellings are accepted in calls either way).
    pub underscore_names: bool,
    /// The tools a person must confirm first.
    pub confirmations: Arc<confirm::Confirmations>,
    /// Each agent's subscriptions, and how often they are polled.
    pub subscriptions: Arc<subscriptions::Subscriptions>,
    /// Agents cut off while streams of theirs are open.
    pub cut_offs: Arc<cutoff::CutOffs>,
    /// The tools, built once.
    pub tools: Arc<ToolRouter<BridgeMcp>>,
}

impl Shared {
    /// The state of confirmations is sealed with a key derived from the assertion key, which
    /// every replica behind the same edge shares.
    pub fn from_config(config: &Config) -> Self {
        let confirmations = confirm::Confirmations::new(
            config.confirm_tools(),
            Duration::from_secs(config.mcp_confirm_timeout_seconds),
            config
                .agent_assertion_key
                .as_ref()
                .map(|key| key.expose_secret().as_bytes()),
        );
        Self {
            underscore_names: config.mcp_tool_names == "underscore",
            confirmations: Arc::new(confirmations),
            subscriptions: subscriptions::Subscriptions::new(
                Duration::from_secs(config.mcp_subscription_poll_seconds),
                config.mcp_subscriptions_per_agent,
            ),
            tools: Arc::new(tools::router()),
            cut_offs: Arc::new(cutoff::CutOffs::default()),
        }
    }
}

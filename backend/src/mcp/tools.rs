//! MCP tools. Each is declared with rmcp's `#[tool]`; arguments are schemars structs whose doc
//! comments become the input schema.

use std::sync::Arc;

use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::caller;
use crate::error::ApiError;
use crate::identity::{Agent, require_scope};
use crate::vault::kv::{Secret, Written};
use crate::vault::{SecretPath, Vault};
use vault_mcp_filter::scopes;

#[derive(Clone)]
pub struct BridgeMcp {
    vault: Arc<Vault>,
    tool_router: ToolRouter<Self>,
}

/// Arguments of `kv.read`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KvReadArgs {
    /// Secret path relative to the agent's own folder, e.g. `configs/demo`.
    pub path: String,
    /// Version to read; the latest when absent.
    #[serde(default)]
    pub version: Option<u64>,
}

/// Arguments of `kv.write`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KvWriteArgs {
    /// Secret path relative to the agent's own folder, e.g. `configs/demo`.
    pub path: String,
    /// Key/value pairs to store as the secret's new version.
    pub data: Map<String, Value>,
}

#[tool_router]
impl BridgeMcp {
    pub fn new(vault: Arc<Vault>) -> Self {
        Self {
            vault,
            tool_router: Self::tool_router(),
        }
    }

    #[tool(
        name = "kv.read",
        description = "Read a secret (KV v2) from the agent's own folder. Needs the 'read' scope.",
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<Secret>()
    )]
    async fn kv_read(
        &self,
        Parameters(args): Parameters<KvReadArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let agent = caller(&context)?;
        let result = async {
            require_tool_scope(&agent, "kv.read")?;
            let path = SecretPath::parse(&args.path)?;
            Ok(self.vault.kv_read(&agent, &path, args.version).await?)
        };
        Ok(tool_result(result.await))
    }

    #[tool(
        name = "kv.write",
        description = "Write a new version of a secret (KV v2) in the agent's own folder. Needs the 'write' scope.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        ),
        output_schema = schema_for_output::<Written>()
    )]
    async fn kv_write(
        &self,
        Parameters(args): Parameters<KvWriteArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let agent = caller(&context)?;
        let result = async {
            require_tool_scope(&agent, "kv.write")?;
            let path = SecretPath::parse(&args.path)?;
            Ok(self.vault.kv_write(&agent, &path, &args.data).await?)
        };
        Ok(tool_result(result.await))
    }
}

/// The scope a tool needs, from the table the edge enforces too.
fn require_tool_scope(agent: &Agent, tool: &str) -> Result<(), ApiError> {
    let scope = scopes::tool_scope(tool).expect("every tool the bridge offers is in the table");
    require_scope(agent, scope)
}

/// Success becomes structured content; a failure (Vault's or the caller's) becomes a tool
/// result with `isError: true`, carrying the same stable code as the REST error body.
fn tool_result<T: Serialize>(result: Result<T, ApiError>) -> CallToolResult {
    match result.and_then(|value| {
        serde_json::to_value(value).map_err(|e| ApiError::BadRequest(e.to_string()))
    }) {
        Ok(value) => CallToolResult::structured(value),
        Err(error) => CallToolResult::error(vec![ContentBlock::text(
            serde_json::json!({ "error": error.code(), "message": error.to_string() }).to_string(),
        )]),
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for BridgeMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "vault-mcp-bridge",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "Vault for agents: each tool acts on the calling agent's own folder in Vault.",
            )
    }
}

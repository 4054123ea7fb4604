//! MCP tools. Each is declared with rmcp's `#[tool]`; arguments are schemars structs whose doc
//! comments become the input schema, results are typed so each tool has an output schema.
//! Every tool calls the same Vault operation as its REST route.

use std::future::Future;
use std::sync::Arc;

use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock,
    GetPromptRequestParams, GetPromptResponse, Implementation, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ProtocolVersion, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    ResultType, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use vault_mcp_filter::scopes;

use super::events::Events;
use super::{caller, prompts, resources, traced};
use crate::error::ApiError;
use crate::identity::{Agent, require_scope};
use crate::vault::database::{DbCredentials, IssueArgs, Lease, RenewArgs, RevokeArgs, Revoked};
use crate::vault::kv::{Listing, VersionsChanged, Written, check_versions, check_wrap_ttl};
use crate::vault::ssh::{self, Otp, OtpArgs, SignedKey};
use crate::vault::transit::{
    Ciphertext, CiphertextArgs, Payload, Plaintext, RandomArgs, RandomBytes, SignArgs, Signature,
    Verification, VerifyArgs, check_random_bytes,
};
use crate::vault::{SecretPath, SecretPrefix, Vault};

#[derive(Clone)]
pub struct BridgeMcp {
    vault: Arc<Vault>,
    /// The agent of a stdio server; HTTP servers take it from each request.
    agent: Option<Agent>,
    /// List tools as `kv_read` rather than `kv.read`, for clients that refuse dots (both
    /// spellings are accepted in calls either way).
    underscore_names: bool,
    /// Where `tool.completed` events go (`GET /mcp/sse`).
    events: Option<Events>,
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
    /// "Use, don't see": return a response-wrapping token valid this long (`30s`, `5m`, `1h`,
    /// at most `24h`) instead of the value; whoever gets the token unwraps it once from Vault.
    #[serde(default)]
    pub wrap_ttl: Option<String>,
}

/// What `kv.read` returns: the secret, or (with `wrap_ttl`) a wrapping token in its place.
#[derive(Debug, Serialize, JsonSchema)]
pub struct KvReadResult {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrap_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrap_accessor: Option<String>,
    /// Seconds the wrapping token stays valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrap_ttl: Option<u64>,
}

/// Arguments of `kv.write`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KvWriteArgs {
    /// Secret path relative to the agent's own folder, e.g. `configs/demo`.
    pub path: String,
    /// Key/value pairs to store as the secret's new version.
    pub data: Map<String, Value>,
    /// Check-and-set: write only if the current version is this (0: only if absent).
    #[serde(default)]
    pub cas: Option<u32>,
}

/// Arguments of `kv.list`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KvListArgs {
    /// Folder relative to the agent's own folder, e.g. `configs/`; the root when absent.
    #[serde(default)]
    pub prefix: String,
}

/// Arguments of `kv.delete`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KvPathArgs {
    /// Secret path relative to the agent's own folder.
    pub path: String,
}

/// Arguments of `kv.undelete` and `kv.destroy`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KvVersionsArgs {
    /// Secret path relative to the agent's own folder.
    pub path: String,
    /// The versions to act on (1 to 100 of them).
    pub versions: Vec<u64>,
}

#[tool_router]
impl BridgeMcp {
    pub fn new(vault: Arc<Vault>, underscore_names: bool) -> Self {
        Self {
            vault,
            agent: None,
            underscore_names,
            events: None,
            tool_router: Self::tool_router(),
        }
    }

    pub fn with_events(self, events: Events) -> Self {
        Self {
            events: Some(events),
            ..self
        }
    }

    pub fn for_agent(vault: Arc<Vault>, agent: Agent, underscore_names: bool) -> Self {
        Self {
            agent: Some(agent),
            ..Self::new(vault, underscore_names)
        }
    }

    /// Runs a tool for the calling agent once its scope is checked; failures of the caller's
    /// input or of Vault become tool results with `isError`, not protocol errors.
    async fn run<T, F, Fut>(
        &self,
        context: &RequestContext<RoleServer>,
        tool: &str,
        op: F,
    ) -> Result<CallToolResult, McpError>
    where
        T: Serialize,
        F: FnOnce(Agent) -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let agent = caller(self.agent.as_ref(), context)?;
        let subject = agent.subject.clone();
        let result = match require_tool_scope(&agent, tool) {
            Ok(()) => traced(context, op(agent)).await,
            Err(e) => Err(e),
        };
        if let Some(events) = &self.events {
            events.tool_completed(tool, &subject);
        }
        Ok(tool_result(result))
    }

    #[tool(
        name = "kv.read",
        description = "Read a secret (KV v2) from the agent's own folder, latest or a given version; with wrap_ttl, a one-time response-wrapping token instead of the value. Needs the 'read' scope.",
        annotations(read_only_hint = true, idempotent_hint = false, open_world_hint = false),
        output_schema = schema_for_output::<KvReadResult>()
    )]
    async fn kv_read(
        &self,
        Parameters(args): Parameters<KvReadArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        self.run(&context, "kv.read", |agent| async move {
            let path = SecretPath::parse(&args.path)?;
            if let Some(ttl) = &args.wrap_ttl {
                check_wrap_ttl(ttl).map_err(ApiError::BadRequest)?;
                let wrapped = self
                    .vault
                    .kv_read_wrapped(&agent, &path, args.version, ttl)
                    .await?;
                return Ok(KvReadResult {
                    path: wrapped.path,
                    data: None,
                    version: None,
                    wrap_token: Some(wrapped.wrap_token),
                    wrap_accessor: Some(wrapped.wrap_accessor),
                    wrap_ttl: Some(wrapped.wrap_ttl),
                });
            }
            let secret = self.vault.kv_read(&agent, &path, args.version).await?;
            Ok(KvReadResult {
                path: secret.path,
                data: Some(secret.data),
                version: Some(secret.version),
                wrap_token: None,
                wrap_accessor: None,
                wrap_ttl: None,
            })
        })
        .await
    }

    #[tool(
        name = "kv.write",
        description = "Write a new version of a secret (KV v2) in the agent's own folder, optionally check-and-set. Needs the 'write' scope.",
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
        self.run(&context, "kv.write", |agent| async move {
            let path = SecretPath::parse(&args.path)?;
            Ok(self
                .vault
                .kv_write(&agent, &path, &args.data, args.cas)
                .await?)
        })
        .await
    }

    #[tool(
        name = "kv.list",
        description = "List the secret names under a folder of the agent's own (names only, never values). Needs the 'list' scope.",
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<Listing>()
    )]
    async fn kv_list(
        &self,
        Parameters(args): Parameters<KvListArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        self.run(&context, "kv.list", |agent| async move {
            let prefix = SecretPrefix::parse(&args.prefix)?;
            Ok(self.vault.kv_list(&agent, &prefix).await?)
        })
        .await
    }

    #[tool(
        name = "kv.delete",
        description = "Soft-delete the latest version of a secret (kv.undelete brings it back). Needs the 'delete' scope.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        ),
        output_schema = schema_for_output::<VersionsChanged>()
    )]
    async fn kv_delete(
        &self,
        Parameters(args): Parameters<KvPathArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        self.run(&context, "kv.delete", |agent| async move {
            let path = SecretPath::parse(&args.path)?;
            Ok(self.vault.kv_delete(&agent, &path).await?)
        })
        .await
    }

    #[tool(
        name = "kv.undelete",
        description = "Restore soft-deleted versions of a secret. Needs the 'write' scope.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        ),
        output_schema = schema_for_output::<VersionsChanged>()
    )]
    async fn kv_undelete(
        &self,
        Parameters(args): Parameters<KvVersionsArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        self.run(&context, "kv.undelete", |agent| async move {
            check_versions(&args.versions).map_err(ApiError::BadRequest)?;
            let path = SecretPath::parse(&args.path)?;
            Ok(self.vault.kv_undelete(&agent, &path, args.versions).await?)
        })
        .await
    }

    #[tool(
        name = "kv.destroy",
        description = "Permanently destroy versions of a secret; they cannot be restored. Needs the 'delete' scope.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        ),
        output_schema = schema_for_output::<VersionsChanged>()
    )]
    async fn kv_destroy(
        &self,
        Parameters(args): Parameters<KvVersionsArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        self.run(&context, "kv.destroy", |agent| async move {
            check_versions(&args.versions).map_err(ApiError::BadRequest)?;
            let path = SecretPath::parse(&args.path)?;
            Ok(self.vault.kv_destroy(&agent, &path, args.versions).await?)
        })
        .await
    }

    #[tool(
        name = "transit.encrypt",
        description = "Encrypt data with the agent's own Transit key; the plaintext is not stored anywhere. Needs the 'write' scope.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        ),
        output_schema = schema_for_output::<Ciphertext>()
    )]
    async fn transit_encrypt(
        &self,
        Parameters(args): Parameters<Payload>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        self.run(&context, "transit.encrypt", |agent| async move {
            let plaintext = args.to_base64().map_err(ApiError::BadRequest)?;
            Ok(self.vault.transit_encrypt(&agent, &plaintext).await?)
        })
        .await
    }

    #[tool(
        name = "transit.decrypt",
        description = "Decrypt a ciphertext made with the agent's own Transit key. Needs the 'read' scope.",
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<Plaintext>()
    )]
    async fn transit_decrypt(
        &self,
        Parameters(args): Parameters<CiphertextArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        self.run(&context, "transit.decrypt", |agent| async move {
            Ok(self.vault.transit_decrypt(&agent, &args.ciphertext).await?)
        })
        .await
    }

    #[tool(
        name = "transit.rewrap",
        description = "Re-encrypt a ciphertext with the latest version of the agent's key, without revealing the plaintext. Needs the 'write' scope.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        ),
        output_schema = schema_for_output::<Ciphertext>()
    )]
    async fn transit_rewrap(
        &self,
        Parameters(args): Parameters<CiphertextArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        self.run(&context, "transit.rewrap", |agent| async move {
            Ok(self.vault.transit_rewrap(&agent, &args.ciphertext).await?)
        })
        .await
    }

    #[tool(
        name = "transit.sign",
        description = "Sign data with the agent's own RSA signing key (hash and padding selectable). Needs the 'write' scope.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        ),
        output_schema = schema_for_output::<Signature>()
    )]
    async fn transit_sign(
        &self,
        Parameters(args): Parameters<SignArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        self.run(&context, "transit.sign", |agent| async move {
            let input = args.input.to_base64().map_err(ApiError::BadRequest)?;
            Ok(self
                .vault
                .transit_sign(&agent, &input, &args.options())
                .await?)
        })
        .await
    }

    #[tool(
        name = "transit.verify",
        description = "Check a signature made with the agent's own signing key. Needs the 'read' scope.",
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<Verification>()
    )]
    async fn transit_verify(
        &self,
        Parameters(args): Parameters<VerifyArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        self.run(&context, "transit.verify", |agent| async move {
            let input = args.input.to_base64().map_err(ApiError::BadRequest)?;
            let options = args.options();
            Ok(self
                .vault
                .transit_verify(&agent, &input, &args.signature, &options)
                .await?)
        })
        .await
    }

    #[tool(
        name = "transit.random",
        description = "Random bytes from Vault (1 to 1024, base64 or hex). Needs the 'read' scope.",
        annotations(read_only_hint = true, idempotent_hint = false, open_world_hint = false),
        output_schema = schema_for_output::<RandomBytes>()
    )]
    async fn transit_random(
        &self,
        Parameters(args): Parameters<RandomArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        self.run(&context, "transit.random", |agent| async move {
            check_random_bytes(args.bytes).map_err(ApiError::BadRequest)?;
            Ok(self
                .vault
                .transit_random(&agent, args.bytes, args.format)
                .await?)
        })
        .await
    }

    #[tool(
        name = "db.issue_creds",
        description = "Issue short-lived database credentials for a role (e.g. readonly). Only this agent can renew or revoke them. Needs the 'read' scope.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        ),
        output_schema = schema_for_output::<DbCredentials>()
    )]
    async fn db_issue_creds(
        &self,
        Parameters(args): Parameters<IssueArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        self.run(&context, "db.issue_creds", |agent| async move {
            Ok(self.vault.db_issue(&agent, &args.role).await?)
        })
        .await
    }

    #[tool(
        name = "db.renew",
        description = "Extend a database lease this agent was issued. Needs the 'read' scope.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = true
        ),
        output_schema = schema_for_output::<Lease>()
    )]
    async fn db_renew(
        &self,
        Parameters(args): Parameters<RenewArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        self.run(&context, "db.renew", |agent| async move {
            Ok(self
                .vault
                .db_renew(&agent, &args.lease_id, args.increment)
                .await?)
        })
        .await
    }

    #[tool(
        name = "db.revoke",
        description = "Revoke a database lease this agent was issued; the database user is dropped. Needs the 'delete' scope.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = true
        ),
        output_schema = schema_for_output::<Revoked>()
    )]
    async fn db_revoke(
        &self,
        Parameters(args): Parameters<RevokeArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        self.run(&context, "db.revoke", |agent| async move {
            Ok(self.vault.db_revoke(&agent, &args.lease_id).await?)
        })
        .await
    }

    #[tool(
        name = "ssh.otp",
        description = "A one-time SSH password for a host (by IP) of the OTP role. Needs the 'read' scope.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        ),
        output_schema = schema_for_output::<Otp>()
    )]
    async fn ssh_otp(
        &self,
        Parameters(args): Parameters<OtpArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        self.run(&context, "ssh.otp", |agent| async move {
            Ok(self.vault.ssh_otp(&agent, &args).await?)
        })
        .await
    }

    #[tool(
        name = "ssh.sign",
        description = "Sign an SSH public key as a user certificate valid only for the principal named after this agent. Needs the 'write' scope.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        ),
        output_schema = schema_for_output::<SignedKey>()
    )]
    async fn ssh_sign(
        &self,
        Parameters(args): Parameters<ssh::SignArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        self.run(&context, "ssh.sign", |agent| async move {
            Ok(self.vault.ssh_sign(&agent, &args).await?)
        })
        .await
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
    async fn call_tool(
        &self,
        mut request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        // `kv_read` is `kv.read`: the underscore spelling is always understood.
        if let Some(tool) =
            self.tool_router.list_all().into_iter().find(|tool| {
                tool.name != request.name && tool.name.replace('.', "_") == request.name
            })
        {
            request.name = tool.name;
        }
        let call = ToolCallContext::new(self, request, context);
        self.tool_router.call(call).await
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let agent = caller(self.agent.as_ref(), &context)?;
        Ok(ListResourcesResult::with_all_items(vec![
            resources::root_resource(&agent),
        ]))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            resources::secret_template(),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let agent = caller(self.agent.as_ref(), &context)?;
        let contents = traced(&context, resources::read(&self.vault, &agent, &request.uri)).await?;
        Ok(ReadResourceResult::new(vec![contents]).into())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        Ok(ListPromptsResult::with_all_items(prompts::list()))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        Ok(prompts::get(&request.name, request.arguments.as_ref())?.into())
    }

    /// Only the tools the caller's scopes allow: an agent is not shown what it cannot do.
    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let agent = caller(self.agent.as_ref(), &context)?;
        let tools = self
            .tool_router
            .list_all()
            .into_iter()
            .filter(|tool| scopes::tool_scope(&tool.name).is_some_and(|s| agent.has_scope(s)))
            .map(|mut tool| {
                if self.underscore_names {
                    tool.name = tool.name.replace('.', "_").into();
                }
                tool
            })
            .collect();
        let cache_hints = context
            .protocol_version()
            .is_some_and(|version| version >= ProtocolVersion::V_2026_07_28);
        Ok(ListToolsResult {
            result_type: Some(ResultType::COMPLETE),
            tools,
            meta: None,
            next_cursor: None,
            ttl_ms: cache_hints.then_some(0),
            // The list depends on who asks.
            cache_scope: cache_hints.then_some(CacheScope::Private),
        })
    }

    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_prompts()
                .build(),
        )
        .with_server_info(Implementation::new(
            "vault-mcp-bridge",
            env!("CARGO_PKG_VERSION"),
        ))
        .with_instructions(
            "Vault for agents: each tool acts on the calling agent's own folder in Vault.",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `tools/list` as clients see it, pinned so that schema changes are deliberate:
    /// `UPDATE_GOLDEN=1 cargo test -p vault-mcp-bridge golden` rewrites the file.
    #[test]
    fn tools_list_matches_the_golden_file() {
        let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/tools.json");
        let mut tools = BridgeMcp::tool_router().list_all();
        tools.sort_by(|a, b| a.name.cmp(&b.name));
        let actual = serde_json::to_string_pretty(&tools).unwrap() + "\n";
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&golden, &actual).unwrap();
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_default();
        assert!(
            actual == expected,
            "tools/list changed; review and run UPDATE_GOLDEN=1 cargo test -p vault-mcp-bridge golden"
        );
    }

    #[test]
    fn every_tool_has_a_scope_in_the_edge_table() {
        let tools = BridgeMcp::tool_router().list_all();
        let underscored: std::collections::BTreeSet<String> =
            tools.iter().map(|t| t.name.replace('.', "_")).collect();
        assert_eq!(
            underscored.len(),
            tools.len(),
            "underscore names must stay unique"
        );
        for tool in tools {
            assert!(
                scopes::tool_scope(&tool.name).is_some(),
                "{} has no scope",
                tool.name
            );
            assert!(
                tool.output_schema.is_some(),
                "{} has no output schema",
                tool.name
            );
            assert!(
                tool.annotations.is_some(),
                "{} has no annotations",
                tool.name
            );
        }
    }
}

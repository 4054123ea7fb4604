//! The MCP server handler: tools ([`super::tools`]), resources, prompts and the server's info,
//! for the agent of each request. It knows nothing about transports.

use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, CompleteRequestParams, CompleteResult,
    GetPromptRequestParams, GetPromptResponse, Implementation, JsonObject, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ProtocolVersion, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    ResultType, ServerCapabilities, ServerConfig, SubscribeRequestParams, SubscriptionFilter,
    UnsubscribeRequestParams,
};
use rmcp::service::{RequestContext, SubscriptionContext};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use vault_mcp_filter::scopes;

use super::confirm::{Decision, Round};
use super::errors::tool_result;
use super::events::Events;
use super::subscriptions::{self, InSession};
use super::{Shared, caller, completions, prompts, resources, traced};
use crate::error::ApiError;
use crate::identity::Agent;
use crate::ops::{self, Operation};
use crate::vault::Vault;

#[derive(Clone)]
pub struct BridgeMcp {
    vault: Arc<Vault>,
    /// The agent of a stdio server; HTTP servers take it from each request.
    agent: Option<Agent>,
    shared: Shared,
    /// Where `tool.completed` events go (`GET /mcp/sse`).
    events: Option<Events>,
    /// False for the seed's `/mcp/rpc`, where no session outlives a request.
    in_session: bool,
    /// What this session subscribed to (`resources/subscribe`).
    subscribed: InSession,
    /// Built once per process: rmcp makes a server per 2026-07-28 request, and building the
    /// tools (their schemas above all) for each would cost every call.
    tool_router: Arc<ToolRouter<Self>>,
}

impl BridgeMcp {
    pub fn new(vault: Arc<Vault>, shared: Shared) -> Self {
        Self {
            tool_router: shared.tools.clone(),
            vault,
            agent: None,
            shared,
            events: None,
            in_session: true,
            subscribed: InSession::default(),
        }
    }

    /// For the seed's `/mcp/rpc`: every request stands alone.
    pub fn without_sessions(self) -> Self {
        Self {
            in_session: false,
            ..self
        }
    }

    pub fn with_events(self, events: Events) -> Self {
        Self {
            events: Some(events),
            ..self
        }
    }

    pub fn for_agent(vault: Arc<Vault>, agent: Agent, shared: Shared) -> Self {
        Self {
            agent: Some(agent),
            ..Self::new(vault, shared)
        }
    }

    /// Runs the tool of operation `O` for the calling agent: its scope first, then its
    /// arguments, then a person's yes where the tool needs one, then the operation. Failures
    /// of the caller's input or of Vault, and refusals, become tool results with `isError`,
    /// not protocol errors.
    pub(super) async fn call<O: Operation>(
        &self,
        context: RequestContext<RoleServer>,
        arguments: JsonObject,
        round: Round,
    ) -> Result<CallToolResponse, McpError> {
        let agent = caller(self.agent.as_ref(), &context)?;
        let parsed = ApiError::parse::<O, _>(serde_json::Value::Object(arguments.clone()));
        // The scope is checked before the arguments: a caller without it learns nothing
        // about what the tool would have accepted.
        let result = match ops::allow::<O>(&agent).and_then(|allowed| Ok((allowed, parsed?))) {
            Ok((allowed, operation)) if self.shared.confirmations.required(O::NAME) => {
                let summary = operation.summary();
                let decision = self
                    .shared
                    .confirmations
                    .decide(
                        &self.vault,
                        &context,
                        &agent.subject,
                        O::NAME,
                        &arguments,
                        &summary,
                        round,
                    )
                    .await;
                match decision {
                    Decision::Run => traced(&context, allowed.run(&self.vault, operation)).await,
                    Decision::Ask(question) => return Ok(question.into()),
                    Decision::Refuse(why) => Err(ApiError::NotConfirmed(why)),
                }
            }
            Ok((allowed, operation)) => traced(&context, allowed.run(&self.vault, operation)).await,
            Err(error) => Err(error),
        };
        if let Some(events) = &self.events {
            events.tool_completed(O::NAME, &agent.subject);
        }
        Ok(tool_result(result).into())
    }
}

impl ServerHandler for BridgeMcp {
    async fn call_tool(
        &self,
        mut request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        // `kv_read` is `kv.read`: the underscore spelling is always understood. Looked up in the
        // scope table (every tool is there), not by listing the router's tools, which clones
        // every tool's schema.
        if let Some(name) = scopes::tool_name(&request.name)
            && name != request.name
        {
            request.name = name.into();
        }
        let call = ToolCallContext::new(self, request, context);
        self.tool_router.call(call).await
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
                if self.shared.underscore_names {
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

    /// 2025-03-26 … 2025-11-25, in a session: `notifications/resources/updated` for `uri`
    /// until it is unsubscribed or the session ends.
    #[allow(deprecated)] // rmcp marks the pre-2026 methods so; they are what those clients use.
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        if !self.in_session {
            return Err(McpError::invalid_request(
                "resources/subscribe needs a session: use the Streamable HTTP endpoint /mcp",
                None,
            ));
        }
        let agent = caller(self.agent.as_ref(), &context)?;
        let subscribing = self.subscribed.subscribe(
            &self.shared.subscriptions,
            self.vault.clone(),
            agent,
            request.uri,
            context.peer.clone(),
        );
        traced(&context, subscribing).await
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.subscribed.unsubscribe(&request.uri);
        Ok(())
    }

    /// 2026-07-28: resource subscriptions only (the lists of tools, resources and prompts
    /// never change while the bridge runs); which URIs the agent may watch is checked in
    /// `listen`, where the agent is known.
    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let uris = requested.resource_subscriptions.clone().unwrap_or_default();
        Some(
            SubscriptionFilter::builder()
                .resource_subscriptions(uris)
                .build(),
        )
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), McpError> {
        let agent = caller(self.agent.as_ref(), context.request_context())?;
        let vault = self.vault.clone();
        let cut_off = self.shared.cut_offs.until_cut_off(&agent.subject);
        subscriptions::listen(&self.shared.subscriptions, vault, agent, context, cut_off).await
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

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        let agent = caller(self.agent.as_ref(), &context)?;
        let completion = traced(
            &context,
            completions::complete(&self.vault, &agent, &request),
        )
        .await?;
        Ok(CompleteResult::new(completion))
    }

    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_resources_subscribe()
                .enable_prompts()
                .enable_completions()
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

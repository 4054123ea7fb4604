//! Vault MCP Bridge backend: REST routes and an MCP server over one Vault layer.
//!
//! [`serve`] builds the actix-web application; `main.rs` only parses the command line.

pub mod clock;
pub mod config;
pub mod console;
pub mod error;
pub mod identity;
pub mod mcp;
pub mod ops;
pub mod registry;
pub mod rest;
pub mod telemetry;
pub mod traffic;
pub mod vault;

use std::sync::Arc;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};

use crate::config::Config;
use crate::error::{ApiError, json_error};
use crate::vault::Vault;

/// Largest JSON body the REST routes accept.
pub const MAX_JSON_BODY: usize = 1024 * 1024;

/// Everything a worker needs, built once and shared by all workers.
#[derive(Clone)]
pub struct AppState {
    expose_rest_routes: bool,
    vault: web::Data<Vault>,
    trust: web::Data<identity::Trust>,
    mcp: mcp::McpHttpService,
    mcp_rpc: mcp::McpHttpService,
    /// Which agent opened each MCP session.
    mcp_owners: web::Data<mcp::owners::SessionOwners>,
    /// Agents cut off while streams of theirs are open.
    cut_offs: web::Data<mcp::cutoff::CutOffs>,
    events: web::Data<mcp::events::Events>,
    registry: web::Data<registry::Registry>,
    snapshots: web::Data<registry::snapshot::SnapshotCache>,
    /// People registered on their first sign-in, when `USERS_SIGN_UP_SCOPES` is set.
    sign_ups: Option<web::Data<registry::sign_up::SignUps>>,
}

impl AppState {
    pub fn new(config: &Config) -> std::io::Result<Self> {
        let vault = Arc::new(
            Vault::new(config, telemetry::METRICS.vault_calls()).map_err(std::io::Error::other)?,
        );
        let trust = identity::Trust::from_config(config).map_err(std::io::Error::other)?;
        let settings = mcp::McpSettings {
            shared: mcp::Shared::from_config(config),
            allowed_origins: config.allowed_origins(),
            allowed_hosts: config.allowed_hosts(),
            events: mcp::events::Events::default(),
        };
        let sessions = Arc::new(rmcp_actix_web::transport::LocalSessionManager::default());
        Ok(Self {
            expose_rest_routes: config.expose_rest_routes,
            events: web::Data::new(settings.events.clone()),
            cut_offs: web::Data::from(settings.shared.cut_offs.clone()),
            mcp_owners: web::Data::new(mcp::owners::SessionOwners::new(
                sessions.clone(),
                settings.shared.cut_offs.clone(),
            )),
            mcp: mcp::http_service(vault.clone(), settings.clone(), sessions, false),
            mcp_rpc: mcp::http_service(vault.clone(), settings, Arc::new(Default::default()), true),
            registry: web::Data::new(
                registry::Registry::new(vault.clone()).with_sign_up(config.sign_up_scopes()),
            ),
            sign_ups: config
                .sign_up_scopes()
                .map(|scopes| web::Data::new(registry::sign_up::SignUps::new(scopes))),
            snapshots: web::Data::new(registry::snapshot::SnapshotCache::default()),
            vault: web::Data::from(vault),
            trust: web::Data::new(trust),
        })
    }

    /// Registers every route; used by [`serve`] and by in-process tests alike.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        if matches!(**self.trust, identity::Trust::Edge(_)) {
            cfg.app_data(telemetry::EdgeRequestIds);
        }
        if let Some(sign_ups) = &self.sign_ups {
            cfg.app_data(sign_ups.clone());
        }
        cfg.app_data(self.vault.clone())
            .app_data(self.trust.clone())
            .app_data(self.registry.clone())
            .app_data(self.snapshots.clone())
            // Which agent opened each MCP session (`/mcp`), and its sessions closed when it is
            // cut off (the admin routes).
            .app_data(self.mcp_owners.clone())
            .app_data(
                web::JsonConfig::default()
                    .limit(MAX_JSON_BODY)
                    // Bodies are parsed as JSON whatever they are labelled: `curl -d` sends
                    // form-urlencoded by default, and JSON is all these routes take.
                    .content_type(|_| true)
                    .content_type_required(false)
                    .error_handler(|e, _| json_error(e).into()),
            )
            .app_data(
                web::QueryConfig::default()
                    .error_handler(|e, _| ApiError::BadRequest(e.to_string()).into()),
            )
            // Unauthenticated: for orchestrators and Prometheus on the backend's own port.
            // Through Envoy only the health routes pass, and only authenticated.
            .route("/healthz", web::get().to(rest::livez))
            .route("/livez", web::get().to(rest::livez))
            .route("/readyz", web::get().to(rest::readyz))
            .route("/metrics", web::get().to(telemetry::metrics))
            // The edge's own call, proven by its signature (never reachable through Envoy:
            // the route table does not name it).
            .route("/_bridge/registry", web::get().to(rest::registry_snapshot))
            .configure(rest::docs_routes)
            // The seed's pair first: actix matches in order, and "/mcp" would take them.
            .app_data(self.events.clone())
            .app_data(self.cut_offs.clone())
            .service(
                web::resource("/mcp/sse")
                    .wrap(from_fn(identity::require_agent))
                    .route(web::get().to(mcp::events::stream)),
            )
            .service(
                self.mcp_rpc
                    .clone()
                    .scope_with_path("/mcp/rpc")
                    .wrap(from_fn(mcp::rpc_compat))
                    .wrap(from_fn(identity::require_agent)),
            )
            .service(
                self.mcp
                    .clone()
                    .scope_with_path("/mcp")
                    .wrap(from_fn(mcp::owners::bind_to_agent))
                    .wrap(from_fn(mcp::session_end_is_done))
                    .wrap(from_fn(identity::require_agent)),
            );
        cfg.service(
            web::scope("/admin")
                .wrap(from_fn(identity::require_route_scope))
                .wrap(from_fn(identity::require_agent))
                .configure(rest::admin_routes),
        );
        if self.expose_rest_routes {
            cfg.service(
                web::scope("")
                    // Registered last, run first: identity, then the route's scope.
                    .wrap(from_fn(identity::require_route_scope))
                    .wrap(from_fn(identity::require_agent))
                    .configure(rest::agent_routes),
            );
        }
    }
}

/// `vault-mcp-bridge stdio`: MCP on stdin/stdout for the agent `SUBJECT` with `SCOPES`.
pub async fn serve_stdio(config: Config, agent: identity::Agent) -> std::io::Result<()> {
    let vault = Arc::new(
        Vault::new(&config, telemetry::METRICS.vault_calls()).map_err(std::io::Error::other)?,
    );
    if let Some(ttl) = vault
        .authenticate()
        .await
        .map_err(|e| std::io::Error::other(format!("Vault login: {e}")))?
    {
        tokio::spawn(vault.clone().keep_token_fresh(ttl));
    }
    vault
        .check_agent_tokens()
        .await
        .map_err(std::io::Error::other)?;
    mcp::serve_stdio(vault, agent, mcp::Shared::from_config(&config)).await
}

pub async fn serve(config: Config) -> std::io::Result<()> {
    let state = AppState::new(&config)?;
    let login = state
        .vault
        .authenticate()
        .await
        .map_err(|e| std::io::Error::other(format!("Vault login: {e}")))?;
    if let Some(ttl) = login {
        actix_web::rt::spawn(state.vault.clone().into_inner().keep_token_fresh(ttl));
    }
    state
        .vault
        .check_agent_tokens()
        .await
        .map_err(std::io::Error::other)?;
    state
        .registry
        .check_upgraded()
        .await
        .map_err(std::io::Error::other)?;
    let console = console::Console::from_config(&config)
        .map_err(std::io::Error::other)?
        .map(web::Data::new);
    if config.registry_refresh_seconds > 0 {
        // Both gates that decide like the edge follow the registry like the edge; and an agent
        // disabled or removed there has its MCP sessions and streams ended here.
        let trust = state.trust.clone().into_inner();
        let console_gate = console.clone();
        let owners = state.mcp_owners.clone().into_inner();
        let sign_ups = state.sign_ups.clone();
        let deliver = move |snapshot: vault_mcp_filter::registry::Registry| {
            let snapshot = Arc::new(snapshot);
            if let Some(sign_ups) = &sign_ups {
                sign_ups.follow(snapshot.clone());
            }
            if let Some(console) = &console_gate {
                console.gate.set_registry(snapshot.clone());
            }
            let owners = owners.clone();
            let followed = snapshot.clone();
            actix_web::rt::spawn(async move { owners.follow_registry(&followed).await });
            if let identity::Trust::Standalone(standalone) = &*trust {
                standalone.set_registry(snapshot);
            }
        };
        // Read once before listening: with Vault up, callers never meet the fail-closed start.
        registry::refresh(&state.registry, &state.snapshots, &deliver).await;
        actix_web::rt::spawn(registry::follow(
            state.registry.clone().into_inner(),
            state.snapshots.clone().into_inner(),
            deliver,
            std::time::Duration::from_secs(config.registry_refresh_seconds),
        ));
    }
    let console_server = match (&console, &config.console_addr) {
        (Some(console), Some(address)) => Some(console::server(
            address,
            console.clone(),
            state.registry.clone(),
            state.vault.clone(),
            state.mcp_owners.clone(),
        )?),
        _ => None,
    };
    tracing::info!(host = %config.host, port = config.port, "vault-mcp-bridge listening");
    let server = HttpServer::new(move || {
        let state = state.clone();
        App::new()
            .wrap(from_fn(telemetry::observe))
            .configure(move |cfg| state.configure(cfg))
    })
    // Open SSE streams would otherwise hold shutdown for actix's default 30 s.
    .shutdown_timeout(5)
    // Longer than Envoy's idle timeout for its backend connections (60 s, envoy/envoy.yaml):
    // the proxy, not the backend, closes an idle one, so no request meets a closing socket.
    .keep_alive(std::time::Duration::from_secs(75));
    // Unset: actix's default, one worker per core.
    let server = match config.http_workers {
        Some(workers) => server.workers(workers.get()),
        None => server,
    }
    .bind(config.bind_address())?
    .run();
    match console_server {
        Some(console) => futures_util::future::try_join(server, console)
            .await
            .map(|_| ()),
        None => server.await,
    }
}

//! The operator console (issue #17): web pages on a listener of their own (`CONSOLE_ADDR`, off
//! unless set) for the people who run the bridge. Signing in asks the edge's own decision code
//! (the filter's, linked natively as in standalone mode) whether a credential may use
//! `/admin/agents`; the pages then call `/api/…`, which mounts the very handlers of the
//! backend's `/admin/agents` (and so the registry code the CLI uses) behind a session cookie and
//! a CSRF token. Pages are static files built with DOM calls, under a Content-Security-Policy
//! that allows no inline script; every asset is served from here, none from a CDN.

mod assets;
mod budgets;
mod edge;
mod health;
mod host;
mod oauth;
pub mod session;
mod traffic;

use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{DefaultHeaders, Next, from_fn};
use actix_web::{App, Error, HttpMessage, HttpRequest, HttpResponse, HttpServer, web};
use serde::Deserialize;
use vault_mcp_filter::global::DEFAULT_DOMAIN;
use vault_mcp_filter::scopes::KNOWN;

use crate::config::{Config, ConfigError};
use crate::error::{ApiError, json_error};
use crate::identity::standalone::{self, Standalone};
use crate::registry::Registry;
use crate::telemetry;
use crate::vault::Vault;
use session::{Session, Sessions};

/// What signing in is checked against: the route the console's changes stand for.
const SIGN_IN_ROUTE: &str = "/admin/agents";
/// Longest credential accepted at sign-in (a JWT with many claims fits).
const MAX_CREDENTIAL: usize = 16 * 1024;

/// Every response: no inline script or style, nothing from elsewhere, never framed.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub struct Console {
    /// The edge's policy and the registry snapshots, as standalone mode holds them.
    pub gate: Standalone,
    sessions: Sessions,
    /// The names it answers under (DNS rebinding), and the proxies believed about them.
    hosts: host::HostPolicy,
    registry_refresh_seconds: u64,
    envoy_admin: Option<edge::EnvoyAdmin>,
    /// The edge's refusals of the last hour, sampled from `envoy_admin`.
    refusals: edge::EdgeRefusals,
    /// What is left of agents' budgets, from the edge's rate-limit service.
    budgets: budgets::BudgetCounts,
    audit_log: Option<std::path::PathBuf>,
    /// Signing in through the edge's OAuth authorization server, when it has one.
    oauth: Option<oauth::OAuthSignIn>,
}

impl Console {
    /// `None` unless `CONSOLE_ADDR` is set.
    pub fn from_config(config: &Config) -> Result<Option<Self>, ConfigError> {
        if config.console_addr.is_none() {
            return Ok(None);
        }
        let policy = standalone::policy(config)?;
        let oauth = oauth::OAuthSignIn::from_config(config, &policy)?;
        // The domain the edge counts in (the gate below counts in-process and drops it).
        let domain = policy
            .rate_limit
            .as_ref()
            .and_then(|rate| rate.global.as_ref())
            .map_or(DEFAULT_DOMAIN, |global| global.domain.as_str())
            .to_string();
        let budgets = budgets::BudgetCounts::new(config.console_ratelimit_url.as_deref(), domain)
            .map_err(|reason| ConfigError::Invalid {
            name: "CONSOLE_RATELIMIT_URL",
            reason,
        })?;
        Ok(Some(Self {
            oauth,
            gate: Standalone::new(policy, config.registry_refresh_seconds > 0),
            sessions: Sessions::new(Duration::from_secs(config.console_session_minutes * 60)),
            hosts: host::HostPolicy::from_config(config),
            registry_refresh_seconds: config.registry_refresh_seconds,
            envoy_admin: config
                .console_envoy_admin_url
                .as_deref()
                .map(edge::EnvoyAdmin::new)
                .transpose()
                .map_err(|reason| ConfigError::Invalid {
                    name: "CONSOLE_ENVOY_ADMIN_URL",
                    reason,
                })?,
            refusals: edge::EdgeRefusals::default(),
            budgets,
            audit_log: config.console_vault_audit_log.clone(),
        }))
    }
}

impl Console {
    /// The session cookie for `id` (empty: the cookie that clears it), `Secure` when the
    /// browser came over TLS.
    fn session_cookie(
        &self,
        request: &HttpRequest,
        id: String,
    ) -> actix_web::cookie::Cookie<'static> {
        let secure = self.hosts.seen(request).scheme == "https";
        self.sessions.cookie(id, secure)
    }
}

/// The console's own server on `CONSOLE_ADDR`, sharing the backend's registry and Vault client.
pub fn server(
    address: &str,
    console: web::Data<Console>,
    registry: web::Data<Registry>,
    vault: web::Data<Vault>,
    // The admin routes close the MCP sessions of an agent the operator cuts off.
    sessions: web::Data<crate::mcp::owners::SessionOwners>,
) -> std::io::Result<Server> {
    tracing::info!(address, "operator console listening");
    actix_web::rt::spawn(edge::sample_refusals(console.clone()));
    Ok(HttpServer::new(move || {
        App::new()
            .wrap(from_fn(host::enforce))
            .wrap(from_fn(telemetry::observe))
            .wrap(
                DefaultHeaders::new()
                    .add((header::CONTENT_SECURITY_POLICY, CSP))
                    .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                    .add((header::REFERRER_POLICY, "no-referrer"))
                    .add((header::X_FRAME_OPTIONS, "DENY"))
                    // Pages show keys once: never kept by a cache or the back button.
                    .add((header::CACHE_CONTROL, "no-store")),
            )
            .app_data(console.clone())
            .app_data(crate::traffic::Unrecorded)
            .app_data(registry.clone())
            .app_data(vault.clone())
            .app_data(sessions.clone())
            .app_data(
                web::JsonConfig::default()
                    .limit(64 * 1024)
                    .error_handler(|e, _| json_error(e).into()),
            )
            .app_data(
                web::QueryConfig::default()
                    .error_handler(|e, _| ApiError::BadRequest(e.to_string()).into()),
            )
            .configure(routes)
    })
    .workers(1)
    .shutdown_timeout(5)
    .bind(address)?
    .run())
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/",
        web::get().to(|| async { see_other(&format!("/{}", assets::PAGES[0].0)) }),
    )
    .route(
        "/login",
        web::get().to(|| async { assets::page("login.html") }),
    )
    .route("/login", web::post().to(sign_in))
    .route("/login/oauth", web::get().to(oauth::start))
    .route("/login/callback", web::get().to(oauth::finish))
    .route("/login/methods", web::get().to(sign_in_methods))
    .route("/assets/{name}", web::get().to(assets::asset))
    .service(
        web::scope("/api")
            .wrap(from_fn(require_session))
            .route("/session", web::get().to(session_info))
            .route("/signout", web::post().to(sign_out))
            .route("/health", web::get().to(health::health))
            .route("/traffic", web::get().to(traffic::traffic))
            .route("/budgets", web::get().to(budgets::budgets))
            .route("/activity/{agent}", web::get().to(traffic::activity))
            .route("/audit/{request_id}", web::get().to(traffic::audit))
            // The backend's own `/admin/agents…` handlers: same checks, same audit log.
            .configure(crate::rest::admin_routes),
    )
    .default_service(web::to(|| async {
        Err::<HttpResponse, _>(ApiError::UnknownRoute)
    }));
    for (name, _) in assets::PAGES {
        cfg.route(
            &format!("/{name}"),
            web::get().to(move |r: HttpRequest, c: web::Data<Console>| page(r, c, name)),
        );
    }
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// A signed-in page; without a session, the sign-in page.
async fn page(request: HttpRequest, console: web::Data<Console>, name: &str) -> HttpResponse {
    match console.sessions.of(&request) {
        Some(_) => assets::page(&format!("{name}.html")),
        None => see_other("/login"),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    /// An API key, or a JWT (three dot-separated parts) sent as a bearer token.
    credential: String,
}

/// What the sign-in page offers besides a key: the authorization server, if any.
async fn sign_in_methods(console: web::Data<Console>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "oauth_issuer": console.oauth.as_ref().map(|o| o.issuer()),
    }))
}

async fn sign_in(
    request: HttpRequest,
    console: web::Data<Console>,
    body: web::Json<SignIn>,
) -> Result<HttpResponse, ApiError> {
    let credential = body.credential.trim();
    if credential.is_empty() || credential.len() > MAX_CREDENTIAL {
        return Err(ApiError::BadRequest(
            "give an API key or a bearer token".into(),
        ));
    }
    let presented = if credential.split('.').count() == 3 {
        ("authorization".to_string(), format!("Bearer {credential}"))
    } else {
        let name = console.gate.policy.api_key_header.clone();
        (name, credential.to_string())
    };
    let headers = vec![
        (":method".to_string(), "GET".to_string()),
        (":path".to_string(), SIGN_IN_ROUTE.to_string()),
        presented,
    ];
    match console.gate.identify(&headers, crate::clock::unix_millis()) {
        Ok(operator) => {
            tracing::info!(target: "admin", operator = %operator.subject, action = "console_sign_in",
                           "console session started");
            let subject = operator.subject.clone();
            let id = console.sessions.start(operator);
            Ok(HttpResponse::Ok()
                .cookie(console.session_cookie(&request, id))
                .json(serde_json::json!({ "subject": subject })))
        }
        Err(denial) => {
            tracing::warn!(target: "admin", code = denial.code, action = "console_sign_in",
                           "console sign-in refused");
            Ok(standalone::reply(denial))
        }
    }
}

/// `/api/…`: a live session, and on every change its CSRF token. The operator becomes the
/// request's identity, as the edge's would behind Envoy.
async fn require_session(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let console = request
        .app_data::<web::Data<Console>>()
        .expect("registered by server()")
        .clone();
    let session = console
        .sessions
        .of(request.request())
        .ok_or(ApiError::Unauthenticated("sign in to the console"))?;
    if request.method() != actix_web::http::Method::GET && !session.csrf_matches(request.request())
    {
        return Err(
            ApiError::NotAllowed("the console's CSRF token is missing or wrong".into()).into(),
        );
    }
    request.extensions_mut().insert(session.operator.clone());
    request.extensions_mut().insert(session);
    next.call(request).await
}

async fn session_info(session: web::ReqData<Session>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "subject": session.operator.subject,
        "csrf": session.csrf,
        "scopes": KNOWN,
        "pages": assets::PAGES
            .iter()
            .map(|(name, title)| serde_json::json!({"path": format!("/{name}"), "title": title}))
            .collect::<Vec<_>>(),
    }))
}

async fn sign_out(request: HttpRequest, console: web::Data<Console>) -> HttpResponse {
    console.sessions.end(&request);
    HttpResponse::NoContent()
        .cookie(console.session_cookie(&request, String::new()))
        .finish()
}

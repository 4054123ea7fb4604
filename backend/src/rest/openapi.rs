//! The OpenAPI document (`/openapi.json`), Swagger UI (`/docs`) and ReDoc (`/redoc`), all served
//! by the backend itself: Swagger UI's assets come vendored in a crate, ReDoc's bundle is
//! vendored in `backend/assets/redoc`. Nothing is fetched at build or run time.

use actix_web::{HttpResponse, web};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use super::{database, health, pki, secrets, ssh, transit};
use crate::error::ErrorBody;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Vault MCP Bridge",
        description = "Vault for AI agents: each agent acts in its own corner of Vault. Behind Envoy, credentials are checked by the edge filter; the same routes serve MCP at /mcp."
    ),
    paths(
        secrets::list,
        secrets::read,
        secrets::write,
        secrets::delete,
        secrets::undelete,
        secrets::destroy,
        transit::encrypt,
        transit::decrypt,
        transit::rewrap,
        transit::sign,
        transit::verify,
        transit::random,
        transit::create_key,
        database::issue,
        database::renew,
        database::revoke,
        ssh::otp,
        ssh::sign,
        pki::issue,
        pki::revoke,
        pki::ca,
        health::whoami,
        health::livez,
        health::readyz,
    ),
        modifiers(&Security),
    tags(
        (name = "kv", description = "KV v2 in the agent's own folder"),
        (name = "transit", description = "Encryption and signatures with the agent's own keys"),
        (name = "database", description = "Dynamic database credentials"),
        (name = "ssh", description = "SSH one-time passwords and certificates"),
        (name = "pki", description = "Client certificates for the agent's own name"),
        (name = "service", description = "Identity and health"),
    )
)]
pub struct ApiDoc;

/// The failures every route acting for an agent can answer, each with the one error body.
#[derive(IntoResponses)]
#[allow(dead_code)] // documents responses; never built
pub enum AgentErrors {
    #[response(status = 400, description = "Invalid input, or Vault rejected it")]
    Invalid(ErrorBody),
    #[response(status = 401, description = "Not authenticated")]
    Unauthenticated(ErrorBody),
    #[response(status = 403, description = "Scope missing, or Vault refused")]
    Forbidden(ErrorBody),
    #[response(
        status = 503,
        description = "Vault sealed or unreachable (Retry-After)"
    )]
    Unavailable(ErrorBody),
}

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

const REDOC_JS: &[u8] = include_bytes!("../../assets/redoc/redoc.standalone.js");

const REDOC_HTML: &str = r#"<!DOCTYPE html>
<html>
  <head>
    <title>Vault MCP Bridge API</title>
    <meta charset="utf-8"/>
    <meta name="viewport" content="width=device-width, initial-scale=1">
  </head>
  <body>
    <redoc spec-url="/openapi.json"></redoc>
    <script src="/redoc/redoc.standalone.js"></script>
  </body>
</html>
"#;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", ApiDoc::openapi()))
        .route(
            "/docs",
            web::get().to(|| async {
                HttpResponse::Found()
                    .insert_header(("location", "/docs/"))
                    .finish()
            }),
        )
        .route(
            "/redoc",
            web::get().to(|| async {
                HttpResponse::Ok()
                    .content_type("text/html; charset=utf-8")
                    .body(REDOC_HTML)
            }),
        )
        .route(
            "/redoc/redoc.standalone.js",
            web::get().to(|| async {
                HttpResponse::Ok()
                    .content_type("application/javascript")
                    .body(REDOC_JS)
            }),
        );
}

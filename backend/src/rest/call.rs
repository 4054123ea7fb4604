//! The REST face of the operation catalogue. A route's URL parameters, together with its query
//! string (GET, DELETE) or its JSON body (POST, PUT), make one operation, which runs for the
//! calling agent; its output is the JSON answer, its error the one error body.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::identity::Agent;
use crate::ops::{self, Operation};
use crate::vault::Vault;

/// What a handler answers.
pub type Answer = Result<HttpResponse, ApiError>;

/// A JSON object body (POST, PUT); its fields join the URL's.
pub type Body = web::Json<Map<String, Value>>;

/// The authenticated caller of a REST route, with what the route's URL carries.
pub struct Caller {
    request: HttpRequest,
    vault: web::Data<Vault>,
    agent: Agent,
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let vault = request
            .app_data::<web::Data<Vault>>()
            .expect("Vault is registered by AppState::configure")
            .clone();
        // Set by `identity::require_agent`, which wraps every route that takes a Caller.
        let agent = request.extensions().get::<Agent>().cloned();
        ready(
            agent
                .map(|agent| Caller {
                    request: request.clone(),
                    vault,
                    agent,
                })
                .ok_or(ApiError::Unauthenticated(
                    "no agent identity on the request",
                )),
        )
    }
}

impl Caller {
    /// Runs `O` made of the URL's parameters and its query string.
    pub async fn query<O: Operation>(self) -> Answer {
        let mut fields =
            url::form_urlencoded::Serializer::new(self.request.query_string().to_string());
        for (name, value) in self.url_parameters() {
            fields.append_pair(&name, &value);
        }
        let fields = fields.finish();
        let operation: O = ApiError::parse(serde_urlencoded::Deserializer::new(
            url::form_urlencoded::parse(fields.as_bytes()),
        ))?;
        self.run(operation).await
    }

    /// Runs `O` made of the URL's parameters and the body's fields; a body field may not
    /// name what the URL already says.
    pub async fn body<O: Operation>(self, body: Body) -> Answer {
        let mut fields = body.into_inner();
        for (name, value) in self.url_parameters() {
            if fields.insert(name.clone(), value.into()).is_some() {
                return Err(ApiError::BadRequest(format!(
                    "'{name}' comes from the URL, not the body"
                )));
            }
        }
        let operation: O = ApiError::parse(Value::Object(fields))?;
        self.run(operation).await
    }

    /// The route's parameters, fully percent-decoded as actix's `web::Path` decodes them (so
    /// `%2e%2e` is `..` and meets the path checks).
    fn url_parameters(&self) -> Vec<(String, String)> {
        self.request
            .match_info()
            .iter()
            .map(|(name, value)| {
                let value = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
                (name.to_string(), value.into_owned())
            })
            .collect()
    }

    async fn run<O: Operation>(self, operation: O) -> Answer {
        let output = ops::execute(&self.vault, &self.agent, operation).await?;
        Ok(HttpResponse::Ok().json(output))
    }
}

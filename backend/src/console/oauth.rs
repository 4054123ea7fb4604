//! Operators sign in through the OAuth authorization server the edge trusts (the policy's
//! `oauth` section), beside keys: the console is that server's client (authorization code with
//! PKCE S256, RFC 8707 `resource` = the bridge's resource, the `admin` scope, RFC 9207 `iss`
//! checked), registered by itself (RFC 7591) unless `CONSOLE_OAUTH_CLIENT_ID` names one. The
//! token it gets is checked as any credential is (the edge's decision code, for
//! `/admin/agents`), with the server's keys fetched at each sign-in: the person must hold `admin`
//! in the registry, and their token must grant it.
//!
//! A sign-in in progress is held here, keyed by its `state`, for ten minutes and one use, and
//! bound to the browser that started it by a cookie of its own (so nobody can finish a sign-in
//! of theirs in someone else's browser).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use vault_mcp_filter::jwt::KeySet;

use super::session::random_token;
use super::{Console, SIGN_IN_ROUTE, see_other};
use crate::config::{Config, ConfigError};

/// The cookie binding a sign-in to its browser (`SameSite=Lax`: it must come back on the
/// server's redirect, a top-level navigation from another site).
const BROWSER_COOKIE: &str = "vmb_console_oauth";
const PENDING_FOR: Duration = Duration::from_secs(600);
/// Sign-ins in progress at once; past it, the oldest is dropped.
const MAX_PENDING: usize = 256;
/// Largest answer read from the server (metadata, JWKS, token).
const MAX_ANSWER: usize = 256 * 1024;

pub struct OAuthSignIn {
    issuer: String,
    resource: String,
    http: reqwest::Client,
    configured_client: Option<String>,
    /// Clients this console registered, by redirect URI (one per address it is reached at).
    registered: tokio::sync::Mutex<HashMap<String, String>>,
    pending: Mutex<HashMap<String, Pending>>,
}

struct Pending {
    verifier: String,
    /// SHA-256 of the browser cookie's value.
    browser: [u8; 32],
    redirect_uri: String,
    client_id: String,
    started: Instant,
}

/// RFC 8414 metadata, what the console uses of it.
#[derive(Deserialize)]
struct Metadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    registration_endpoint: Option<String>,
}

impl OAuthSignIn {
    /// `None` when the edge policy has no `oauth` section.
    pub fn from_config(
        config: &Config,
        policy: &vault_mcp_filter::Policy,
    ) -> Result<Option<Self>, ConfigError> {
        let Some(oauth) = &policy.oauth else {
            return Ok(None);
        };
        let invalid = |reason: String| ConfigError::Invalid {
            name: "CONSOLE_OAUTH_CA_FILE",
            reason,
        };
        let mut http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none());
        if let Some(file) = &config.console_oauth_ca_file {
            let pem = std::fs::read(file).map_err(|e| invalid(e.to_string()))?;
            let ca = reqwest::Certificate::from_pem(&pem).map_err(|e| invalid(e.to_string()))?;
            http = http.add_root_certificate(ca);
        }
        Ok(Some(Self {
            issuer: oauth.issuer.clone(),
            resource: oauth.jwt.settings.audience.clone().unwrap_or_default(),
            http: http.build().map_err(|e| invalid(e.to_string()))?,
            configured_client: config.console_oauth_client_id.clone(),
            registered: Default::default(),
            pending: Default::default(),
        }))
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    async fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        let response = self.http.get(url).send().await.map_err(|e| e.to_string())?;
        read(response).await
    }

    async fn metadata(&self) -> Result<Metadata, String> {
        // RFC 8414 §3: the well-known path goes between the issuer's origin and its path.
        let (origin, path) = split_origin(&self.issuer);
        let url = format!("{origin}/.well-known/oauth-authorization-server{path}");
        let metadata: Metadata =
            serde_json::from_slice(&self.get(&url).await?).map_err(|e| e.to_string())?;
        if metadata.issuer != self.issuer {
            return Err("the server's metadata names another issuer".into());
        }
        Ok(metadata)
    }

    /// This console's client id for `redirect_uri`: the configured one, or one it registered.
    async fn client_id(&self, metadata: &Metadata, redirect_uri: &str) -> Result<String, String> {
        if let Some(id) = &self.configured_client {
            return Ok(id.clone());
        }
        let mut registered = self.registered.lock().await;
        if let Some(id) = registered.get(redirect_uri) {
            return Ok(id.clone());
        }
        let endpoint = metadata.registration_endpoint.as_deref().ok_or(
            "the server offers no registration: set CONSOLE_OAUTH_CLIENT_ID to a client made there",
        )?;
        let body = serde_json::json!({
            "client_name": "Vault MCP Bridge console",
            "redirect_uris": [redirect_uri],
            "application_type": "web",
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
        });
        let response = self
            .http
            .post(endpoint)
            .header(header::CONTENT_TYPE.as_str(), "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        #[derive(Deserialize)]
        struct Registered {
            client_id: String,
        }
        let client: Registered =
            serde_json::from_slice(&read(response).await?).map_err(|e| e.to_string())?;
        registered.insert(redirect_uri.to_string(), client.client_id.clone());
        Ok(client.client_id)
    }
}

async fn read(response: reqwest::Response) -> Result<Vec<u8>, String> {
    let status = response.status();
    let bytes = response.bytes().await.map_err(|e| e.to_string())?;
    if bytes.len() > MAX_ANSWER {
        return Err("the server's answer is too large".into());
    }
    if !status.is_success() {
        // The server's own error code, never the rest of its answer.
        let code = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_string))
            .unwrap_or_default();
        return Err(format!("the server answered {status} {code}"));
    }
    Ok(bytes.to_vec())
}

fn split_origin(url: &str) -> (&str, &str) {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    match url[scheme_end..].find('/') {
        Some(at) => url.split_at(scheme_end + at),
        None => (url, ""),
    }
}

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn refused(reason: &str) -> HttpResponse {
    tracing::warn!(target: "admin", action = "console_sign_in", reason, "console sign-in through OAuth refused");
    // The sign-in page shows the reason (from the fragment, never sent to a server).
    let fragment: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("error", reason)
        .finish();
    see_other(&format!("/login#{fragment}"))
}

/// `GET /login/oauth`: off to the server's authorization endpoint.
pub async fn start(request: HttpRequest, console: web::Data<Console>) -> HttpResponse {
    let Some(oauth) = &console.oauth else {
        return HttpResponse::NotFound().finish();
    };
    let seen = console.hosts.seen(&request);
    let redirect_uri = format!("{}://{}/login/callback", seen.scheme, seen.host);
    let metadata = match oauth.metadata().await {
        Ok(metadata) => metadata,
        Err(why) => {
            return refused(&format!(
                "the authorization server cannot be reached: {why}"
            ));
        }
    };
    let client_id = match oauth.client_id(&metadata, &redirect_uri).await {
        Ok(id) => id,
        Err(why) => return refused(&format!("the console is not a client there: {why}")),
    };
    let (state, verifier, browser) = (random_token(), random_token(), random_token());
    let authorize = url::Url::parse_with_params(
        &metadata.authorization_endpoint,
        [
            ("response_type", "code"),
            ("client_id", client_id.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
            ("scope", vault_mcp_filter::scopes::ADMIN),
            ("resource", oauth.resource.as_str()),
            ("code_challenge", challenge(&verifier).as_str()),
            ("code_challenge_method", "S256"),
            ("state", state.as_str()),
        ],
    );
    let Ok(authorize) = authorize else {
        return refused("the server's authorization endpoint is not a URL");
    };
    {
        let mut pending = oauth.pending.lock().expect("pending lock");
        pending.retain(|_, p| p.started.elapsed() < PENDING_FOR);
        if pending.len() >= MAX_PENDING
            && let Some(oldest) = pending
                .iter()
                .min_by_key(|(_, p)| p.started)
                .map(|(k, _)| k.clone())
        {
            pending.remove(&oldest);
        }
        pending.insert(
            state,
            Pending {
                verifier,
                browser: Sha256::digest(browser.as_bytes()).into(),
                redirect_uri,
                client_id,
                started: Instant::now(),
            },
        );
    }
    let cookie = Cookie::build(BROWSER_COOKIE, browser)
        .path("/login")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(seen.scheme == "https")
        .max_age(actix_web::cookie::time::Duration::seconds(
            PENDING_FOR.as_secs() as i64,
        ))
        .finish();
    HttpResponse::SeeOther()
        .cookie(cookie)
        .insert_header((header::LOCATION, authorize.to_string()))
        .finish()
}

#[derive(Deserialize)]
pub struct Callback {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// `GET /login/callback`: the server sends the browser back with a code; the console exchanges
/// it, checks the token like any credential, and starts a session.
pub async fn finish(
    request: HttpRequest,
    console: web::Data<Console>,
    query: web::Query<Callback>,
) -> HttpResponse {
    let Some(oauth) = &console.oauth else {
        return HttpResponse::NotFound().finish();
    };
    let query = query.into_inner();
    let Some(pending) = query
        .state
        .as_deref()
        .and_then(|state| oauth.pending.lock().expect("pending lock").remove(state))
        .filter(|p| p.started.elapsed() < PENDING_FOR)
    else {
        return refused("this sign-in expired or was used already: sign in again");
    };
    let browser = request
        .cookie(BROWSER_COOKIE)
        .map(|c| Sha256::digest(c.value().as_bytes()));
    if !browser.is_some_and(|b| bool::from(b.as_slice().ct_eq(&pending.browser))) {
        return refused("this sign-in was started in another browser");
    }
    // RFC 9207: the answer names the server it comes from.
    if query.iss.as_deref() != Some(oauth.issuer.as_str()) {
        return refused("the answer does not come from the authorization server");
    }
    if let Some(error) = &query.error {
        let error: String = error
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(64)
            .collect();
        return refused(&format!("the authorization server refused: {error}"));
    }
    let Some(code) = &query.code else {
        return refused("the answer holds no code");
    };
    let token = match exchange(oauth, &pending, code).await {
        Ok((token, keys)) => {
            console.gate.set_oauth_keys(keys);
            token
        }
        Err(why) => return refused(&format!("no token: {why}")),
    };
    let headers = vec![
        (":method".to_string(), "GET".to_string()),
        (":path".to_string(), SIGN_IN_ROUTE.to_string()),
        ("authorization".to_string(), format!("Bearer {token}")),
    ];
    match console
        .gate
        .identify(&headers, crate::identity::unix_now() * 1000)
    {
        Ok(operator) => {
            tracing::info!(target: "admin", operator = %operator.subject, action = "console_sign_in",
                           via = "oauth", "console session started");
            let id = console.sessions.start(operator);
            let mut clear = Cookie::build(BROWSER_COOKIE, "").path("/login").finish();
            clear.make_removal();
            HttpResponse::SeeOther()
                .cookie(console.session_cookie(&request, id))
                .cookie(clear)
                .insert_header((header::LOCATION, "/agents"))
                .finish()
        }
        Err(denial) => refused(&format!("{} ({})", message_of(&denial.body), denial.code)),
    }
}

fn message_of(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The code for an access token, and the server's current keys to check it with.
async fn exchange(
    oauth: &OAuthSignIn,
    pending: &Pending,
    code: &str,
) -> Result<(String, KeySet), String> {
    let metadata = oauth.metadata().await?;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", pending.redirect_uri.as_str()),
        ("client_id", pending.client_id.as_str()),
        ("code_verifier", pending.verifier.as_str()),
        ("resource", oauth.resource.as_str()),
    ];
    let body = serde_urlencoded::to_string(form).map_err(|e| e.to_string())?;
    let response = oauth
        .http
        .post(&metadata.token_endpoint)
        .header(
            header::CONTENT_TYPE.as_str(),
            "application/x-www-form-urlencoded",
        )
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    #[derive(Deserialize)]
    struct Token {
        access_token: String,
    }
    let token: Token = serde_json::from_slice(&read(response).await?).map_err(|e| e.to_string())?;
    let keys = KeySet::from_jwks(&oauth.get(&metadata.jwks_uri).await?)
        .map_err(|e| format!("its keys: {e}"))?;
    Ok((token.access_token, keys))
}

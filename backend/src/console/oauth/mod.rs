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

mod server;

use super::session::random_token;
use super::{Console, SIGN_IN_ROUTE, see_other};
use crate::config::{Config, ConfigError};
use server::{Metadata, read, split_origin};

/// The cookie binding a sign-in to its browser, one per sign-in (named after its state, so two
/// tabs do not undo each other); `SameSite=Lax`: it must come back on the server's redirect, a
/// top-level navigation from another site.
const BROWSER_COOKIE: &str = "vmb_console_oauth_";
const PENDING_FOR: Duration = Duration::from_secs(600);
/// Sign-ins in progress at once; past it, the oldest is dropped.
const MAX_PENDING: usize = 256;

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
    /// The server says it names itself in its answers (RFC 9207): then `iss` must be there.
    iss_required: bool,
    /// SHA-256 of the browser cookie's value.
    browser: [u8; 32],
    redirect_uri: String,
    client_id: String,
    started: Instant,
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

    /// The server's metadata, where the MCP specification says a client looks: RFC 8414's
    /// document, then OpenID Connect's (path inserted, then appended); it must name this issuer.
    async fn metadata(&self) -> Result<Metadata, String> {
        let (origin, path) = split_origin(&self.issuer);
        let path = path.trim_end_matches('/');
        let candidates = [
            format!("{origin}/.well-known/oauth-authorization-server{path}"),
            format!("{origin}/.well-known/openid-configuration{path}"),
            format!("{origin}{path}/.well-known/openid-configuration"),
        ];
        let mut last = String::new();
        for url in &candidates {
            match self.get(url).await {
                Ok(body) => {
                    let metadata: Metadata =
                        serde_json::from_slice(&body).map_err(|e| e.to_string())?;
                    if metadata.issuer != self.issuer {
                        return Err("the server's metadata names another issuer".into());
                    }
                    metadata.check()?;
                    return Ok(metadata);
                }
                Err(why) => last = why,
            }
        }
        Err(last)
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

/// The console's page after a sign-in through the server: on to the agents.
const SIGNED_IN: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"refresh\" content=\"0;url=/agents\"><title>Signed in</title></head>\
<body><p>Signed in. <a href=\"/agents\">On to the console</a>.</p></body></html>";

/// The browser cookie of the sign-in whose state is `state`.
fn browser_cookie(state: &str) -> String {
    format!(
        "{BROWSER_COOKIE}{}",
        &hex::encode(Sha256::digest(state.as_bytes()))[..16]
    )
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
            state.clone(),
            Pending {
                verifier,
                iss_required: metadata.authorization_response_iss_parameter_supported,
                browser: Sha256::digest(browser.as_bytes()).into(),
                redirect_uri,
                client_id,
                started: Instant::now(),
            },
        );
    }
    let cookie = Cookie::build(browser_cookie(&state), browser)
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
    let state = query.state.as_deref().unwrap_or_default();
    let browser = request
        .cookie(&browser_cookie(state))
        .map(|c| Sha256::digest(c.value().as_bytes()));
    let pending = {
        // Taken (once) only by the browser that started it: a state seen elsewhere (in the
        // server's logs, say) cannot cancel someone's sign-in.
        let mut pending = oauth.pending.lock().expect("pending lock");
        match pending.get(state) {
            None => None,
            Some(p) if p.started.elapsed() >= PENDING_FOR => pending.remove(state).and(None),
            Some(p) if !browser.is_some_and(|b| bool::from(b.as_slice().ct_eq(&p.browser))) => {
                drop(pending);
                return refused("this sign-in was started in another browser");
            }
            Some(_) => pending.remove(state),
        }
    };
    let Some(pending) = pending else {
        return refused("this sign-in expired or was used already: sign in again");
    };
    // RFC 9207: the answer names the server it comes from (when the server says it does so;
    // a name other than its own is refused whatever it says).
    match query.iss.as_deref() {
        Some(iss) if iss != oauth.issuer => {
            return refused("the answer does not come from the authorization server");
        }
        None if pending.iss_required => {
            return refused("the answer does not name the authorization server");
        }
        _ => {}
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
    match console.gate.identify(&headers, crate::clock::unix_millis()) {
        Ok(operator) => {
            tracing::info!(target: "admin", operator = %operator.subject, action = "console_sign_in",
                           via = "oauth", "console session started");
            let id = console.sessions.start(operator);
            let mut clear = Cookie::build(browser_cookie(state), "")
                .path("/login")
                .finish();
            clear.make_removal();
            // A page, not a redirect: this request came from the server's site, and a browser
            // would not send the session cookie (`SameSite=Strict`) on a redirect it followed
            // from there; a refresh from this page is the console's own navigation.
            HttpResponse::Ok()
                .cookie(console.session_cookie(&request, id))
                .cookie(clear)
                .content_type("text/html; charset=utf-8")
                .body(SIGNED_IN)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_is_rfc_7636s() {
        // RFC 7636, Appendix B.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}

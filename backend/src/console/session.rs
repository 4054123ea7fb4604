//! Console sessions: server-side, in this process, short-lived. The cookie holds only a random
//! 256-bit id (HttpOnly, SameSite=Strict, Secure when the console is reached over TLS); the
//! operator and the session's CSRF token live here. A change must echo the CSRF token in
//! `X-CSRF-Token`, which a page of another origin cannot read.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;

use crate::identity::Agent;

pub const COOKIE: &str = "vmb_console";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Sessions held at once; signing in past it ends the oldest.
const MAX_SESSIONS: usize = 1024;

#[derive(Clone)]
pub struct Session {
    pub operator: Agent,
    pub csrf: String,
    expires: Instant,
    started: Instant,
}

pub struct Sessions {
    lifetime: Duration,
    held: Mutex<HashMap<String, Session>>,
}

pub(super) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Sessions {
    pub fn new(lifetime: Duration) -> Self {
        Self {
            lifetime,
            held: Mutex::new(HashMap::new()),
        }
    }

    /// A new session for `operator`: its id (the cookie's value).
    pub fn start(&self, operator: Agent) -> String {
        let now = Instant::now();
        let id = random_token();
        let mut held = self.held.lock().expect("sessions lock");
        held.retain(|_, s| s.expires > now);
        if held.len() >= MAX_SESSIONS
            && let Some(oldest) = held
                .iter()
                .min_by_key(|(_, s)| s.started)
                .map(|(id, _)| id.clone())
        {
            held.remove(&oldest);
        }
        held.insert(
            id.clone(),
            Session {
                operator,
                csrf: random_token(),
                expires: now + self.lifetime,
                started: now,
            },
        );
        id
    }

    /// The live session the request's cookie names.
    pub fn of(&self, request: &HttpRequest) -> Option<Session> {
        let id = request.cookie(COOKIE)?;
        let held = self.held.lock().expect("sessions lock");
        held.get(id.value())
            .filter(|s| s.expires > Instant::now())
            .cloned()
    }

    pub fn end(&self, request: &HttpRequest) {
        if let Some(id) = request.cookie(COOKIE) {
            self.held.lock().expect("sessions lock").remove(id.value());
        }
    }

    /// The session cookie for `id`; an empty `id` makes the cookie that clears it.
    pub fn cookie(&self, id: String, secure: bool) -> Cookie<'static> {
        let clearing = id.is_empty();
        let mut cookie = Cookie::build(COOKIE, id)
            .path("/")
            .http_only(true)
            .same_site(SameSite::Strict)
            .secure(secure)
            .finish();
        if clearing {
            cookie.make_removal();
        } else {
            cookie.set_max_age(actix_web::cookie::time::Duration::seconds(
                self.lifetime.as_secs() as i64,
            ));
        }
        cookie
    }
}

impl Session {
    /// Whether the request carries this session's CSRF token.
    pub fn csrf_matches(&self, request: &HttpRequest) -> bool {
        request
            .headers()
            .get(CSRF_HEADER)
            .is_some_and(|v| bool::from(v.as_bytes().ct_eq(self.csrf.as_bytes())))
    }
}

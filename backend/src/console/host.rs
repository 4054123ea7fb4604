//! Which names the console answers under. A page on `evil.example` whose name an attacker
//! re-points at the console's address (DNS rebinding) reaches it with `Host: evil.example` and
//! `Origin: http://evil.example`: the browser thinks it is same-origin, so only the console
//! can refuse it. Every request's host must be one of `CONSOLE_ALLOWED_HOSTS`, and its
//! `Origin`, when a browser sends one, that same host. `X-Forwarded-Host` and
//! `X-Forwarded-Proto` are what a proxy in front says the browser used; they are believed only
//! from `CONSOLE_TRUSTED_PROXIES` (actix's own `connection_info` believes anyone).

use std::net::IpAddr;

use actix_web::HttpRequest;
use actix_web::ResponseError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;

use crate::config::Config;
use crate::error::ApiError;

pub struct HostPolicy {
    /// `host` (any port) or `host:port`, lower case.
    allowed: Vec<String>,
    trusted_proxies: Vec<IpAddr>,
}

/// The origin a browser used to reach the console.
pub struct Seen {
    pub scheme: &'static str,
    pub host: String,
}

impl HostPolicy {
    pub fn from_config(config: &Config) -> Self {
        Self::new(
            config
                .console_allowed_hosts()
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            config.console_trusted_proxies(),
        )
    }

    pub fn new(allowed: Vec<String>, trusted_proxies: Vec<IpAddr>) -> Self {
        Self {
            allowed,
            trusted_proxies,
        }
    }

    /// Scheme and host as the browser used them: the proxy's word only from a trusted proxy.
    pub fn seen(&self, request: &HttpRequest) -> Seen {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(|v| v.trim().to_ascii_lowercase())
                .filter(|v| !v.is_empty())
        };
        let proxied = request
            .peer_addr()
            .is_some_and(|peer| self.trusted_proxies.contains(&peer.ip()));
        let forwarded = |name| if proxied { header(name) } else { None };
        let host = forwarded("x-forwarded-host")
            .or_else(|| header(header::HOST.as_str()))
            .or_else(|| {
                request
                    .uri()
                    .authority()
                    .map(|a| a.as_str().to_ascii_lowercase())
            })
            .unwrap_or_default();
        let scheme = match forwarded("x-forwarded-proto").as_deref() {
            Some("https") => "https",
            _ => "http",
        };
        Seen { scheme, host }
    }

    fn allows(&self, host: &str) -> bool {
        let name = without_port(host);
        self.allowed
            .iter()
            .any(|entry| entry == host || (entry == name && without_port(entry) == entry))
    }

    /// The request's origin, if the console answers under it.
    pub fn check(&self, request: &HttpRequest) -> Result<Seen, ApiError> {
        let seen = self.seen(request);
        if !self.allows(&seen.host) {
            return Err(ApiError::NotAllowed(
                "the console does not answer under this host name (CONSOLE_ALLOWED_HOSTS)".into(),
            ));
        }
        if let Some(origin) = request.headers().get(header::ORIGIN) {
            let ours = format!("{}://{}", seen.scheme, seen.host);
            if !origin.as_bytes().eq_ignore_ascii_case(ours.as_bytes()) {
                return Err(ApiError::NotAllowed("a request from another origin".into()));
            }
        }
        Ok(seen)
    }
}

/// `host:port` without `:port` (`[::1]:8091` → `[::1]`).
fn without_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port))
            if !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && (!name.contains(':') || name.ends_with(']')) =>
        {
            name
        }
        _ => host,
    }
}

/// Every request of the console, pages and assets included, before any route. The refusal is
/// a response, not an error, so the console's headers and request log still apply to it.
pub async fn enforce(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let checked = request
        .app_data::<actix_web::web::Data<super::Console>>()
        .expect("registered by server()")
        .hosts
        .check(request.request());
    match checked {
        Ok(_) => next.call(request).await.map(|r| r.map_into_left_body()),
        Err(refused) => {
            tracing::warn!(target: "admin", action = "console_host_refused", "{refused}");
            let response = refused.error_response();
            Ok(request.into_response(response).map_into_right_body())
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn policy() -> HostPolicy {
        HostPolicy::new(
            vec!["127.0.0.1:8091".into(), "console.example".into()],
            vec!["10.0.0.9".parse().unwrap()],
        )
    }

    fn from(peer: &str, headers: &[(&str, &str)]) -> HttpRequest {
        let mut request = TestRequest::default().peer_addr(peer.parse().unwrap());
        for (name, value) in headers {
            request = request.insert_header((*name, *value));
        }
        request.to_http_request()
    }

    #[test]
    fn only_allowed_hosts_and_their_own_origin() {
        let policy = policy();
        let ok = |headers: &[(&str, &str)]| policy.check(&from("127.0.0.1:5000", headers)).is_ok();
        assert!(ok(&[("host", "127.0.0.1:8091")]));
        assert!(ok(&[
            ("host", "127.0.0.1:8091"),
            ("origin", "http://127.0.0.1:8091")
        ]));
        assert!(
            ok(&[("host", "Console.Example:8443")]),
            "a name without port: any port"
        );
        assert!(!ok(&[("host", "127.0.0.1:9999")]), "another port");
        assert!(!ok(&[("host", "evil.example:8091")]), "DNS rebinding");
        assert!(!ok(&[]), "no host at all");
        assert!(!ok(&[
            ("host", "127.0.0.1:8091"),
            ("origin", "http://evil.example:8091")
        ]));
        assert!(!ok(&[("host", "127.0.0.1:8091"), ("origin", "null")]));
        assert!(!ok(&[
            ("host", "127.0.0.1:8091"),
            ("origin", "https://127.0.0.1:8091")
        ]));
    }

    #[test]
    fn forwarded_headers_only_from_trusted_proxies() {
        let policy = policy();
        let rebinding = [
            ("host", "127.0.0.1:8091"),
            ("x-forwarded-host", "evil.example"),
            ("origin", "http://evil.example"),
        ];
        // From anyone else the forwarded host is ignored: the Origin is then foreign.
        assert!(policy.check(&from("127.0.0.1:5000", &rebinding)).is_err());
        // From the trusted proxy it is the host, and evil.example is not allowed.
        assert!(policy.check(&from("10.0.0.9:5000", &rebinding)).is_err());
        let proxied = [
            ("host", "backend:8091"),
            ("x-forwarded-host", "console.example"),
            ("x-forwarded-proto", "https"),
            ("origin", "https://console.example"),
        ];
        let seen = policy.check(&from("10.0.0.9:5000", &proxied)).unwrap();
        assert_eq!(
            (seen.scheme, seen.host.as_str()),
            ("https", "console.example")
        );
        assert!(policy.check(&from("127.0.0.1:5000", &proxied)).is_err());
        // Not behind a trusted proxy, `X-Forwarded-Proto: https` does not make cookies Secure
        // elsewhere nor change the origin compared.
        let seen = policy.seen(&from(
            "127.0.0.1:5000",
            &[("host", "127.0.0.1:8091"), ("x-forwarded-proto", "https")],
        ));
        assert_eq!(seen.scheme, "http");
    }

    #[test]
    fn ports_are_split_off_names_and_addresses() {
        assert_eq!(without_port("[::1]:8091"), "[::1]");
        assert_eq!(without_port("[::1]"), "[::1]");
        assert_eq!(without_port("example:80"), "example");
        assert_eq!(without_port("example"), "example");
        assert_eq!(without_port("::1"), "::1");
    }
}

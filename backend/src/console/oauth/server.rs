//! What the console asks of the authorization server, and how much it believes: its metadata
//! (endpoints https or loopback only, PKCE S256 offered) and answers read only up to a limit.

use serde::Deserialize;

/// Largest answer read from the server (metadata, JWKS, token).
const MAX_ANSWER: usize = 256 * 1024;

/// RFC 8414 metadata, what the console uses of it.
#[derive(Deserialize)]
pub(super) struct Metadata {
    pub(super) issuer: String,
    pub(super) authorization_endpoint: String,
    pub(super) token_endpoint: String,
    pub(super) jwks_uri: String,
    #[serde(default)]
    pub(super) registration_endpoint: Option<String>,
    #[serde(default)]
    pub(super) code_challenge_methods_supported: Vec<String>,
    /// RFC 9207: whether its authorization responses name it (`iss`).
    #[serde(default)]
    pub(super) authorization_response_iss_parameter_supported: bool,
}

impl Metadata {
    /// Endpoints over https, or http on loopback only (keys and tokens travel there); S256.
    pub(super) fn check(&self) -> Result<(), String> {
        for url in [
            Some(&self.authorization_endpoint),
            Some(&self.token_endpoint),
            Some(&self.jwks_uri),
            self.registration_endpoint.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            if !is_safe_endpoint(url) {
                return Err(format!("{url} is neither https nor loopback"));
            }
        }
        if !self
            .code_challenge_methods_supported
            .iter()
            .any(|m| m == "S256")
        {
            return Err("the server does not offer PKCE with S256".into());
        }
        Ok(())
    }
}

fn is_safe_endpoint(url: &str) -> bool {
    match url::Url::parse(url) {
        Ok(url) if url.scheme() == "https" => true,
        Ok(url) if url.scheme() == "http" => match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(name)) => name == "localhost",
            None => false,
        },
        _ => false,
    }
}

/// The answer's body, read only up to [`MAX_ANSWER`].
pub(super) async fn read(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let status = response.status();
    let too_large = || "the server's answer is too large".to_string();
    if response
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER as u64)
    {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if bytes.len() + chunk.len() > MAX_ANSWER {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        // The server's own error code, never the rest of its answer.
        let code = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_string))
            .unwrap_or_default();
        return Err(format!("the server answered {status} {code}"));
    }
    Ok(bytes)
}

pub(super) fn split_origin(url: &str) -> (&str, &str) {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    match url[scheme_end..].find('/') {
        Some(at) => url.split_at(scheme_end + at),
        None => (url, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_paths_go_between_origin_and_path() {
        assert_eq!(
            split_origin("https://kc.example/realms/a"),
            ("https://kc.example", "/realms/a")
        );
        assert_eq!(
            split_origin("http://127.0.0.1:8092"),
            ("http://127.0.0.1:8092", "")
        );
        assert_eq!(
            split_origin("https://acme.auth0.com/"),
            ("https://acme.auth0.com", "/")
        );
    }

    #[test]
    fn endpoints_are_https_or_loopback() {
        for ok in [
            "https://as.example/token",
            "http://127.0.0.1:8092/token",
            "http://localhost/x",
            "http://[::1]/x",
        ] {
            assert!(is_safe_endpoint(ok), "{ok}");
        }
        for bad in [
            "http://as.example/token",
            "http://10.0.0.1/x",
            "javascript:alert(1)",
            "file:///etc/passwd",
            "nonsense",
        ] {
            assert!(!is_safe_endpoint(bad), "{bad}");
        }
    }
}

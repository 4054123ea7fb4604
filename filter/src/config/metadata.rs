//! RFC 9728 protected-resource metadata, served by the filter itself.

use serde::Deserialize;

use super::ConfigError;
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceMetadataConfig {
    /// The protected resource's identifier, e.g. `https://bridge.example/mcp`.
    pub resource: String,
    #[serde(default)]
    pub authorization_servers: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ResourceMetadata {
    /// Paths the filter answers with the document.
    pub paths: Vec<String>,
    /// The metadata URL, for `WWW-Authenticate`.
    pub url: String,
    /// `scopes_supported`, space-separated: what a 401 tells clients to ask for.
    pub scope: String,
    pub document: String,
}

pub(super) fn policy(config: ResourceMetadataConfig) -> Result<ResourceMetadata, ConfigError> {
    // RFC 9728 §3.1: the well-known path goes between the origin and the resource's path.
    let invalid = || {
        ConfigError::Invalid("resource_metadata.resource must be an absolute http(s) URL".into())
    };
    let rest = config
        .resource
        .strip_prefix("https://")
        .or_else(|| config.resource.strip_prefix("http://"))
        .ok_or_else(invalid)?;
    let scheme_len = config.resource.len() - rest.len();
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.is_empty() {
        return Err(invalid());
    }
    let origin = &config.resource[..scheme_len + authority.len()];
    let path = path.trim_end_matches('/');
    let well_known = format!("/.well-known/oauth-protected-resource{path}");
    let mut paths = vec![well_known.clone()];
    if !path.is_empty() {
        paths.push("/.well-known/oauth-protected-resource".into());
    }
    let scopes = [
        crate::scopes::READ,
        crate::scopes::WRITE,
        crate::scopes::LIST,
        crate::scopes::DELETE,
    ];
    let document = serde_json::json!({
        "resource": config.resource,
        "authorization_servers": config.authorization_servers,
        "bearer_methods_supported": ["header"],
        "scopes_supported": scopes,
    })
    .to_string();
    Ok(ResourceMetadata {
        url: format!("{origin}{well_known}"),
        scope: scopes.join(" "),
        paths,
        document,
    })
}

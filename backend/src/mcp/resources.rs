//! Resources: each agent's KV folder as `kv://{subject}/` and its secrets as
//! `kv://{subject}/{path}` (`?version=N` for an older version; a trailing '/' lists a folder).
//! An agent can only name its own subject.

use rmcp::ErrorData as McpError;
use rmcp::model::{Resource, ResourceContents, ResourceTemplate};
use serde_json::json;

use super::errors::protocol_error;
use crate::identity::Agent;
use crate::ops::{self, kv};
use crate::vault::{SecretPath, SecretPrefix, Vault};

pub const SCHEME: &str = "kv://";
/// The template of a secret's URI (RFC 6570, as `resources/templates/list` gives it).
pub const TEMPLATE: &str = "kv://{subject}/{path}";

/// What a `kv://` URI names.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    Folder(SecretPrefix),
    Secret(SecretPath, Option<u64>),
}

pub fn root_resource(agent: &Agent) -> Resource {
    Resource::new(format!("{SCHEME}{}/", agent.subject), "secrets")
        .with_title("Your secrets")
        .with_description("The names in your KV folder (never values); read a name for its data")
        .with_mime_type("application/json")
}

pub fn secret_template() -> ResourceTemplate {
    ResourceTemplate::new(TEMPLATE, "secret")
        .with_title("A secret")
        .with_description(
            "A secret of yours: {data, version}; add ?version=N for an older one, end with / to list a folder",
        )
        .with_mime_type("application/json")
}

/// Parses a URI for `agent`; another agent's subject is refused.
pub fn parse(uri: &str, agent: &Agent) -> Result<Target, McpError> {
    let invalid = |message: String| McpError::invalid_params(message, None);
    let rest = uri
        .strip_prefix(SCHEME)
        .ok_or_else(|| invalid(format!("only {SCHEME} resources exist here")))?;
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (subject, path) = rest.split_once('/').unwrap_or((rest, ""));
    if subject != agent.subject {
        return Err(invalid("that resource belongs to another agent".into()));
    }
    if path.is_empty() || path.ends_with('/') {
        if !query.is_empty() {
            return Err(invalid("a folder takes no query".into()));
        }
        let prefix = SecretPrefix::parse(path).map_err(|e| invalid(e.to_string()))?;
        return Ok(Target::Folder(prefix));
    }
    let version = match query {
        "" => None,
        q => Some(
            q.strip_prefix("version=")
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| invalid("the only query is ?version=N".into()))?,
        ),
    };
    let path = SecretPath::parse(path).map_err(|e| invalid(e.to_string()))?;
    Ok(Target::Secret(path, version))
}

/// Reads what `uri` names, as JSON text: the operations `kv.list` and `kv.read`, with their
/// scopes.
pub async fn read(vault: &Vault, agent: &Agent, uri: &str) -> Result<ResourceContents, McpError> {
    let failed = |error| protocol_error(error, uri);
    let body = match parse(uri, agent)? {
        Target::Folder(prefix) => {
            let listing = ops::execute(vault, agent, kv::KvList { prefix })
                .await
                .map_err(failed)?;
            json!({ "keys": listing.keys })
        }
        Target::Secret(path, version) => {
            let read = kv::KvRead {
                path,
                version,
                wrap_ttl: None,
            };
            let secret = ops::execute(vault, agent, read).await.map_err(failed)?;
            json!({ "data": secret.data, "version": secret.version })
        }
    };
    Ok(ResourceContents::text(body.to_string(), uri).with_mime_type("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent() -> Agent {
        Agent::new("agent_a", ["read".to_string()])
    }

    #[test]
    fn uris() {
        let a = agent();
        assert_eq!(
            parse("kv://agent_a/", &a).unwrap(),
            Target::Folder(SecretPrefix::parse("").unwrap())
        );
        assert_eq!(
            parse("kv://agent_a/configs/", &a).unwrap(),
            Target::Folder(SecretPrefix::parse("configs/").unwrap())
        );
        assert_eq!(
            parse("kv://agent_a/configs/db?version=3", &a).unwrap(),
            Target::Secret(SecretPath::parse("configs/db").unwrap(), Some(3))
        );
        for bad in [
            "kv://agent_b/x",
            "kv://agent_a/../agent_b/x",
            "kv://agent_a/x?version=x",
            "kv://agent_a/x?other=1",
            "file:///etc/passwd",
            "kv://agent_a/%2e%2e/x",
        ] {
            assert!(parse(bad, &a).is_err(), "{bad}");
        }
    }
}

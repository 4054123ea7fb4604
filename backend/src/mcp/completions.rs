//! `completion/complete`: the `path` argument of the `kv://{subject}/{path}` template and of
//! the prompts completes from the caller's own folder, one folder at a time as Vault lists it
//! (`configs/d` → the names under `configs/` that start with `d`; a folder comes back with its
//! trailing `/`). It is the operation `kv.list`, with its `list` scope: an agent without it is
//! offered nothing, and no agent is ever offered another agent's names.

use rmcp::ErrorData as McpError;
use rmcp::model::{CompleteRequestParams, CompletionInfo, Reference};

use super::{prompts, resources};
use crate::error::ApiError;
use crate::identity::Agent;
use crate::ops::{self, kv};
use crate::vault::{SecretPrefix, Vault, VaultError};

/// What one answer holds at most (the protocol's limit); `total` says how many matched.
const MAX_VALUES: usize = CompletionInfo::MAX_VALUES;

/// The values for `request`, or -32602 for a template, prompt or argument that does not exist
/// here (as the specification asks).
pub async fn complete(
    vault: &Vault,
    agent: &Agent,
    request: &CompleteRequestParams,
) -> Result<CompletionInfo, McpError> {
    let invalid = |message: String| McpError::invalid_params(message, None);
    let argument = request.argument.name.as_str();
    let value = request.argument.value.as_str();
    match &request.r#ref {
        Reference::Resource(template) if template.uri == resources::TEMPLATE => match argument {
            "path" => paths(vault, agent, value).await,
            // The only subject a caller may name is its own.
            "subject" => Ok(matching([agent.subject.clone()], value)),
            other => Err(invalid(format!(
                "the template {} has no argument '{other}'",
                resources::TEMPLATE
            ))),
        },
        Reference::Resource(template) => Err(invalid(format!(
            "no resource template '{}' here",
            template.uri
        ))),
        Reference::Prompt(prompt) => match prompts::arguments(&prompt.name) {
            None => Err(invalid(format!("no prompt named '{}'", prompt.name))),
            Some(names) if !names.iter().any(|name| name == argument) => Err(invalid(format!(
                "the prompt '{}' has no argument '{argument}'",
                prompt.name
            ))),
            Some(_) if argument == "path" => paths(vault, agent, value).await,
            // Free text (a value to store): nothing to offer.
            Some(_) => Ok(nothing()),
        },
        other => Err(invalid(format!(
            "nothing completes for a '{}' reference",
            other.reference_type()
        ))),
    }
}

/// The names in the caller's folder that `typed` could continue into, as full paths.
async fn paths(vault: &Vault, agent: &Agent, typed: &str) -> Result<CompletionInfo, McpError> {
    let (folder, start) = match typed.rsplit_once('/') {
        Some((folder, start)) => (&typed[..folder.len() + 1], start),
        None => ("", typed),
    };
    // Text that is no path of any secret (`..`, a `%`) completes to nothing.
    let Ok(prefix) = SecretPrefix::parse(folder) else {
        return Ok(nothing());
    };
    let listing = match ops::execute(vault, agent, kv::KvList { prefix }).await {
        Ok(listing) => listing,
        Err(ApiError::MissingScope(_) | ApiError::Vault(VaultError::NotFound)) => {
            return Ok(nothing());
        }
        Err(error) => return Err(McpError::internal_error(error.to_string(), None)),
    };
    let names = listing
        .keys
        .into_iter()
        .filter(|key| key.starts_with(start))
        .map(|key| format!("{folder}{key}"));
    Ok(matching(names, ""))
}

/// No values (and a total of 0).
fn nothing() -> CompletionInfo {
    matching(Vec::new(), "")
}

/// Sorted values that start with `start`: the first [`MAX_VALUES`], with how many there are.
fn matching(values: impl IntoIterator<Item = String>, start: &str) -> CompletionInfo {
    let mut values: Vec<String> = values
        .into_iter()
        .filter(|value| value.starts_with(start))
        .collect();
    values.sort();
    let total = values.len();
    values.truncate(MAX_VALUES);
    CompletionInfo::with_pagination(values, Some(total as u32), total > MAX_VALUES)
        .expect("at most MAX_VALUES values")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_a_hundred_values_with_the_total() {
        let many = (0..250).map(|i| format!("k{i:03}"));
        let info = matching(many, "k");
        assert_eq!(info.values.len(), 100);
        assert_eq!(info.values[0], "k000");
        assert_eq!(info.total, Some(250));
        assert_eq!(info.has_more, Some(true));

        let info = matching(["b".to_string(), "a".to_string(), "c".to_string()], "");
        assert_eq!(info.values, ["a", "b", "c"]);
        assert_eq!((info.total, info.has_more), (Some(3), Some(false)));
    }

    #[test]
    fn only_values_that_continue_the_text() {
        let info = matching(["agent_a".to_string()], "agent_b");
        assert!(info.values.is_empty());
        assert_eq!(info.total, Some(0));
    }
}

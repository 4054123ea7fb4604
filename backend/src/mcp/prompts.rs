//! Prompts: ready-made instructions that show an agent how to use the KV tools.

use rmcp::ErrorData as McpError;
use rmcp::model::{GetPromptResult, Prompt, PromptArgument, PromptMessage, Role};
use serde_json::{Map, Value, json};

pub fn list() -> Vec<Prompt> {
    let path = PromptArgument::new("path")
        .with_description("Secret path in your folder, e.g. configs/db")
        .with_required(true);
    vec![
        Prompt::new(
            "kv_read",
            Some("Read one of your secrets with the kv.read tool"),
            Some(vec![path.clone()]),
        ),
        Prompt::new(
            "kv_write",
            Some("Store a value as a new version of one of your secrets with kv.write"),
            Some(vec![
                path,
                PromptArgument::new("value")
                    .with_description("The value to store (kept under the key \"value\")")
                    .with_required(true),
            ]),
        ),
    ]
}

/// The argument names of the prompt called `name`, if there is one.
pub fn arguments(name: &str) -> Option<Vec<String>> {
    let prompt = list().into_iter().find(|prompt| prompt.name == name)?;
    Some(
        prompt
            .arguments
            .unwrap_or_default()
            .into_iter()
            .map(|argument| argument.name)
            .collect(),
    )
}

pub fn get(
    name: &str,
    arguments: Option<&Map<String, Value>>,
) -> Result<GetPromptResult, McpError> {
    let argument = |key: &str| {
        arguments
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| McpError::invalid_params(format!("argument '{key}' is required"), None))
    };
    let (text, call) = match name {
        "kv_read" => {
            let path = argument("path")?;
            (
                format!(
                    "Read my secret at '{path}' with the kv.read tool and tell me which version you got. Do not repeat the values unless I ask."
                ),
                json!({ "name": "kv.read", "arguments": { "path": path } }),
            )
        }
        "kv_write" => {
            let (path, value) = (argument("path")?, argument("value")?);
            (
                format!(
                    "Store the given value as a new version of my secret at '{path}' with the kv.write tool, then tell me the new version number."
                ),
                json!({ "name": "kv.write", "arguments": { "path": path, "data": { "value": value } } }),
            )
        }
        other => {
            return Err(McpError::invalid_params(
                format!("no prompt named '{other}'"),
                None,
            ));
        }
    };
    Ok(GetPromptResult::new(vec![
        PromptMessage::new_text(Role::User, text),
        PromptMessage::new_text(Role::Assistant, format!("I will call this tool: {call}")),
    ])
    .with_description("Suggested tool call included"))
}

//! How the MCP face reports an [`ApiError`]: inside a tool result (`isError`, so a model can
//! read it and try again) or, where the protocol has no such result (resources), as a
//! JSON-RPC error. Both carry the REST error body's stable code.

use rmcp::ErrorData as McpError;
use rmcp::model::{CallToolResult, ContentBlock};
use serde::Serialize;
use serde_json::json;

use crate::error::ApiError;
use crate::vault::VaultError;

/// The REST error body, `{"error": code, "message": …}`.
fn body(error: &ApiError) -> serde_json::Value {
    json!({ "error": error.code(), "message": error.to_string() })
}

/// Success becomes structured content; a failure (Vault's or the caller's) a tool result with
/// `isError: true`. A top-level member that is null is left out: the tool's output schema lists
/// it as optional, not as null (`tools.rs`, `OptionalMeansAbsent`), as every client can map.
/// The REST face still answers the null.
pub fn tool_result<T: Serialize>(result: Result<T, ApiError>) -> CallToolResult {
    let value = result.and_then(|value| {
        serde_json::to_value(value).map_err(|e| ApiError::BadRequest(e.to_string()))
    });
    match value {
        Ok(mut value) => {
            if let serde_json::Value::Object(members) = &mut value {
                members.retain(|_, member| !member.is_null());
            }
            CallToolResult::structured(value)
        }
        Err(error) => CallToolResult::error(vec![ContentBlock::text(body(&error).to_string())]),
    }
}

/// A protocol error for requests that have no result to carry one (`resources/read`).
pub fn protocol_error(error: ApiError, uri: &str) -> McpError {
    match error {
        ApiError::Vault(VaultError::NotFound) => {
            McpError::resource_not_found("no such resource", Some(json!({ "uri": uri })))
        }
        ApiError::BadPath(_) | ApiError::BadRequest(_) | ApiError::Arguments { .. } => {
            McpError::invalid_params(error.to_string(), Some(body(&error)))
        }
        other => McpError::invalid_request(other.to_string(), Some(body(&other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_null_result_member_is_left_out_and_nothing_inside_one() {
        let result = tool_result::<serde_json::Value>(Ok(json!({
            "path": "a",
            "text": null,
            "data": { "kept": null }
        })));
        assert_eq!(
            result.structured_content,
            Some(json!({ "path": "a", "data": { "kept": null } }))
        );
    }
}

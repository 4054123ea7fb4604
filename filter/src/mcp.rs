//! Which MCP calls a request makes, so their scopes can be checked at the edge.
//!
//! From MCP 2026-07-28 on, clients name the method and tool in `Mcp-Method` / `Mcp-Name` headers
//! and the server (rmcp) refuses a body that disagrees, so the headers suffice. Older revisions
//! carry them only in the JSON-RPC body, which the filter then reads (up to a limit).

use serde::Deserialize;
use serde_json::value::RawValue;

/// First revision whose requests carry `Mcp-Method` / `Mcp-Name` checked against the body.
pub const HEADER_REVISION: &str = "2026-07-28";

/// One JSON-RPC message's method, and the tool when it is a `tools/call`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub method: String,
    pub tool: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum McpBodyError {
    #[error("the body is not JSON-RPC")]
    Malformed,
    /// rmcp, behind the edge, accepts no batch; saying so here is clearer than its 415, and
    /// nothing is left for a batch to hide.
    #[error("JSON-RPC batches are not supported: send one message per request")]
    Batch,
}

/// The calls named by headers, when the request's protocol revision makes them authoritative.
/// `None` means the body must be read.
pub fn calls_from_headers(
    protocol_version: Option<&str>,
    method: Option<&str>,
    name: Option<&str>,
) -> Option<Vec<Call>> {
    // Revisions are dates, so they compare as strings.
    let modern = protocol_version.is_some_and(|v| v.len() == 10 && v >= HEADER_REVISION);
    let method = method.filter(|_| modern)?;
    let tool = if method == "tools/call" {
        // Without Mcp-Name the server refuses the call; read the body to be sure anyway.
        Some(name?.to_string())
    } else {
        None
    };
    Some(vec![Call {
        method: method.to_string(),
        tool,
    }])
}

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(default, borrow)]
    method: Option<&'a RawValue>,
    #[serde(default, borrow)]
    params: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct ToolParams {
    name: String,
}

/// The call in a JSON-RPC body (one message; batches are refused). Responses and
/// notifications without a method contribute nothing.
pub fn calls_from_body(body: &[u8]) -> Result<Vec<Call>, McpBodyError> {
    let value: &RawValue = serde_json::from_slice(body).map_err(|_| McpBodyError::Malformed)?;
    if value.get().trim_start().starts_with('[') {
        return Err(McpBodyError::Batch);
    }
    let message: Message =
        serde_json::from_str(value.get()).map_err(|_| McpBodyError::Malformed)?;
    let Some(method) = message.method else {
        return Ok(Vec::new());
    };
    let method: String = serde_json::from_str(method.get()).map_err(|_| McpBodyError::Malformed)?;
    let tool = if method == "tools/call" {
        let params = message.params.ok_or(McpBodyError::Malformed)?;
        let params: ToolParams =
            serde_json::from_str(params.get()).map_err(|_| McpBodyError::Malformed)?;
        Some(params.name)
    } else {
        None
    };
    Ok(vec![Call { method, tool }])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(method: &str, tool: Option<&str>) -> Call {
        Call {
            method: method.into(),
            tool: tool.map(Into::into),
        }
    }

    #[test]
    fn headers_count_only_from_2026_07_28() {
        let tool = Some("kv.read");
        assert_eq!(
            calls_from_headers(Some("2026-07-28"), Some("tools/call"), tool),
            Some(vec![call("tools/call", tool)])
        );
        assert_eq!(
            calls_from_headers(Some("2026-07-28"), Some("tools/list"), None),
            Some(vec![call("tools/list", None)])
        );
        assert_eq!(
            calls_from_headers(Some("2025-11-25"), Some("tools/call"), tool),
            None
        );
        assert_eq!(calls_from_headers(None, Some("tools/call"), tool), None);
        assert_eq!(
            calls_from_headers(Some("2026-07-28"), Some("tools/call"), None),
            None
        );
        assert_eq!(calls_from_headers(Some("2026-07-28"), None, None), None);
    }

    #[test]
    fn bodies() {
        let cases: &[(&str, Result<Vec<Call>, McpBodyError>)] = &[
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"kv.write","arguments":{}}}"#,
                Ok(vec![call("tools/call", Some("kv.write"))]),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#,
                Ok(vec![call("initialize", None)]),
            ),
            (r#"{"jsonrpc":"2.0","id":1,"result":{}}"#, Ok(vec![])),
            (
                r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"kv.read"}},
                    {"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"kv.delete"}}]"#,
                Err(McpBodyError::Batch),
            ),
            ("[]", Err(McpBodyError::Batch)),
            (" [1]", Err(McpBodyError::Batch)),
            ("{not json", Err(McpBodyError::Malformed)),
            ("", Err(McpBodyError::Malformed)),
            (r#"{"method":"tools/call"}"#, Err(McpBodyError::Malformed)),
            (
                r#"{"method":"tools/call","params":{"name":1}}"#,
                Err(McpBodyError::Malformed),
            ),
            (r#"{"method":7}"#, Err(McpBodyError::Malformed)),
            ("42", Err(McpBodyError::Malformed)),
            // Duplicate keys are refused, as rmcp refuses them: no parser differential.
            (
                r#"{"method":"tools/call","params":{"name":"kv.read","name":"kv.write"}}"#,
                Err(McpBodyError::Malformed),
            ),
            (
                r#"{"method":"tools/list","method":"tools/call","params":{"name":"kv.write"}}"#,
                Err(McpBodyError::Malformed),
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(&calls_from_body(body.as_bytes()), expected, "{body}");
        }
    }
}

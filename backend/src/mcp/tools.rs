//! MCP tools: each operation of the catalogue ([`crate::ops`]) is a tool of the same name, with
//! its input schema from the operation's type, its output schema from its output's, and its
//! annotations from its traits. One router per engine, combined with `+`; no tool is written
//! by hand.

use rmcp::handler::server::common::{schema_for_input, schema_for_output};
use rmcp::handler::server::router::tool::{ToolRoute, ToolRouter};
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{Tool, ToolAnnotations};

use super::confirm::Round;
use super::server::BridgeMcp;
use crate::ops::{Effect, Operation, database, kv, scope_of, ssh, transit};

/// Every tool the bridge offers.
pub fn router() -> ToolRouter<BridgeMcp> {
    kv_tools() + transit_tools() + database_tools() + ssh_tools()
}

fn kv_tools() -> ToolRouter<BridgeMcp> {
    ToolRouter::new()
        .with_route(route::<kv::KvRead>())
        .with_route(route::<kv::KvWrite>())
        .with_route(route::<kv::KvList>())
        .with_route(route::<kv::KvDelete>())
        .with_route(route::<kv::KvUndelete>())
        .with_route(route::<kv::KvDestroy>())
}

fn transit_tools() -> ToolRouter<BridgeMcp> {
    ToolRouter::new()
        .with_route(route::<transit::TransitEncrypt>())
        .with_route(route::<transit::TransitDecrypt>())
        .with_route(route::<transit::TransitRewrap>())
        .with_route(route::<transit::TransitSign>())
        .with_route(route::<transit::TransitVerify>())
        .with_route(route::<transit::TransitRandom>())
        .with_route(route::<transit::TransitCreateKey>())
}

fn database_tools() -> ToolRouter<BridgeMcp> {
    ToolRouter::new()
        .with_route(route::<database::DbIssueCreds>())
        .with_route(route::<database::DbRenew>())
        .with_route(route::<database::DbRevoke>())
}

fn ssh_tools() -> ToolRouter<BridgeMcp> {
    ToolRouter::new()
        .with_route(route::<ssh::SshOtp>())
        .with_route(route::<ssh::SshSign>())
}

/// The tool of operation `O`: its arguments are checked inside the call, so bad input is a
/// result with `isError` that names the field (the model can correct itself), not a protocol
/// error.
fn route<O: Operation>() -> ToolRoute<BridgeMcp> {
    ToolRoute::new_dyn(tool::<O>(), |context: ToolCallContext<'_, BridgeMcp>| {
        Box::pin(async move {
            let ToolCallContext {
                service,
                request_context,
                arguments,
                input_responses,
                request_state,
                ..
            } = context;
            let round = Round {
                input_responses,
                request_state,
            };
            service
                .call::<O>(request_context, arguments.unwrap_or_default(), round)
                .await
        })
    })
}

/// How `O` is listed in `tools/list`.
pub fn tool<O: Operation>() -> Tool {
    let input = schema_for_input::<O>()
        .unwrap_or_else(|e| panic!("{}: the input schema is not an object: {e}", O::NAME));
    let traits = O::TRAITS;
    let read_only = traits.effect == Effect::Reads;
    let annotations = ToolAnnotations::from_raw(
        None,
        Some(read_only),
        (!read_only).then_some(traits.effect == Effect::Removes),
        Some(traits.idempotent),
        Some(traits.open_world),
    );
    Tool::new(O::NAME, describe::<O>(), input)
        .with_raw_output_schema(schema_for_output::<O::Output>())
        .with_annotations(annotations)
}

/// The operation's description and, from the scope table, what it needs.
pub fn describe<O: Operation>() -> String {
    let scopes: Vec<String> = scope_of(O::NAME)
        .split_ascii_whitespace()
        .map(|scope| format!("'{scope}'"))
        .collect();
    let needs = match scopes.as_slice() {
        [one] => format!("the {one} scope"),
        many => format!("the {} scopes", many.join(" and ")),
    };
    format!("{} Needs {needs}.", O::DESCRIPTION)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vault_mcp_filter::scopes;

    /// `tools/list` as clients see it, pinned so that schema changes are deliberate:
    /// `UPDATE_GOLDEN=1 cargo test -p vault-mcp-bridge golden` rewrites the file.
    #[test]
    fn tools_list_matches_the_golden_file() {
        let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/tools.json");
        let mut tools = router().list_all();
        tools.sort_by(|a, b| a.name.cmp(&b.name));
        let actual = serde_json::to_string_pretty(&tools).unwrap() + "\n";
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&golden, &actual).unwrap();
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_default();
        assert!(
            actual == expected,
            "tools/list changed; review and run UPDATE_GOLDEN=1 cargo test -p vault-mcp-bridge golden"
        );
    }

    #[test]
    fn every_operation_is_a_tool_with_a_scope() {
        let tools = router().list_all();
        let names: std::collections::BTreeSet<&str> =
            tools.iter().map(|t| t.name.as_ref()).collect();
        let catalogue: std::collections::BTreeSet<&str> =
            crate::ops::NAMES.iter().copied().collect();
        assert_eq!(names, catalogue);
        let underscored: std::collections::BTreeSet<String> =
            tools.iter().map(|t| t.name.replace('.', "_")).collect();
        assert_eq!(
            underscored.len(),
            tools.len(),
            "underscore names must stay unique"
        );
        for tool in tools {
            assert!(
                scopes::tool_scope(&tool.name).is_some(),
                "{} has no scope",
                tool.name
            );
        }
    }
}

//! MCP tools: each operation of the catalogue ([`crate::ops`]) is a tool of the same name, with
//! its input schema from the operation's type, its output schema from its output's, and its
//! annotations from its traits. One router per engine, combined with `+`; no tool is written
//! by hand.

use std::sync::Arc;

use rmcp::handler::server::common::{schema_for_input, schema_for_output};
use rmcp::handler::server::router::tool::{ToolRoute, ToolRouter};
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use schemars::Schema;
use schemars::transform::{Transform, transform_subschemas};
use serde_json::{Value, json};

use super::confirm::Round;
use super::server::BridgeMcp;
use crate::ops::{Effect, Operation, database, kv, pki, scope_of, ssh, transit};

/// Every tool the bridge offers.
pub fn router() -> ToolRouter<BridgeMcp> {
    kv_tools() + transit_tools() + database_tools() + ssh_tools() + pki_tools()
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

fn pki_tools() -> ToolRouter<BridgeMcp> {
    ToolRouter::new()
        .with_route(route::<pki::PkiIssue>())
        .with_route(route::<pki::PkiRevoke>())
        .with_route(route::<pki::PkiCa>())
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
    let output = schema_for_output::<O::Output>();
    Tool::new(O::NAME, describe::<O>(), portable(&input, Contract::Input))
        .with_raw_output_schema(portable(&output, Contract::Output))
        .with_annotations(annotations)
}

/// Which side of a call a schema describes.
#[derive(Clone, Copy, PartialEq)]
enum Contract {
    /// The arguments: an optional field is `None` whether it is absent or null.
    Input,
    /// The result: the MCP face leaves a null member of it out ([`super::errors::tool_result`]).
    Output,
}

/// `schema` with optional fields as every client can map them ([`OptionalMeansAbsent`]).
fn portable(schema: &JsonObject, contract: Contract) -> Arc<JsonObject> {
    let mut schema = Schema::from(schema.clone());
    OptionalMeansAbsent(contract).transform(&mut schema);
    match schema.to_value() {
        Value::Object(object) => Arc::new(object),
        _ => unreachable!("an object schema stays an object"),
    }
}

/// Optional means absent from `required`, not null. schemars writes an `Option<T>` field as
/// `type: [T, "null"]` (or `anyOf: [T, {type: null}]` when `T` is a reference), and clients
/// that map tool schemas onto a single-`type` dialect (the OpenAPI subset several model
/// providers take) reject the tool or drop the constraint; MCP Inspector's `--strict` warns
/// about each. So such a field is listed as plain `T` and left out of `required`, here, once
/// for every tool, so that no new field brings the null back. The arguments are walked
/// whole; a field that is required yet may be null is left as it is (the tests refuse it).
/// Of a result only the top-level fields are rewritten, the ones whose null the MCP face
/// leaves out; a nested one is left as it is (the tests refuse that too). The REST face and
/// its OpenAPI document are not concerned.
struct OptionalMeansAbsent(Contract);

impl Transform for OptionalMeansAbsent {
    fn transform(&mut self, schema: &mut Schema) {
        if self.0 == Contract::Input {
            transform_subschemas(self, schema);
        }
        let Some(object) = schema.as_object_mut() else {
            return;
        };
        let required = object.get("required").cloned().unwrap_or_default();
        let required = required.as_array().map(Vec::as_slice).unwrap_or_default();
        let Some(Value::Object(properties)) = object.get_mut("properties") else {
            return;
        };
        let mut absent = Vec::new();
        for (name, property) in properties.iter_mut() {
            let may_be_left_out =
                self.0 == Contract::Output || !required.contains(&Value::from(name.as_str()));
            if may_be_left_out && without_null(property) {
                absent.push(Value::from(name.as_str()));
            }
        }
        if let Some(Value::Array(required)) = object.get_mut("required") {
            required.retain(|name| !absent.contains(name));
        }
    }
}

/// Takes null out of what `property` accepts (out of its `type` list, or the `{type: null}`
/// branch of its `anyOf`), with a `default` of null; false if it did not accept null so.
fn without_null(property: &mut Value) -> bool {
    let Some(schema) = property.as_object_mut() else {
        return false;
    };
    let null = json!({ "type": "null" });
    if let Some(Value::Array(types)) = schema.get_mut("type")
        && types.contains(&json!("null"))
    {
        types.retain(|t| t != "null");
        if let [only] = types.as_slice() {
            let only = only.clone();
            schema.insert("type".into(), only);
        }
    } else if let Some(Value::Array(branches)) = schema.get_mut("anyOf")
        && branches.contains(&null)
    {
        branches.retain(|branch| *branch != null);
        if let [Value::Object(only)] = branches.as_slice() {
            let only = only.clone();
            schema.remove("anyOf");
            for (keyword, value) in only {
                schema.entry(keyword).or_insert(value);
            }
        }
    } else {
        return false;
    }
    if schema.get("default") == Some(&Value::Null) {
        schema.remove("default");
    }
    true
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

    /// Where `schema` admits null: a `type` naming it, `nullable`, or a null value anywhere
    /// (a `default`, an `enum` or `const` member).
    fn nulls(schema: &Value, at: &str, found: &mut Vec<String>) {
        match schema {
            Value::Null => found.push(at.to_owned()),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    nulls(item, &format!("{at}/{i}"), found);
                }
            }
            Value::Object(members) => {
                for (keyword, value) in members {
                    let here = format!("{at}/{keyword}");
                    let null_type = match value {
                        Value::String(t) => t == "null",
                        Value::Array(types) => types.contains(&json!("null")),
                        _ => false,
                    };
                    if (keyword == "type" && null_type) || keyword == "nullable" {
                        found.push(here.clone());
                    }
                    nulls(value, &here, found);
                }
            }
            _ => {}
        }
    }

    /// MCP Inspector's `--strict` portability check, and the clients it speaks for: an
    /// optional field is absent from `required`, never `type: [T, "null"]` nor an `anyOf`
    /// with a null branch, in any tool's arguments or result.
    #[test]
    fn no_tool_schema_admits_null() {
        let mut found = Vec::new();
        for tool in router().list_all() {
            let input = Value::Object(tool.input_schema.as_ref().clone());
            nulls(&input, &format!("{} input", tool.name), &mut found);
            let output = tool.output_schema.expect("every tool has an output schema");
            let output = Value::Object(output.as_ref().clone());
            nulls(&output, &format!("{} output", tool.name), &mut found);
        }
        assert!(found.is_empty(), "schemas admit null at {found:#?}");
    }

    /// The MCP face leaves a null member of a result out; only one the schema does not
    /// require may be, so a required one must have a type that is never null.
    #[test]
    fn a_required_result_member_is_never_null() {
        for tool in router().list_all() {
            let output = tool.output_schema.unwrap();
            for name in output["required"].as_array().into_iter().flatten() {
                let property = &output["properties"][name.as_str().unwrap()];
                assert!(
                    property.get("type").is_some() || property.get("$ref").is_some(),
                    "{}: {name} is required and may be null",
                    tool.name
                );
            }
        }
    }

    #[test]
    fn an_optional_field_is_its_type_and_not_required() {
        let read = tool::<crate::ops::kv::KvRead>().input_schema;
        assert_eq!(read["required"], json!(["path"]));
        assert_eq!(
            read["properties"]["version"],
            json!({
                "description": "Version to read; the latest when absent.",
                "type": "integer", "format": "uint64", "minimum": 0
            })
        );
        // A reference: its `anyOf` with a null branch is the reference alone.
        let sign = tool::<transit::TransitSign>().input_schema;
        assert_eq!(
            sign["properties"]["hash_algorithm"],
            json!({
                "description": "Hash algorithm; Vault's default (sha2-256) when absent.",
                "$ref": "#/$defs/Hash"
            })
        );
        // In a definition too.
        assert_eq!(
            sign["$defs"]["Payload"]["properties"]["text"]["type"],
            "string"
        );
        // A result's null member is left out, so it is no longer required.
        let decrypt = tool::<transit::TransitDecrypt>().output_schema.unwrap();
        assert_eq!(decrypt["required"], json!(["plaintext", "base64"]));
        assert_eq!(decrypt["properties"]["text"]["type"], "string");
    }

    #[test]
    fn a_required_argument_that_may_be_null_and_a_nested_result_one_are_kept() {
        let schema = json!({
            "type": "object",
            "required": ["must"],
            "properties": {
                "must": { "type": ["string", "null"] },
                "nested": {
                    "type": "object",
                    "properties": { "inner": { "type": ["string", "null"] } }
                }
            }
        });
        let Value::Object(schema) = schema else {
            unreachable!()
        };
        let input = portable(&schema, Contract::Input);
        assert_eq!(input["required"], json!(["must"]));
        assert_eq!(
            input["properties"]["must"]["type"],
            json!(["string", "null"])
        );
        assert_eq!(
            input["properties"]["nested"]["properties"]["inner"]["type"],
            "string"
        );
        let output = portable(&schema, Contract::Output);
        assert_eq!(output["required"], json!([]));
        assert_eq!(output["properties"]["must"]["type"], "string");
        assert_eq!(
            output["properties"]["nested"]["properties"]["inner"]["type"],
            json!(["string", "null"])
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

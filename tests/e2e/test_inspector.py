"""MCP Inspector's CLI mode (npm @modelcontextprotocol/inspector, pinned) against the bridge
through Envoy: lists and calls tools, reads resources, gets prompts."""

import json
import subprocess
import uuid

import stack as stacks


def run_inspector(stack, *args):
    result = subprocess.run(
        ["npx", "--no-install", "inspector", "--cli", f"{stack.envoy_url}/mcp", "--transport", "http",
         "--header", "X-API-Key: dev-key", *args],
        cwd=stacks.ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result


def inspector(stack, *args):
    return json.loads(run_inspector(stack, *args).stdout)


def test_inspector_lists_and_calls_tools(stack):
    names = {tool["name"] for tool in inspector(stack, "--method", "tools/list")["tools"]}
    assert {"kv.read", "kv.write", "transit.encrypt", "ssh.sign"} <= names
    path = f"inspector/{uuid.uuid4().hex[:8]}"
    written = inspector(stack, "--method", "tools/call", "--tool-name", "kv.write",
                        "--tool-arg", f"path={path}", 'data={"from": "inspector"}')
    assert written["isError"] is False and written["structuredContent"] == {"path": path, "version": 1}
    read = inspector(stack, "--method", "tools/call", "--tool-name", "kv.read", "--tool-arg", f"path={path}")
    assert read["structuredContent"]["data"] == {"from": "inspector"}
    resource = inspector(stack, "--method", "resources/read", "--uri", f"kv://agent_api/{path}")
    assert json.loads(resource["contents"][0]["text"])["data"] == {"from": "inspector"}
    prompt = inspector(stack, "--method", "prompts/get", "--prompt-name", "kv_read", "--prompt-args", f"path={path}")
    assert path in prompt["messages"][0]["content"]["text"]


def test_inspector_finds_every_tool_schema_portable(stack):
    """`tools/list --strict`: Inspector's schema-portability check (a `type` list such as
    `[T, "null"]`, which clients mapping schemas onto a single-`type` dialect cannot take; a
    remote `$ref`; an untyped schema) finds nothing in any tool's input or output schema. An
    optional field is absent from `required`, never null."""
    result = run_inspector(stack, "--method", "tools/list", "--strict", "--format", "json")
    envelope = json.loads(result.stdout)
    golden = json.loads((stacks.ROOT / "backend" / "golden" / "tools.json").read_text())
    # Every tool was listed, so every tool was checked.
    assert {tool["name"] for tool in envelope["result"]["tools"]} == {tool["name"] for tool in golden}
    findings = [(tool["toolName"], finding["severity"], finding["path"])
                for tool in envelope.get("schemaFindings", []) for finding in tool["findings"]]
    warnings = sum(1 for _, severity, _ in findings if severity == "warning")
    assert (len(findings), warnings) == (0, 0), findings
    # The report Inspector prints on stderr when it finds something.
    assert "Schema portability" not in result.stderr and "Warning: tool" not in result.stderr, result.stderr


def test_inspector_gets_no_null_where_the_schema_says_absent(stack):
    """A result's optional member is left out, not null, as its output schema says: binary
    data decrypts to no `text` (the REST face still answers `"text": null`)."""
    tools = {tool["name"]: tool for tool in inspector(stack, "--method", "tools/list")["tools"]}
    decrypt_schema = tools["transit.decrypt"]["outputSchema"]
    assert "text" in decrypt_schema["properties"] and "text" not in decrypt_schema["required"]
    encrypted = inspector(stack, "--method", "tools/call", "--tool-name", "transit.encrypt",
                          "--tool-arg", "base64=AP8=")
    decrypted = inspector(stack, "--method", "tools/call", "--tool-name", "transit.decrypt",
                          "--tool-arg", f"ciphertext={encrypted['structuredContent']['ciphertext']}")
    assert decrypted["isError"] is False
    assert decrypted["structuredContent"] == {"plaintext": "AP8=", "base64": "AP8="}

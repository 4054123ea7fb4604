"""MCP Inspector's CLI mode (npm @modelcontextprotocol/inspector, pinned) against the bridge
through Envoy: lists and calls tools, reads resources, gets prompts."""

import json
import subprocess
import uuid

import stack as stacks


def inspector(stack, *args):
    result = subprocess.run(
        ["npx", "--no-install", "inspector", "--cli", f"{stack.envoy_url}/mcp", "--transport", "http",
         "--header", "X-API-Key: dev-key", *args],
        cwd=stacks.ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


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

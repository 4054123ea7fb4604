"""The examples work as their README says."""

import json
import os
import subprocess
import sys

import stack as stacks


def run_agent(*args, env=None):
    result = subprocess.run([sys.executable, str(stacks.ROOT / "examples" / "mcp_agent.py"), *args],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_agent_example_over_http_with_an_api_key_and_a_jwt(stack):
    with_key = run_agent("--url", f"{stack.envoy_url}/mcp", "--api-key", "dev-key", "--path", "examples/key")
    assert with_key["read"]["data"] == {"note": "hello from an agent"}
    assert with_key["encrypted"]["ciphertext"].startswith("vault:v1:")
    token = stack.secrets.token("agent_jwt", "read write list")
    with_jwt = run_agent("--url", f"{stack.envoy_url}/mcp", "--jwt", token, "--path", "examples/jwt")
    assert with_jwt["written"] == {"path": "examples/jwt", "version": 1}


def test_agent_example_over_stdio(stack):
    env = {**os.environ, "SUBJECT": "agent_example", "SCOPES": "read write list",
           "VAULT_ADDR": stack.openbao_url, "VAULT_TOKEN": stacks.SERVICE_TOKEN}
    result = run_agent("--stdio", str(stacks.BACKEND_BIN), env=env)
    assert result["read"]["data"] == {"note": "hello from an agent"}
    assert "kv.delete" not in result["tools"]


def test_client_configs_are_valid_json():
    for name in ("claude_desktop_config.json", "cursor_mcp.json"):
        config = json.loads((stacks.ROOT / "examples" / name).read_text())
        assert config["mcpServers"]

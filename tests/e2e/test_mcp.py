"""MCP through Envoy with the official MCP Python SDK as the client."""

import asyncio
import uuid

import pytest
import requests

from support import call_tool, write_then_read


@pytest.mark.parametrize("mode,expected_version", [("legacy", "2025-11-25"), ("2026-07-28", "2026-07-28")])
def test_sdk_writes_then_reads_through_envoy(stack, api_keys, mode, expected_version):
    path = f"mcp/{uuid.uuid4().hex[:12]}"
    version, written, got = asyncio.run(
        write_then_read(f"{stack.envoy_url}/mcp", api_keys["agent_api"], path, mode))
    assert version == expected_version
    assert written == {"path": path, "version": 1}
    assert got == {"path": path, "data": {"k": "v"}, "version": 1}


def test_tool_failures_are_tool_errors(stack, api_keys):
    tools, result = asyncio.run(
        call_tool(f"{stack.envoy_url}/mcp", api_keys["agent_api"], "kv.read", {"path": "../escape"}))
    # Every tool of the bridge; the list's schemas are pinned by the backend's golden test.
    assert tools == sorted([
        "kv.read", "kv.write", "kv.list", "kv.delete", "kv.undelete", "kv.destroy",
        "transit.encrypt", "transit.decrypt", "transit.rewrap", "transit.sign", "transit.verify",
        "transit.random", "transit.create_key", "db.issue_creds", "db.renew", "db.revoke", "ssh.otp", "ssh.sign",
        "pki.issue", "pki.revoke", "pki.ca",
    ])
    assert result.is_error
    assert "invalid_path" in result.content[0].text


def test_mcp_endpoint_needs_credentials(stack):
    response = requests.post(
        f"{stack.envoy_url}/mcp",
        headers={"Content-Type": "application/json", "Accept": "application/json, text/event-stream"},
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        timeout=10,
    )
    assert response.status_code == 401
    assert response.json()["error"] == "missing_credentials"


def test_tools_list_shows_only_what_the_caller_may_do(stack):
    tools, _ = asyncio.run(call_tool(f"{stack.envoy_url}/mcp", "dev-key-ro", "kv.list", {}))
    # Read and list only: no credential-minting tool (the seed's table needs write for those).
    assert tools == sorted(["kv.read", "kv.list", "transit.decrypt", "transit.verify", "transit.random", "pki.ca"])


def mcp_request(url, **headers):
    return requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "probe", "version": "1"}}},
        headers={"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
                 **headers}, timeout=10)


def test_browser_origins_must_be_allowed(stack, built, tmp_path_factory):
    url = f"{stack.envoy_url}/mcp"
    assert mcp_request(url, **{"X-API-Key": "dev-key"}).status_code == 200
    assert mcp_request(url, **{"X-API-Key": "dev-key", "Origin": "https://evil.example"}).status_code == 403
    from support import UNLIMITED, start_stack

    inspector = start_stack(tmp_path_factory, "origins", filter_overrides=UNLIMITED,
                            backend_env={"CORS_ALLOW_ORIGINS": "http://localhost:6274"})
    try:
        url = f"{inspector.envoy_url}/mcp"
        ok = mcp_request(url, **{"X-API-Key": "dev-key", "Origin": "http://localhost:6274"})
        assert ok.status_code == 200
        assert mcp_request(url, **{"X-API-Key": "dev-key", "Origin": "http://localhost:9999"}).status_code == 403
    finally:
        inspector.stop()


def test_unknown_hosts_are_refused(stack):
    response = mcp_request(f"{stack.envoy_url}/mcp", **{"X-API-Key": "dev-key", "Host": "evil.example"})
    assert response.status_code == 403


def test_every_input_field_is_described():
    """The golden tools/list: every argument tells a model what it is for."""
    import json

    import stack as stacks

    tools = json.loads((stacks.ROOT / "backend" / "golden" / "tools.json").read_text())
    assert len(tools) == 21
    for tool in tools:
        assert tool["description"] and tool["annotations"] and tool["outputSchema"]
        for name, field in tool["inputSchema"].get("properties", {}).items():
            assert field.get("description"), f"{tool['name']}.{name}"


def test_browser_clients_on_this_machine_get_cors_answers(stack):
    url = f"{stack.envoy_url}/mcp"
    preflight = {"Origin": "http://localhost:6274", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "x-api-key, content-type, mcp-protocol-version"}
    answered = requests.options(url, headers=preflight, timeout=10)
    assert answered.status_code == 200
    assert answered.headers["access-control-allow-origin"] == "http://localhost:6274"
    assert "x-api-key" in answered.headers["access-control-allow-headers"]
    # Another origin gets no CORS answer; the preflight then meets the filter, without credentials.
    foreign = requests.options(url, headers={**preflight, "Origin": "https://evil.example"}, timeout=10)
    assert "access-control-allow-origin" not in foreign.headers and foreign.status_code == 401
    # The real request from the allowed origin carries credentials and gets the CORS headers.
    real = mcp_request(url, **{"X-API-Key": "dev-key", "Origin": "http://localhost:6274"})
    assert real.status_code == 200
    assert real.headers["access-control-allow-origin"] == "http://localhost:6274"
    assert "mcp-session-id" in real.headers["access-control-expose-headers"]

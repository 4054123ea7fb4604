"""Protocol rules of the revisions the bridge speaks, as rmcp enforces them behind the edge."""

import requests

BASE = {"X-API-Key": "dev-key", "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream"}


def post(stack, body, **headers):
    return requests.post(f"{stack.envoy_url}/mcp", data=body if isinstance(body, str) else None,
                         json=None if isinstance(body, str) else body, headers={**BASE, **headers}, timeout=10)


def test_unsupported_protocol_version_is_refused(stack):
    response = post(stack, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                    **{"MCP-Protocol-Version": "1999-01-01", "Mcp-Method": "tools/list"})
    assert response.status_code == 400


def test_headers_must_match_the_body_on_2026_07_28(stack):
    # The edge checks kv.read's scope from the headers; the server refuses a body that calls
    # something else, so headers cannot smuggle a different call past the edge.
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}}
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "kv.delete", "arguments": {"path": "x"}, "_meta": meta}}
    modern = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call"}
    response = post(stack, body, **modern, **{"Mcp-Name": "kv.read"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32020
    # The same body with honest headers goes through (and the tool then runs).
    assert post(stack, body, **modern, **{"Mcp-Name": "kv.delete"}).status_code == 200


def test_malformed_json_rpc_gets_an_error_not_a_crash(stack):
    legacy = post(stack, "{not json", **{"MCP-Protocol-Version": "2025-11-25"})
    assert (legacy.status_code, legacy.json()["error"]) == (400, "invalid_jsonrpc")  # the edge's
    modern = post(stack, "{not json", **{"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/list"})
    assert 400 <= modern.status_code < 500
    # The server still serves afterwards.
    assert requests.get(f"{stack.envoy_url}/whoami", headers={"X-API-Key": "dev-key"}, timeout=10).ok


def test_the_callers_credentials_never_reach_vault_or_the_backend(stack):
    """The edge removes the API key and bearer token; the backend sees only its identity."""
    token = stack.secrets.token("agent_api", "read")
    response = requests.get(f"{stack.envoy_url}/whoami", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.ok
    logs = (stack.logs / "backend" / "requests.log").read_text()
    assert token not in logs and "dev-key" not in logs

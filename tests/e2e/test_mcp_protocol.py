"""Protocol rules of the revisions the bridge speaks, as rmcp enforces them behind the edge."""

import json

import requests

from support import wait_for

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
    # This request's line is written (in a batch, within moments), and holds no credential.
    requests_log = stack.logs / "backend" / "requests.log"
    wait_for(lambda: response.headers["x-request-id"] in requests_log.read_text())
    logs = requests_log.read_text()
    assert token not in logs and "dev-key" not in logs


def test_each_revision_is_negotiated_with_its_session_rules(stack):
    url = f"{stack.envoy_url}/mcp"
    for version in ("2025-03-26", "2025-06-18", "2025-11-25"):
        init = requests.post(url, headers=BASE, timeout=10, json={
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": version, "capabilities": {},
                       "clientInfo": {"name": "probe", "version": "1"}}})
        assert init.status_code == 200, (version, init.text)
        # An SSE answer: a priming event with no data, then the response.
        payload = next(line[6:] for line in init.text.splitlines() if line.startswith("data: {"))
        assert json.loads(payload)["result"]["protocolVersion"] == version
        session = init.headers["mcp-session-id"]
        session_headers = {**BASE, "Mcp-Session-Id": session, "MCP-Protocol-Version": version}
        requests.post(url, headers=session_headers, timeout=10,
                      json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        listed = requests.post(url, headers=session_headers, timeout=10,
                               json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        assert listed.status_code == 200 and "kv.read" in listed.text, version
        # Ending the session; afterwards it is gone.
        assert requests.delete(url, headers=session_headers, timeout=10).status_code in (200, 202, 204)
        gone = requests.post(url, headers=session_headers, timeout=10,
                             json={"jsonrpc": "2.0", "id": 3, "method": "tools/list"})
        assert gone.status_code == 404, version

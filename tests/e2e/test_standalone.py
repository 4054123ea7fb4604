"""Standalone mode: the backend without Envoy, authenticating callers with the filter's own
decision code (linked natively), as for local development, MCP Inspector and stdio."""

import asyncio
import json
import time

import jwt as pyjwt
import pytest
import requests

import stack as stacks
from stack.processes import free_ports
from support import agents_cli, call_tool, start_stack, wait_for

SECRET = "standalone-hs256-secret-0123456789abcdef"


@pytest.fixture(scope="module")
def alone(built, tmp_path_factory):
    keys = {a["api_key"]: {"subject": a["subject"], "scopes": a["scopes"]} for a in stacks.load_agents()}
    keys["limited-key"] = {"subject": "agent_limited", "scopes": ["read"]}
    running = start_stack(tmp_path_factory, "standalone", with_envoy=False, backend_env={
        "STANDALONE": "true",
        "AGENT_ASSERTION_KEY": None,
        "API_KEYS_JSON": json.dumps(keys),
        "JWT_HS256_SECRET": SECRET,
        "JWT_ISSUER": "standalone-issuer",
        "JWT_AUDIENCE": "vault-mcp-bridge",
        "MTLS_IDENTITIES_JSON": json.dumps({"agent_cert": ["read", "write"]}),
        "RATE_LIMIT_REQUESTS": "1000",
        "REGISTRY_REFRESH_SECONDS": "1",
        # The console beside it signs in with the same standalone policy.
        "CONSOLE_ADDR": f"127.0.0.1:{free_ports(1)[0]}",
    })
    yield running
    running.stop()


def test_api_keys_and_spoofing(alone):
    url = f"{alone.backend_url}/secrets/standalone/x"
    assert requests.put(url, json={"data": {"v": "api"}}, headers={"X-API-Key": "dev-key"}, timeout=10).ok
    assert requests.get(url, headers={"X-API-Key": "dev-key"}, timeout=10).json()["data"] == {"v": "api"}
    spoofed = requests.get(url, headers={"X-API-Key": "dev-key-b", "x-agent-subject": "agent_api"}, timeout=10)
    assert spoofed.status_code == 404
    for headers, code in [({}, "missing_credentials"), ({"X-API-Key": "nope"}, "invalid_api_key"),
                          ({"x-agent-subject": "agent_api", "x-agent-scopes": "read"}, "missing_credentials")]:
        response = requests.get(url, headers=headers, timeout=10)
        assert (response.status_code, response.json()["error"]) == (401, code), headers
        assert response.headers["www-authenticate"].startswith("Bearer")
    ro = requests.put(url, json={"data": {}}, headers={"X-API-Key": "dev-key-ro"}, timeout=10)
    assert (ro.status_code, ro.json()["error"]) == (403, "insufficient_scope")


def test_jwts_and_client_certificate_headers(alone):
    now = int(time.time())
    claims = {"sub": "agent_jwt", "scope": "read", "iss": "standalone-issuer", "aud": "vault-mcp-bridge",
              "exp": now + 60}
    token = pyjwt.encode(claims, SECRET, algorithm="HS256")
    whoami = requests.get(f"{alone.backend_url}/whoami", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert whoami.json() == {"subject": "agent_jwt", "scopes": ["read"]}
    expired = pyjwt.encode({**claims, "exp": now - 120}, SECRET, algorithm="HS256")
    response = requests.get(f"{alone.backend_url}/whoami", headers={"Authorization": f"Bearer {expired}"}, timeout=10)
    assert (response.status_code, response.json()["error"]) == (401, "invalid_token")
    cert = {"x-ssl-client-verify": "SUCCESS", "x-ssl-client-s-dn": "CN=agent_cert,O=Dev"}
    assert requests.get(f"{alone.backend_url}/whoami", headers=cert, timeout=10).json()["subject"] == "agent_cert"
    failed = {**cert, "x-ssl-client-verify": "FAILED:unknown ca"}
    assert requests.get(f"{alone.backend_url}/whoami", headers=failed, timeout=10).status_code == 401


def test_rate_limit_applies_in_process(built, tmp_path_factory):
    running = start_stack(tmp_path_factory, "standalone_rl", with_envoy=False, backend_env={
        "STANDALONE": "true", "API_KEYS_JSON": json.dumps({"k": {"subject": "agent_x", "scopes": []}}),
        "RATE_LIMIT_REQUESTS": "5", "RATE_LIMIT_WINDOW_SECONDS": "3600"})
    try:
        statuses = [requests.get(f"{running.backend_url}/whoami", headers={"X-API-Key": "k"}, timeout=10).status_code
                    for _ in range(8)]
        assert statuses == [200] * 5 + [429] * 3
    finally:
        running.stop()


def test_mcp_client_straight_to_the_backend(alone):
    tools, result = asyncio.run(call_tool(f"{alone.backend_url}/mcp", "dev-key", "kv.list", {}))
    assert "kv.read" in tools and not result.is_error
    # As at the edge: the 2026-07-28 call names its tool in headers and is refused with 403.
    denied = requests.post(f"{alone.backend_url}/mcp", json={
        "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "kv.write", "arguments": {}}},
        headers={"X-API-Key": "dev-key-ro", "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call",
                 "Mcp-Name": "kv.write", "Accept": "application/json, text/event-stream"}, timeout=10)
    assert (denied.status_code, denied.json()["error"]) == (403, "insufficient_scope")


def test_a_vault_that_does_not_answer_gives_504(built, tmp_path_factory):
    """A listener that accepts and never answers stands in for a hung Vault."""
    import socket
    import threading

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    held = []
    threading.Thread(target=lambda: [held.append(silent.accept()) for _ in range(16)], daemon=True).start()
    running = stacks.Stack(run_dir=tmp_path_factory.mktemp("hung"), ports=stacks.Ports.free(), with_envoy=False,
                           backend_env={"STANDALONE": "true", "VAULT_TIMEOUT_SECONDS": "1",
                                        "VAULT_ADDR": f"http://127.0.0.1:{silent.getsockname()[1]}",
                                        "API_KEYS_JSON": json.dumps({"k": {"subject": "a", "scopes": ["read"]}})})
    try:
        running.start_backend()
        response = requests.get(f"{running.backend_url}/secrets/x", headers={"X-API-Key": "k"}, timeout=30)
        assert (response.status_code, response.json()["error"]) == (504, "vault_timeout")
    finally:
        running.stop()
        silent.close()


def test_standalone_follows_the_agent_registry(alone):
    """Agents added and disabled with `agents …` reach a standalone backend too (it re-reads the
    registry every REGISTRY_REFRESH_SECONDS), beside the keys of API_KEYS_JSON; the console
    counts a registry agent's refusals against it, as it does the edge's."""
    def whoami(key):
        return requests.get(f"{alone.backend_url}/whoami", headers={"X-API-Key": key}, timeout=10)

    key = json.loads(agents_cli(alone, "add", "agent_solo", "--scopes", "read", "--json").stdout)["api_key"]
    wait_for(lambda: whoami(key).status_code == 200)
    assert whoami(key).json() == {"subject": "agent_solo", "scopes": ["read"]}
    agents_cli(alone, "disable", "agent_solo")
    wait_for(lambda: whoami(key).status_code == 403)
    refused = whoami(key)
    assert refused.json()["error"] == "agent_disabled"
    assert whoami("dev-key").status_code == 200

    ops_key = json.loads(agents_cli(alone, "add", "ops_solo", "--scopes", "admin", "--json").stdout)["api_key"]
    console = f"http://{alone.backend_env['CONSOLE_ADDR']}"
    with requests.Session() as session:
        wait_for(lambda: session.post(f"{console}/login", json={"credential": ops_key}, timeout=10).status_code == 200)
        activity = session.get(f"{console}/api/activity/agent_solo", timeout=10).json()
        statuses = {e["request_id"]: e["status"] for e in activity["requests"]}
        assert statuses[refused.headers["x-request-id"]] == 403, statuses
        assert 200 in statuses.values()
        series = session.get(f"{console}/api/traffic", params={"agent": "agent_solo"}, timeout=10).json()["series"]
        assert sum(p["client_errors"] for p in series) >= 1

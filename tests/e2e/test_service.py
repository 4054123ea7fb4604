"""The backend as a service: health, identity echo, metrics, request ids, and what happens when
Vault goes away and comes back."""

import asyncio
import json
import re
import time
import uuid

import pytest
import requests

import stack as stacks
from support import UNLIMITED, start_stack, wait_for, wait_for_logged


def test_whoami_through_envoy(stack):
    response = requests.get(f"{stack.envoy_url}/whoami", headers={"X-API-Key": "dev-key-ro"}, timeout=10)
    assert response.json() == {"subject": "agent_ro", "scopes": ["list", "read"]}
    # Envoy's request id reaches the backend and comes back on the response.
    assert re.fullmatch(r"[0-9a-f-]{36}", response.headers["x-request-id"])


def test_health_and_metrics_on_the_backend_port(stack):
    for path in ("/healthz", "/livez"):
        assert requests.get(f"{stack.backend_url}{path}", timeout=10).json() == {"status": "ok"}
    assert requests.get(f"{stack.backend_url}/readyz", timeout=10).json() == {"status": "ready"}
    secret_value = f"planted-{uuid.uuid4().hex}"
    secret_path = f"metrics-{uuid.uuid4().hex[:8]}/deep"
    assert requests.put(f"{stack.envoy_url}/secrets/{secret_path}", json={"data": {"v": secret_value}},
                        headers={"X-API-Key": "dev-key"}, timeout=10).ok
    metrics = requests.get(f"{stack.backend_url}/metrics", timeout=10).text
    assert 'http_requests_total{method="PUT",route="/secrets/{path:.*}",status="200"}' in metrics
    assert 'vault_requests_total{engine="kv",operation="write",outcome="ok"}' in metrics
    assert "http_request_duration_seconds_bucket" in metrics
    # Labels are templates: no path, subject or value of any request appears.
    for leak in (secret_value, secret_path, "agent_api"):
        assert leak not in metrics


def test_metrics_and_unknown_routes_are_not_reachable_through_envoy(stack):
    for path in ("/metrics", "/admin", "/secretsX"):
        response = requests.get(f"{stack.envoy_url}{path}", headers={"X-API-Key": "dev-key"}, timeout=10)
        assert (response.status_code, response.json()["error"]) == (404, "unknown_route"), path


@pytest.fixture(scope="module")
def fragile(built, tmp_path_factory):
    """A stack of its own, since its OpenBao is stopped and started again."""
    running = start_stack(tmp_path_factory, "fragile", filter_overrides=UNLIMITED)
    yield running
    running.stop()


def test_vault_down_gives_503_then_recovers_without_restarting_the_backend(fragile):
    headers = {"X-API-Key": "dev-key"}
    url = f"{fragile.envoy_url}/secrets/outage/probe"
    assert requests.put(url, json={"data": {"v": 1}}, headers=headers, timeout=10).ok
    fragile.stop_process("openbao")
    down = requests.get(url, headers=headers, timeout=15)
    assert down.status_code == 503
    assert down.json()["error"] == "vault_unavailable"
    assert int(down.headers["retry-after"]) > 0
    write = requests.put(url, json={"data": {"v": 3}}, headers=headers, timeout=15)
    assert write.status_code == 503
    # Reads are tried once more, writes never.
    metrics = requests.get(f"{fragile.backend_url}/metrics", timeout=10).text
    assert 'vault_requests_total{engine="kv",operation="read",outcome="unavailable"} 2' in metrics
    assert 'vault_requests_total{engine="kv",operation="write",outcome="unavailable"} 1' in metrics
    ready = requests.get(f"{fragile.backend_url}/readyz", timeout=15)
    assert ready.status_code == 503 and "retry-after" in ready.headers
    # A dev server starts empty: start and provision it again, then the same backend serves.
    fragile.start_openbao()
    wait_for(lambda: requests.get(f"{fragile.backend_url}/readyz", timeout=10).status_code == 200)
    assert requests.put(url, json={"data": {"v": 2}}, headers=headers, timeout=10).json()["version"] == 1
    assert requests.get(url, headers=headers, timeout=10).json()["data"] == {"v": 2}


def test_rest_routes_can_be_switched_off(built, tmp_path_factory):
    running = start_stack(tmp_path_factory, "mcp_only", filter_overrides=UNLIMITED,
                         backend_env={"EXPOSE_REST_ROUTES": "false"})
    try:
        headers = {"X-API-Key": "dev-key"}
        response = requests.get(f"{running.envoy_url}/secrets/x", headers=headers, timeout=10)
        assert response.status_code == 404
        assert requests.get(f"{running.backend_url}/healthz", timeout=10).status_code == 200
        assert requests.get(f"{running.backend_url}/metrics", timeout=10).status_code == 200
        from support import call_tool

        tools, result = asyncio.run(call_tool(f"{running.envoy_url}/mcp", "dev-key", "kv.list", {}))
        assert "kv.read" in tools and not result.is_error
    finally:
        running.stop()


def test_no_secret_reaches_logs_or_metrics(stack):
    """Plant values through every kind of call, then read every log file of the stack."""
    planted = f"planted-secret-{uuid.uuid4().hex}"
    headers = {"X-API-Key": "dev-key"}
    token = stack.secrets.token("agent_api", "read write")
    requests.put(f"{stack.envoy_url}/secrets/leak/check", json={"data": {"v": planted}},
                 headers=headers, timeout=10)
    requests.get(f"{stack.envoy_url}/secrets/leak/check", headers={"Authorization": f"Bearer {token}"},
                 timeout=10)
    cipher = requests.post(f"{stack.envoy_url}/transit/encrypt", json={"text": planted},
                           headers=headers, timeout=10).json()["ciphertext"]
    requests.post(f"{stack.envoy_url}/transit/decrypt", json={"ciphertext": cipher}, headers=headers, timeout=10)
    requests.put(f"{stack.envoy_url}/secrets/leak/bad", data=f'{{"data": "{planted}"', headers=headers, timeout=10)
    creds = requests.post(f"{stack.envoy_url}/db/creds/readonly", headers=headers, timeout=30).json()
    forbidden = [planted, "dev-key", token, stack.secrets.assertion_key, stack.secrets.hs256_secret,
                 creds["password"], stack.secrets.postgres_password]
    logs = sorted(p for p in stack.logs.rglob("*.log") if p.name != "openbao.log")
    assert {p.name for p in logs} >= {"requests.log", "responses.log", "server.log", "envoy.log"}
    # Logs are written in batches: a last request's lines written means those before it are too
    # (server.log has its own writer, which lingers 10 ms: half a second is ample).
    wait_for_logged(stack, requests.get(f"{stack.envoy_url}/whoami", headers=headers, timeout=10))
    time.sleep(0.5)
    texts = {p.name: p.read_text(errors="replace") for p in logs}
    texts["metrics"] = requests.get(f"{stack.backend_url}/metrics", timeout=10).text
    for name, text in texts.items():
        for secret in forbidden:
            assert secret not in text, f"a secret appears in {name}"
    # The request logs do carry what an operator needs.
    line = next(json.loads(l) for l in texts["responses.log"].splitlines() if "/transit/decrypt" in l)
    assert line["fields"]["subject"] == "agent_api" and line["fields"]["status"] == 200


def test_request_ids_reach_vaults_audit_log(stack):
    """The stack's OpenBao has a file audit device and audits X-Request-Id (provisioning): a
    REST call and an MCP tool call are found there under the ids the caller got back."""
    rest = requests.get(f"{stack.envoy_url}/secrets/audit/none", headers={"X-API-Key": "dev-key"}, timeout=10)
    rest_id = rest.headers["x-request-id"]
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}}
    mcp = requests.post(f"{stack.envoy_url}/mcp", json={
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "transit.random", "arguments": {"bytes": 4}, "_meta": meta}},
        headers={"X-API-Key": "dev-key", "Accept": "application/json, text/event-stream",
                 "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call",
                 "Mcp-Name": "transit.random"}, timeout=10)
    assert mcp.status_code == 200, mcp.text
    mcp_id = mcp.headers["x-request-id"]

    def paths_for(request_id):
        entries = [json.loads(line) for line in stack.audit_log.read_text().splitlines()]
        return {e["request"]["path"] for e in entries
                if e.get("type") == "request" and request_id in e["request"].get("headers", {}).get("x-request-id", [])}

    wait_for(lambda: paths_for(rest_id) and paths_for(mcp_id), seconds=10)
    assert paths_for(rest_id) == {"secret/data/agents/agent_api/audit/none"}
    assert paths_for(mcp_id) == {"transit/random"}


def test_log_files_are_rotated_and_bounded(built, tmp_path_factory):
    """LOG_MAX_MB and LOG_KEEP bound what the backend writes, however busy it is; LOG_REQUESTS
    switches the per-request logs off. (A backend alone: /healthz needs no Vault.)"""
    def backend(name, **env):
        running = stacks.Stack(run_dir=tmp_path_factory.mktemp(name), ports=stacks.Ports.free(), with_envoy=False,
                               backend_env={"STANDALONE": "true", "VAULT_ADDR": "http://127.0.0.1:1",
                                            "API_KEYS_JSON": json.dumps({"k": {"subject": "a", "scopes": []}}),
                                            **env})
        running.start_backend()
        return running

    bounded = backend("bounded_logs", LOG_MAX_MB="0.01", LOG_KEEP="1")
    try:
        with requests.Session() as session:
            for _ in range(600):  # about 100 KB per log, ten times the cap
                assert session.get(f"{bounded.backend_url}/healthz", timeout=10).status_code == 200
    finally:
        bounded.stop()
    logs = bounded.logs / "backend"
    for name in ("requests.log", "responses.log"):
        files = sorted(p.name for p in logs.iterdir() if p.name.startswith(name))
        assert files == [name, f"{name}.1"], files  # rotated, and only LOG_KEEP kept
        total = sum((logs / f).stat().st_size for f in files)
        assert total <= 2 * (10_486 + 1_000), (name, total)
    quiet = backend("no_request_logs", LOG_REQUESTS="false")
    try:
        assert requests.get(f"{quiet.backend_url}/healthz", timeout=10).status_code == 200
    finally:
        quiet.stop()
    assert not any(p.name.startswith(("requests", "responses")) for p in (quiet.logs / "backend").iterdir())


def test_openbao_audit_log_is_rotated_and_bounded(built, tmp_path_factory):
    """The stack's OpenBao audit log is rotated by size (scripts/stack/rotate.py: rename, then
    SIGHUP, on which OpenBao reopens it): past the cap a new file starts, `audit_keep` old ones
    stay, every entry in them is whole, and OpenBao goes on auditing into the new file."""
    running = stacks.Stack(run_dir=tmp_path_factory.mktemp("audit_bounded"), ports=stacks.Ports.free(),
                           audit_max_mb=0.02, audit_keep=2)
    cap = int(0.02 * 1024 * 1024)
    try:
        running.start_vault()
        root = {"X-Vault-Token": stacks.ROOT_TOKEN}
        log = running.audit_log

        def rotated():
            return sorted(p.name for p in log.parent.iterdir() if re.fullmatch(re.escape(log.name) + r"\.\d+", p.name))

        # Three rounds, each writing past the cap and waiting for the watcher (it checks once a
        # second), so the count of rotations does not depend on how fast OpenBao answers.
        with requests.Session() as session:
            for round_ in range(1, 4):
                i = 0
                while not log.exists() or log.stat().st_size <= cap:
                    session.get(f"{running.openbao_url}/v1/secret/data/audit/{round_}/{i}", headers=root, timeout=10)
                    i += 1
                wait_for(lambda: log.exists() and log.stat().st_size <= cap, seconds=20)
                wait_for(lambda: len(rotated()) >= min(round_, 2), seconds=5)
        assert rotated() == [f"{log.name}.1", f"{log.name}.2"], rotated()  # `audit_keep` old ones, no more
        for name in [log.name, *rotated()]:
            for line in (log.parent / name).read_text().splitlines():
                json.loads(line)  # whole entries only
        marker = f"after-rotation-{uuid.uuid4().hex[:8]}"
        assert requests.get(f"{running.openbao_url}/v1/secret/data/{marker}", headers=root, timeout=10).status_code == 404
        wait_for(lambda: marker in log.read_text(), seconds=10)
    finally:
        running.stop()

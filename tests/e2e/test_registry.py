"""Agents as data: the registry in OpenBao, changed with `vault-mcp-bridge agents …` or
`/admin/agents` while Envoy runs, followed by the filter (2 workers) within its refresh interval.
One edge stack (TLS and mTLS listeners) of its own: these tests disable, remove and stop things."""

import collections
import contextlib
import dataclasses
import hashlib
import json
import os
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import jwt as pyjwt
import pytest
import requests
import yaml

import stack as stacks
from attacks import META, MCP_HEADERS
from support import UNLIMITED, agents_cli, envoy_stat, log_lines, start_stack, wait_for

#: The dev stack's refresh (2 s) plus a tick and the fetch: a change shows well within this.
PROPAGATION = 10


@pytest.fixture(scope="module")
def reg(built, tmp_path_factory):
    # A second database role the configuration allows (Vault has no such role), so an agent's
    # own role list can be narrower than the configuration's.
    # Two workers: a registry change must reach each of them.
    running = start_stack(tmp_path_factory, "registry", filter_overrides=UNLIMITED, edge=True,
                          envoy_concurrency=2, backend_env={"DATABASE_ROLES": "readonly,reporting"})
    yield running
    running.stop()


def call(stack, method: str, path: str, key: str | None = None, **kwargs):
    headers = kwargs.pop("headers", {})
    if key:
        headers["X-API-Key"] = key
    return requests.request(method, f"{stack.envoy_url}{path}", headers=headers,
                            verify=str(stack.certs / "ca.crt"), timeout=10, **kwargs)


def changed(check, seconds: float = PROPAGATION) -> None:
    """Waits until `check` holds, then one tick more: the worker that fetched a snapshot uses it
    at once, every other worker at its next one-second tick."""
    wait_for(check, seconds)
    time.sleep(1.1)


def status(stack, key: str) -> int:
    return call(stack, "GET", "/whoami", key).status_code


def add(stack, *args: str) -> dict:
    return json.loads(agents_cli(stack, "add", *args, "--json").stdout)


def tool_call(stack, tool: str, arguments: dict, key: str):
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments, "_meta": META}}
    headers = {**MCP_HEADERS, "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": tool}
    return call(stack, "POST", "/mcp", key, data=json.dumps(body), headers=headers)


def name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:6]}"


def hs256(stack, subject: str) -> str:
    now = int(time.time())
    claims = {"sub": subject, "scope": "read list", "iss": stacks.JWT_ISSUER, "aud": stacks.JWT_AUDIENCE,
              "iat": now, "exp": now + 300}
    return pyjwt.encode(claims, stack.secrets.hs256_secret, algorithm="HS256", headers={"kid": stacks.HS256_KID})


def test_an_added_agent_works_through_the_running_envoy(reg):
    envoy = reg.processes["envoy"]
    subject = name("new")
    issued = add(reg, subject, "--scopes", "read,write,list")
    key = issued["api_key"]
    assert key.startswith("vmb_") and len(key) == 47 and issued["subject"] == subject
    changed(lambda: status(reg, key) == 200, PROPAGATION)
    me = call(reg, "GET", "/whoami", key).json()
    assert me == {"subject": subject, "scopes": ["list", "read", "write"]}
    assert call(reg, "PUT", "/secrets/a", key, json={"data": {"k": "v"}}).status_code == 200
    refused = call(reg, "DELETE", "/secrets/a", key)
    assert (refused.status_code, refused.json()["error"]) == (403, "insufficient_scope")
    # Same Envoy process throughout.
    assert reg.processes["envoy"] is envoy and envoy.poll() is None
    # Operators see key ids, never a key or its digest.
    listing = agents_cli(reg, "list", "--json").stdout + agents_cli(reg, "show", subject).stdout
    assert key not in listing and hashlib.sha256(key.encode()).hexdigest() not in listing
    assert issued["key_id"] in listing
    assert envoy_stat(reg, "vault_mcp_filter.registry.agents") >= 5


def test_an_agents_own_tool_limit_applies_and_changes_while_envoy_runs(reg):
    subject = name("tools")
    key = add(reg, subject, "--scopes", "read,write", "--tool-rate", "kv.write=1/3600")["api_key"]
    changed(lambda: status(reg, key) == 200, PROPAGATION)
    def write():
        return tool_call(reg, "kv.write", {"path": "t", "data": {"a": "b"}}, key)

    assert write().status_code == 200
    limited = write()
    assert (limited.status_code, limited.json()["error"]) == (429, "rate_limited")
    # Its other tools keep the edge's limit (unlimited in this stack).
    for _ in range(3):
        assert tool_call(reg, "kv.read", {"path": "t"}, key).status_code == 200
    # Lifted while Envoy runs: the next write goes through.
    agents_cli(reg, "update", subject, "--no-tool-rates")
    changed(lambda: write().status_code == 200, PROPAGATION)
    shown = json.loads(agents_cli(reg, "show", subject).stdout)
    assert "tool_rates" not in shown
    refused = agents_cli(reg, "update", subject, "--tool-rate", "shell.exec=1/60", check=False)
    assert refused.returncode != 0 and "not an MCP tool" in refused.stderr


def test_rotation_without_and_with_grace(reg):
    subject = name("rot")
    first = add(reg, subject, "--scopes", "read")["api_key"]
    changed(lambda: status(reg, first) == 200, PROPAGATION)
    second = json.loads(agents_cli(reg, "rotate-key", subject, "--grace", "0", "--json").stdout)["api_key"]
    changed(lambda: status(reg, second) == 200 and status(reg, first) == 401, PROPAGATION)
    third = json.loads(agents_cli(reg, "rotate-key", subject, "--grace", "20", "--json").stdout)["api_key"]
    changed(lambda: status(reg, third) == 200, PROPAGATION)
    assert status(reg, second) == 200, "the grace period keeps the old key"
    changed(lambda: status(reg, second) == 401, PROPAGATION + 20)
    assert status(reg, third) == 200
    # Revoking the only key leaves the agent without one.
    key_id = json.loads(agents_cli(reg, "show", subject).stdout)["keys"][-1]["id"]
    agents_cli(reg, "revoke-key", subject, key_id)
    changed(lambda: status(reg, third) == 401, PROPAGATION)


def test_disable_refuses_key_token_and_certificate_and_keeps_data(reg):
    key = "dev-key-b"
    path = f"/secrets/kept/{uuid.uuid4().hex[:6]}"
    assert call(reg, "PUT", path, key, json={"data": {"k": "kept"}}).status_code == 200
    cert = (str(reg.certs / "client-agent_b.crt"), str(reg.certs / "client-agent_b.key"))
    bearer = {"Authorization": f"Bearer {hs256(reg, 'agent_b')}"}

    def by_cert():
        return requests.get(f"{reg.mtls_url}/whoami", cert=cert, verify=str(reg.certs / "ca.crt"), timeout=10)

    assert by_cert().status_code == 200 and call(reg, "GET", "/whoami", headers=dict(bearer)).status_code == 200
    agents_cli(reg, "disable", "agent_b")
    try:
        changed(lambda: status(reg, key) == 403, PROPAGATION)
        for response in (call(reg, "GET", path, key), call(reg, "GET", "/whoami", headers=dict(bearer)), by_cert()):
            assert (response.status_code, response.json()["error"]) == (403, "agent_disabled")
        # Other agents are untouched, and the data is still in OpenBao.
        assert status(reg, "dev-key") == 200
        stored = requests.get(f"{reg.openbao_url}/v1/secret/data/agents/agent_b{path.removeprefix('/secrets')}",
                              headers={"X-Vault-Token": stacks.ROOT_TOKEN}, timeout=10)
        assert stored.json()["data"]["data"] == {"k": "kept"}
    finally:
        agents_cli(reg, "enable", "agent_b")
    changed(lambda: status(reg, key) == 200, PROPAGATION)
    assert call(reg, "GET", path, key).json()["data"] == {"k": "kept"}


def test_remove_keeps_the_data_unless_told_to_destroy_it(reg):
    subject = name("gone")
    key = add(reg, subject, "--scopes", "read,write")["api_key"]
    changed(lambda: status(reg, key) == 200, PROPAGATION)
    assert call(reg, "PUT", "/secrets/notes/a", key, json={"data": {"n": 1}}).status_code == 200
    stored = f"{reg.openbao_url}/v1/secret/data/agents/{subject}/notes/a"
    root = {"X-Vault-Token": stacks.ROOT_TOKEN}
    assert "kept" in agents_cli(reg, "remove", subject).stdout
    changed(lambda: status(reg, key) == 401, PROPAGATION)
    assert requests.get(stored, headers=root, timeout=10).json()["data"]["data"] == {"n": 1}
    # Added again, the agent finds its data.
    again = add(reg, subject, "--scopes", "read")["api_key"]
    changed(lambda: status(reg, again) == 200, PROPAGATION)
    assert call(reg, "GET", "/secrets/notes/a", again).json()["data"] == {"n": 1}
    out = agents_cli(reg, "remove", subject, "--destroy-data").stdout
    assert "1 secrets" in out
    assert requests.get(stored, headers=root, timeout=10).status_code == 404


def test_certificates_and_roles_are_the_agents_own(reg, tmp_path):
    """A client certificate the registry names (not in the filter's configuration) is its
    agent; an agent's role list narrows the configured one."""
    cn = f"billing bot.{uuid.uuid4().hex[:6]}"
    key, crt = tmp_path / "client.key", tmp_path / "client.crt"
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(tmp_path / "client.csr"), "-subj", f"/O=Vault MCP Bridge Dev/CN={cn}"],
                   check=True, capture_output=True)
    (tmp_path / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    subprocess.run(["openssl", "x509", "-req", "-in", str(tmp_path / "client.csr"), "-CA", str(reg.certs / "ca.crt"),
                    "-CAkey", str(reg.certs / "ca.key"), "-CAcreateserial", "-CAserial", str(tmp_path / "ca.srl"),
                    "-out", str(crt), "-days", "1", "-extfile", str(tmp_path / "client.ext")],
                   check=True, capture_output=True)

    def by_cert(path="/whoami", method="GET"):
        return requests.request(method, f"{reg.mtls_url}{path}", cert=(str(crt), str(key)),
                                verify=str(reg.certs / "ca.crt"), timeout=10)

    assert (by_cert().status_code, by_cert().json()["error"]) == (401, "unknown_client_certificate")
    subject = name("billing")
    add(reg, subject, "--scopes", "read,write", "--certificate-cn", cn, "--database-roles", "readonly")
    changed(lambda: by_cert().status_code == 200)
    assert by_cert().json() == {"subject": subject, "scopes": ["read", "write"]}
    # Its roles: readonly (real PostgreSQL credentials), not reporting, which the configuration allows.
    assert by_cert("/db/creds/readonly").json()["username"]
    refused = by_cert("/db/creds/reporting")
    assert (refused.status_code, refused.json()["error"]) == (403, "not_allowed")
    # An agent without a role list may ask for any configured role (here Vault has no such role).
    unrestricted = call(reg, "GET", "/db/creds/reporting", "dev-key")
    assert unrestricted.json()["error"] != "not_allowed"
    # The name cannot be given to a second agent; taking it away refuses the certificate.
    taken = agents_cli(reg, "add", name("dup"), "--scopes", "read", "--certificate-cn", cn, check=False)
    assert taken.returncode == 1 and "belongs to agent" in taken.stderr
    bad_role = agents_cli(reg, "update", subject, "--ssh-sign-roles", "root", check=False)
    assert bad_role.returncode == 1 and "not one of the configured ones" in bad_role.stderr
    agents_cli(reg, "update", subject, "--no-certificate")
    changed(lambda: by_cert().status_code == 401)


def test_many_changes_at_once_all_arrive(reg):
    """The backend re-reads only the agents a change names, and everything after many changes
    at once: either way every one of a burst of changes reaches the edge."""
    operator = add(reg, name("burst_ops"), "--scopes", "admin")["api_key"]
    changed(lambda: call(reg, "GET", "/admin/agents", operator).status_code == 200)
    keys = [call(reg, "POST", "/admin/agents", operator, json={"subject": name("burst"), "scopes": ["read"]}).json()["api_key"]
            for _ in range(12)]
    changed(lambda: all(status(reg, key) == 200 for key in keys))


def test_cli_refuses_bad_input_clearly(reg):
    cases = [
        (("show", "nobody_here"), "no agent"),
        (("add", "agent_api", "--scopes", "read"), "exists already"),
        (("add", "a/b", "--scopes", "read"), "not a valid agent name"),
        (("add", name("x"), "--scopes", "read,root"), "unknown scope"),
        (("add", name("x"), "--scopes", "read", "--key-sha256", "zz"), "64 hex digits"),
        (("rotate-key", "nobody_here"), "no agent"),
        (("revoke-key", "agent_api", "nokey"), "has no key"),
        (("remove", "../x"), "not a valid agent name"),
    ]
    for args, message in cases:
        done = agents_cli(reg, *args, check=False)
        assert done.returncode == 1 and message in done.stderr, (args, done.stderr)
    bad_rate = agents_cli(reg, "add", name("x"), "--scopes", "read", "--rate", "fast", check=False)
    assert bad_rate.returncode == 2 and "REQUESTS/SECONDS" in bad_rate.stderr


def test_admin_routes_need_the_admin_scope(reg):
    refused = call(reg, "GET", "/admin/agents", "dev-key")
    assert (refused.status_code, refused.json()["error"]) == (403, "insufficient_scope")
    operator = name("ops")
    admin = add(reg, operator, "--scopes", "admin")["api_key"]
    changed(lambda: call(reg, "GET", "/admin/agents", admin).status_code == 200, PROPAGATION)
    subjects = [a["subject"] for a in call(reg, "GET", "/admin/agents", admin).json()["agents"]]
    assert {"agent_api", "agent_b", operator} <= set(subjects)
    # An operator holds no agent scope: its own corner is closed to it.
    assert call(reg, "GET", "/secrets/x", admin).status_code == 403

    subject = name("http")
    created = call(reg, "POST", "/admin/agents", admin, json={"subject": subject, "scopes": ["read"]})
    assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
    key = created.json()["api_key"]
    changed(lambda: status(reg, key) == 200, PROPAGATION)
    patched = call(reg, "PATCH", f"/admin/agents/{subject}", admin, json={"enabled": False, "scopes": ["read", "list"]})
    assert patched.json()["enabled"] is False and patched.json()["scopes"] == ["list", "read"]
    changed(lambda: status(reg, key) == 403, PROPAGATION)
    rotated = call(reg, "POST", f"/admin/agents/{subject}/keys", admin, json={"grace_seconds": 0})
    assert rotated.status_code == 201 and rotated.json()["api_key"] != key
    for method, path, body, expected in [
        ("GET", "/admin/agents/nobody_here", None, (404, "not_found")),
        ("POST", "/admin/agents", {"subject": subject, "scopes": ["read"]}, (409, "conflict")),
        ("POST", "/admin/agents", {"subject": "a b", "scopes": ["read"]}, (400, "invalid_request")),
        ("POST", "/admin/agents", {"subject": name("y"), "scopes": ["sudo"]}, (400, "invalid_request")),
        ("POST", "/admin/agents", {"subject": name("y"), "scopes": []}, (400, "invalid_request")),
        ("DELETE", f"/admin/agents/{subject}/keys/nokey", None, (404, "not_found")),
    ]:
        response = call(reg, method, path, admin, json=body)
        assert (response.status_code, response.json()["error"]) == expected, (method, path, response.text)
    assert call(reg, "DELETE", f"/admin/agents/{subject}", admin).json()["subject"] == subject
    # Every change is logged with the operator and the request id (logs are written in batches).
    server_log = reg.logs / "backend" / "server.log"

    def mine() -> list[dict]:
        changes = [line["fields"] for line in log_lines(server_log)
                   if line["fields"].get("message") == "registry change"]
        return [c for c in changes if c["operator"] == operator]
    wait_for(lambda: len(mine()) >= 4)
    changes = mine()
    assert [c["action"] for c in changes] == ["add", "update", "rotate_key", "remove"]
    assert all(c["request_id"] and c["agent"] == subject for c in changes)
    assert key not in server_log.read_text()


def test_envoy_started_without_the_registry_fails_closed(reg):
    """Envoy restarted while the registry cannot be fetched: registry agents and tokens get 503
    registry_unavailable, a static key in the filter's own configuration still works."""
    static_key = f"static-{uuid.uuid4().hex}"
    registry_key = add(reg, name("closed"), "--scopes", "read")["api_key"]
    saved = reg.filter_overrides
    reg.filter_overrides = {**UNLIMITED, "registry": {"path": "/_bridge/nowhere"}, "api_keys": [
        {"sha256": hashlib.sha256(static_key.encode()).hexdigest(), "subject": "static_ops", "scopes": ["read"]}]}
    reg.wait_for_registry = False
    try:
        reg.stop_process("envoy")
        reg.start_envoy()
        time.sleep(3)  # a few failed fetches
        for response in (call(reg, "GET", "/whoami", registry_key), call(reg, "GET", "/whoami", "dev-key"),
                         call(reg, "GET", "/whoami", headers={"Authorization": f"Bearer {hs256(reg, 'agent_api')}"})):
            assert (response.status_code, response.json()["error"]) == (503, "registry_unavailable")
        assert call(reg, "GET", "/whoami", static_key).json()["subject"] == "static_ops"
        assert envoy_stat(reg, "vault_mcp_filter.registry_fetch.failed") >= 1
    finally:
        reg.filter_overrides, reg.wait_for_registry = saved, True
        reg.stop_process("envoy")
        reg.start_envoy()
    assert status(reg, registry_key) == 200


def test_bad_snapshots_are_refused_and_the_last_good_one_kept(reg):
    """The filter pointed at a file server instead of the backend, serving a good snapshot, then
    broken ones: each is refused (and counted), the agent keeps working, a good one applies."""
    key = f"file-{uuid.uuid4().hex}"
    digest = hashlib.sha256(key.encode()).hexdigest()
    served = reg.jwks_dir / "registry.json"

    def serve(document) -> None:
        served.write_text(document if isinstance(document, str) else json.dumps(document))

    def agent(**changes):
        return {"agents": [{"subject": "file_agent", "enabled": True, "scopes": ["read"],
                            "keys": [{"id": "k1", "sha256": digest}], **changes}]}

    serve(agent())
    saved = reg.filter_overrides
    reg.filter_overrides = {**UNLIMITED, "registry": {
        "cluster": "jwks", "authority": f"127.0.0.1:{reg.ports.jwks}", "path": "/registry.json",
        "refresh_seconds": 1, "max_bytes": 4096}}
    reg.wait_for_registry = False
    try:
        reg.stop_process("envoy")
        reg.start_envoy()
        changed(lambda: status(reg, key) == 200)
        for broken in ["{", json.dumps({"agents": "none"}), json.dumps(agent(subject="../x")),
                       json.dumps(agent(keys=[{"id": "k", "sha256": "zz"}])),
                       json.dumps({**agent(), "padding": "x" * 5000})]:
            failed = envoy_stat(reg, "vault_mcp_filter.registry_fetch.failed")
            serve(broken)
            wait_for(lambda: envoy_stat(reg, "vault_mcp_filter.registry_fetch.failed") >= failed + 2)
            assert status(reg, key) == 200, broken[:60]
        log = (reg.logs / "envoy.log").read_text()
        assert "registry fetch refused" in log and "over max_bytes" in log and "valid subject" in log
        serve(agent(enabled=False))
        changed(lambda: status(reg, key) == 403)
    finally:
        reg.filter_overrides, reg.wait_for_registry = saved, True
        reg.stop_process("envoy")
        reg.start_envoy()


def test_two_envoys_follow_one_registry(reg, tmp_path):
    """A second Envoy (2 workers) in front of the same backend: a change reaches both."""
    ports = dataclasses.replace(stacks.Ports.free(), backend=reg.ports.backend, jwks=reg.ports.jwks)
    config = stacks.render_envoy_config(ports, stacks.merged(stacks.filter_config(ports), UNLIMITED))
    (tmp_path / "envoy.yaml").write_text(yaml.safe_dump(config))
    log = tmp_path / "envoy.log"
    second = subprocess.Popen(
        [str(stacks.VENV_BIN / "envoy"), "-c", str(tmp_path / "envoy.yaml"), "--concurrency", "2",
         "--use-dynamic-base-id", "--log-level", "warn"], cwd=stacks.ROOT, stdout=log.open("wb"),
        stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "JWT_HS256_SECRET": reg.secrets.hs256_secret,
             "AGENT_ASSERTION_KEY": reg.secrets.assertion_key})
    try:
        subject = name("both")
        key = add(reg, subject, "--scopes", "read")["api_key"]

        def both() -> tuple[int, int]:
            try:
                there = requests.get(f"http://127.0.0.1:{ports.envoy}/whoami", headers={"X-API-Key": key},
                                     timeout=10).status_code
            except requests.ConnectionError:
                there = 0  # not listening yet
            return status(reg, key), there

        changed(lambda: both() == (200, 200), 30)  # the second Envoy starts meanwhile
        agents_cli(reg, "disable", subject)
        changed(lambda: both() == (403, 403))
    finally:
        stacks.stop_process(second.pid, second)


def test_only_the_edge_reads_the_snapshot(reg):
    # Through Envoy the route does not exist, whoever asks.
    through = call(reg, "GET", "/_bridge/registry", "dev-key")
    assert (through.status_code, through.json()["error"]) == (404, "unknown_route")
    direct = f"{reg.backend_url}/_bridge/registry"
    assert requests.get(direct, timeout=10).status_code == 401
    forged = {"x-agent-edge": f"v2.{int(time.time())}.{'0' * 64}"}
    assert requests.get(direct, headers=forged, timeout=10).status_code == 401
    # An agent's assertion (signed with the right key) is not the edge's.
    now = int(time.time())
    agent_proof = {"x-agent-edge": reg.secrets.assertion("agent_api", "read", now, "")}
    assert requests.get(direct, headers=agent_proof, timeout=10).status_code == 401
    other_path = {"x-agent-edge": reg.secrets.assertion("", "edge", now, "/_bridge/other")}
    assert requests.get(direct, headers=other_path, timeout=10).status_code == 401
    edge_proof = {"x-agent-edge": reg.secrets.assertion("", "edge", now, "/_bridge/registry")}
    snapshot = requests.get(direct, headers=edge_proof, timeout=10)
    assert snapshot.status_code == 200 and snapshot.headers["cache-control"] == "no-store"
    document = snapshot.json()
    assert "agent_api" in {a["subject"] for a in document["agents"]}
    assert "dev-key" not in snapshot.text  # digests only
    again = requests.get(direct, headers={**edge_proof, "If-None-Match": snapshot.headers["etag"]}, timeout=10)
    assert again.status_code == 304


def test_many_records_are_read_once_however_impatient_the_fetches(reg):
    """A backend reads every record at its first fetch; with many records that takes longer
    than a fetch may wait (the edge gives up after 2 s). Fetches meanwhile (the edge's, every
    2 s, and one that gives up at once) wait for that one read instead of starting their own,
    and it finishes without them: each record read once (OpenBao's audit log), then served."""
    prefix, count, now = name("bulk"), 1500, int(time.time())
    root = {"X-Vault-Token": stacks.ROOT_TOKEN}

    def put(i: int) -> None:
        subject = f"{prefix}_{i:04d}"
        digest = hashlib.sha256(f"{prefix}-{i}".encode()).hexdigest()
        record = {"subject": subject, "enabled": True, "scopes": ["read"], "created": now, "updated": now,
                  "keys": [{"id": f"{i:012x}", "sha256": digest, "created": now}]}
        requests.put(f"{reg.openbao_url}/v1/secret/data/_bridge/agents/{subject}", json={"data": record},
                     headers=root, timeout=30).raise_for_status()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(count)))
    # Written behind the registry's back (no generation moved): a backend started now reads
    # them all at its first fetch, the edge's or this test's, whichever comes first.
    reg.stop_process("backend")
    audit_from = reg.audit_log.stat().st_size
    reg.start_backend()
    direct = f"{reg.backend_url}/_bridge/registry"

    def fetch(timeout: float) -> requests.Response:
        proof = {"x-agent-edge": reg.secrets.assertion("", "edge", int(time.time()), "/_bridge/registry")}
        return requests.get(direct, headers=proof, timeout=timeout)

    with contextlib.suppress(requests.Timeout):
        fetch(0.1)  # gives up at once

    def bulk_agents() -> int:
        return sum(a["subject"].startswith(prefix) for a in fetch(60).json()["agents"])

    wait_for(lambda: bulk_agents() == count, 60)

    def reads() -> collections.Counter:
        with reg.audit_log.open("rb") as log:
            log.seek(audit_from)
            entries = [json.loads(line) for line in log.read().splitlines() if line.strip()]
        return collections.Counter(e["request"]["path"] for e in entries
                                   if e.get("type") == "request" and e["request"].get("operation") == "read"
                                   and e["request"]["path"].startswith(f"secret/data/_bridge/agents/{prefix}_"))

    wait_for(lambda: len(reads()) == count, 10)  # the audit log is written as OpenBao answers
    assert set(reads().values()) == {1}


def test_the_edge_keeps_its_snapshot_while_backend_or_vault_is_down(reg):
    """Last: it stops this module's OpenBao for good (a dev server keeps nothing)."""
    key = add(reg, name("kept"), "--scopes", "read")["api_key"]
    changed(lambda: status(reg, key) == 200, PROPAGATION)
    failed = envoy_stat(reg, "vault_mcp_filter.registry_fetch.failed")
    reg.stop_process("backend")
    try:
        wait_for(lambda: envoy_stat(reg, "vault_mcp_filter.registry_fetch.failed") > failed, PROPAGATION)
        # The filter still knows the agent: the request passes it and finds no backend.
        response = call(reg, "GET", "/whoami", key)
        assert response.status_code == 503 and "registry_unavailable" not in response.text
    finally:
        reg.start_backend()
    assert status(reg, key) == 200
    reg.stop_process("openbao")
    failed = envoy_stat(reg, "vault_mcp_filter.registry_fetch.failed")
    wait_for(lambda: envoy_stat(reg, "vault_mcp_filter.registry_fetch.failed") > failed + 1, PROPAGATION)
    # /whoami needs no Vault: the registry agent is still served from the last snapshot.
    assert status(reg, key) == 200 and status(reg, "dev-key") == 200

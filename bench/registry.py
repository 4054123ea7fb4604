"""The agent registry at scale (issue #14).

- Edge: two Envoys with the filter, each following a registry snapshot served with ETags as
  the backend serves it (`snapshot_server.py`), one with 4 agents and one with 10,000 (the bench agent among them); the same API-key
  request against both, interleaved. The filter finds a key by one hash lookup, so the two
  should cost the same; Envoy's memory after the run shows what 10,000 agents hold.
- Backend: 10,000 records written into OpenBao, then `GET /_bridge/registry` as the edge calls
  it (signed): the first call (every record read), the first call after one change (only that
  agent read again), a call while nothing changed (one Vault read of the generation, or none
  within a second), and the 304 an unchanged `ETag` gets.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import edge
import stack as stacks

AGENTS = 10_000
PATH = "/_bridge/registry"


def snapshot(count: int) -> dict:
    """`count` agents, the bench agent first, every one with a key and the dev scopes."""
    agents = [{"subject": edge.SUBJECT, "enabled": True, "scopes": edge.SCOPES.split(),
               "keys": [{"id": "bench", "sha256": hashlib.sha256(edge.API_KEY.encode()).hexdigest()}],
               "rate": edge.HUGE_BUCKET}]
    for i in range(count - 1):
        agents.append({"subject": f"agent_{i:05d}", "enabled": i % 10 != 0, "scopes": ["read", "list"],
                       "keys": [{"id": f"k{i:05d}", "sha256": hashlib.sha256(f"vmb_key_{i}".encode()).hexdigest()}]})
    return {"agents": agents}


def filter_entry(material: edge.Material, port: int, path: str) -> dict:
    """The filter as in envoy/envoy.yaml: no static keys, the registry from the file server."""
    config = edge.filter_config(material)
    del config["api_keys"]
    config["rate_limit"].pop("subjects")
    config["registry"] = {"cluster": "registry", "authority": f"127.0.0.1:{port}", "path": path}
    entry = edge.wasm_filter(material, stacks.FILTER_WASM)
    entry["typed_config"]["config"]["configuration"]["value"] = json.dumps(config)
    return entry


def cluster(port: int) -> dict:
    return {"name": "registry", "type": "STATIC", "connect_timeout": "1s",
            "load_assignment": {"cluster_name": "registry", "endpoints": [{"lb_endpoints": [{"endpoint": {
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]}}


def serve_files(folder: Path, port: int, cpu: str) -> subprocess.Popen:
    log = folder.parent / "registry-files.log"
    server = Path(__file__).with_name("snapshot_server.py")
    process = subprocess.Popen(["taskset", "-c", cpu, sys.executable, str(server), str(folder), str(port)],
                               stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    stacks.wait_until("registry file server",
                      lambda: stacks.http_status(f"http://127.0.0.1:{port}/4.json") == 200, process, log)
    return process


def edge_proof(stack: stacks.Stack) -> str:
    """`x-agent-edge` as the filter signs its registry fetch."""
    return stack.secrets.assertion("", "edge", int(time.time()), PATH)


def urlopen_body(url: str, headers: dict) -> bytes:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=120) as response:
        return response.read()


def timed_get(url: str, headers: dict) -> tuple[int, float, int, str]:
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=120) as response:
            body = response.read()
            status, etag = response.status, response.headers.get("etag", "")
    except urllib.error.HTTPError as error:
        body, status, etag = b"", error.code, error.headers.get("etag", "")
    return status, (time.perf_counter() - started) * 1000, len(body), etag


def backend_fetch_times(stack: stacks.Stack, log, count: int = AGENTS) -> dict:
    """`count` records in OpenBao, then the snapshot as the edge fetches it."""
    root = {"X-Vault-Token": stacks.ROOT_TOKEN, "Content-Type": "application/json"}
    document = snapshot(count)["agents"]
    now = int(time.time())

    def put(agent: dict) -> None:
        record = {"subject": agent["subject"], "enabled": agent["enabled"], "scopes": agent["scopes"],
                  "keys": [{**k, "created": now} for k in agent["keys"]], "created": now, "updated": now}
        request = urllib.request.Request(f"{stack.openbao_url}/v1/secret/data/_bridge/agents/{agent['subject']}",
                                         data=json.dumps({"data": record}).encode(), headers=root, method="PUT")
        urllib.request.urlopen(request, timeout=30).read()

    log(f"writing {count - 1} registry records into OpenBao")
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, document[1:]))
    written_s = time.monotonic() - started
    url = f"{stack.backend_url}{PATH}"

    def change() -> None:
        # One change through the operator's path moves the generation.
        subprocess.run([str(stack.backend_bin), "agents", "add", f"marker_{time.monotonic_ns()}", "--scopes", "read"],
                       check=True, capture_output=True,
                       env={"VAULT_ADDR": stack.openbao_url, "VAULT_TOKEN": stacks.ROOT_TOKEN, "PATH": "/usr/bin:/bin"})
        time.sleep(1.1)  # past the backend's one-second recheck

    # The direct writes moved no generation: a backend started now reads every record at its
    # first fetch, as one does at start (or every ten minutes, or after more than 8 changes).
    # Envoy stopped first: its own fetch must not be the one that reads them.
    stack.stop_process("envoy")
    stack.stop_process("backend")
    stack.start_backend()
    headers = {"x-agent-edge": edge_proof(stack)}
    status, full_ms, size, _ = timed_get(url, headers)
    assert status == 200, status
    count = len(json.loads(urlopen_body(url, headers))["agents"])
    caught_up, cached, unchanged = [], [], []
    for _ in range(3):
        change()
        headers = {"x-agent-edge": edge_proof(stack)}
        status, ms, size, etag = timed_get(url, headers)
        assert status == 200, status
        caught_up.append(ms)
        status, ms, _, _ = timed_get(url, headers)
        assert status == 200, status
        cached.append(ms)
        status, ms, _, _ = timed_get(url, {**headers, "If-None-Match": etag})
        assert status == 304, status
        unchanged.append(ms)
    assert len(json.loads(urlopen_body(url, headers))["agents"]) == count + 3
    return {"agents": count, "records_written_s": written_s, "snapshot_bytes": size, "full_read_ms": full_ms,
            "catch_up_ms": caught_up, "cached_ms": cached, "not_modified_ms": unchanged}

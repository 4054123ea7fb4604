"""Vault HA: three OpenBao nodes on integrated storage (Raft) behind an Envoy that sends the
backends to the active node only (stack/cluster.py). The active node is killed (SIGKILL) under a
mixed load of KV writes and reads through the edge: every write answered 200 is readable
afterwards, the errors are Vault's own 503s and only after the kill, the edge keeps
authenticating from its registry snapshot meanwhile, and the backends follow the new leader
without a restart."""

import threading
import time
import uuid

import pytest
import requests

from support import UNLIMITED, start_stack, wait_for

WRITERS, READERS = 4, 2


@pytest.fixture(scope="module")
def ha(built, tmp_path_factory):
    running = start_stack(tmp_path_factory, "ha", filter_overrides=UNLIMITED, vault_nodes=3)
    yield running
    running.stop()


def balanced(cluster, dead) -> bool:
    """The balancer holds the dead node unhealthy and the active one healthy."""
    active = cluster.active()
    if active is None or active is dead:
        return False
    lines = requests.get(f"http://127.0.0.1:{cluster.admin_port}/clusters", timeout=5).text.splitlines()

    def flags(node) -> str:
        return next((line.rsplit("::", 1)[1] for line in lines
                     if f":{node.api_port}::health_flags::" in line), "")

    return flags(active) == "healthy" and "failed_active_hc" in flags(dead)


def test_killing_the_active_node_under_load_loses_no_acknowledged_write(ha):
    backends = {name: p.pid for name, p in ha.processes.items() if name.startswith("backend")}
    run = uuid.uuid4().hex[:8]
    headers = {"X-API-Key": "dev-key"}
    acknowledged: list[tuple[str, str]] = []
    outcomes: list[tuple[float, str, int, str]] = []  # (time, kind, status, code)
    lock, stop = threading.Lock(), threading.Event()

    def record(kind: str, response: requests.Response) -> None:
        code = ""
        if response.status_code != 200:
            try:
                code = response.json().get("error", "")
            except ValueError:
                code = response.text[:40]
        with lock:
            outcomes.append((time.monotonic(), kind, response.status_code, code))

    def writer(n: int) -> None:
        with requests.Session() as session:
            i = 0
            while not stop.is_set():
                path, value = f"ha-{run}/{n}/{i}", uuid.uuid4().hex
                try:
                    response = session.put(f"{ha.envoy_url}/secrets/{path}", json={"data": {"v": value}},
                                           headers=headers, timeout=30)
                except requests.RequestException:
                    continue  # no answer: not acknowledged (it may or may not have landed)
                record("write", response)
                if response.status_code == 200:
                    with lock:
                        acknowledged.append((path, value))
                i += 1

    def reader(n: int) -> None:
        path = f"ha-{run}/read/{n}"
        assert requests.put(f"{ha.envoy_url}/secrets/{path}", json={"data": {"v": "r"}}, headers=headers,
                            timeout=30).status_code == 200
        with requests.Session() as session:
            while not stop.is_set():
                try:
                    record("read", session.get(f"{ha.envoy_url}/secrets/{path}", headers=headers, timeout=30))
                except requests.RequestException:
                    pass

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    threads += [threading.Thread(target=reader, args=(n,)) for n in range(READERS)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(3)
        cluster = ha.vault_cluster
        killed = cluster.active()
        killed_at = time.monotonic()
        cluster.kill(killed)
        # Recovered once the balancer has taken the dead node out and sends to the new leader
        # (its admin's view); from then on a while more of load, all of it served.
        wait_for(lambda: balanced(cluster, killed), 60)
        recovered_at = time.monotonic()
        time.sleep(3)
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    failed = [(t, kind, status, code) for t, kind, status, code in outcomes if status != 200]
    before = [f for f in failed if f[0] < killed_at]
    assert not before, before
    # Only Vault being away: never a credential refused (the edge kept its registry snapshot).
    assert {(status, code) for _, _, status, code in failed} <= {(503, "vault_unavailable"), (502, "vault_error"),
                                                                 (504, "vault_timeout")}, failed
    served_after = [o for o in outcomes if o[0] > recovered_at]
    assert served_after and all(status == 200 for _, _, status, _ in served_after), served_after[:5]
    window = max((t for t, *_ in failed), default=killed_at) - killed_at
    print(f"\nkilled {killed.name}; new active {cluster.active().name}; errors for {window:.1f} s after the kill "
          f"({len(failed)} of {len(outcomes)} requests); {len(acknowledged)} writes acknowledged")

    # Every acknowledged write is there, through the bridge and on the new active node itself.
    direct = requests.Session()
    direct.headers["X-Vault-Token"] = "dev-root-token"
    for path, value in acknowledged:
        got = requests.get(f"{ha.envoy_url}/secrets/{path}", headers=headers, timeout=30)
        assert got.status_code == 200 and got.json()["data"] == {"v": value}, (path, got.text)
    new_active = cluster.active()
    for path, value in acknowledged[:: max(1, len(acknowledged) // 50)]:
        stored = direct.get(f"{new_active.url}/v1/secret/data/agents/agent_api/{path}", timeout=10)
        assert stored.json()["data"]["data"] == {"v": value}, path
    # The backends followed the new leader: the same processes.
    assert {name: p.pid for name, p in ha.processes.items() if name.startswith("backend")} == backends

    # The killed node comes back sealed; unsealed, it rejoins as a standby.
    cluster.restart(killed)
    wait_for(lambda: requests.get(f"{killed.url}/v1/sys/health", timeout=5).status_code == 429, 30)

"""Two backend replicas behind one Envoy, round robin: the backend keeps nothing that pins a
client to a replica except an MCP session, which Envoy's stateful_session keeps on the replica
that created it (docs/DEPLOYMENT.md). Clients: the official MCP Python SDK."""

import asyncio
import uuid

import pytest

from support import UNLIMITED, log_lines, start_stack, wait_for, write_then_read
from test_mcp_confirm import confirm_then_replay, secret

ROUNDS = 3


@pytest.fixture(scope="module")
def replicated(built, tmp_path_factory):
    running = start_stack(tmp_path_factory, "replicated", filter_overrides=UNLIMITED, backend_replicas=2)
    yield running
    running.stop()


def mcp_requests(stack, replica: str) -> int:
    lines = log_lines(stack.logs / replica / "requests.log")
    return sum(1 for line in lines if line["fields"].get("path", "").startswith("/mcp"))


@pytest.mark.parametrize("mode,expected_version", [("legacy", "2025-11-25"), ("2026-07-28", "2026-07-28")])
def test_sdk_clients_work_across_two_replicas(replicated, api_keys, mode, expected_version):
    before = {r: mcp_requests(replicated, r) for r in ("backend", "backend-2")}
    for _ in range(ROUNDS):
        path = f"scale/{uuid.uuid4().hex[:12]}"
        version, written, got = asyncio.run(
            write_then_read(f"{replicated.envoy_url}/mcp", api_keys["agent_api"], path, mode))
        assert version == expected_version
        assert got == {"path": path, "data": {"k": "v"}, "version": written["version"]}
    # Both replicas did part of the work.
    for replica, count in before.items():
        wait_for(lambda: mcp_requests(replicated, replica) > count)


def test_rest_writes_on_one_replica_are_read_on_the_other(replicated):
    import requests
    headers = {"X-API-Key": "dev-key"}
    path = f"{replicated.envoy_url}/secrets/scale/{uuid.uuid4().hex[:12]}"
    assert requests.put(path, json={"data": {"n": "1"}}, headers=headers, timeout=10).ok
    # Round robin: consecutive reads land on both replicas, all see the write.
    for _ in range(4):
        response = requests.get(path, headers=headers, timeout=10)
        assert response.ok and response.json()["data"] == {"n": "1"}


def test_without_sticky_sessions_a_session_breaks(built, tmp_path_factory, api_keys):
    """The control: the same client against round robin without stateful_session loses its
    session on the second request, which is what the sticky configuration prevents."""
    loose = start_stack(tmp_path_factory, "loose", filter_overrides=UNLIMITED, backend_replicas=2,
                        sticky_sessions=False)
    try:
        with pytest.raises(Exception) as failure:
            asyncio.run(write_then_read(f"{loose.envoy_url}/mcp", api_keys["agent_api"], "scale/loose", "legacy"))
        print("control failure:", repr(failure.value))
        # The other replica does not know the session: rmcp answers 404 for an unknown session.
        assert "404" in repr(failure.value) or "session" in repr(failure.value).lower()
    finally:
        loose.stop()


def test_a_confirmation_is_used_once_across_replicas(replicated):
    """Round robin sends the replays of a confirmed 2026-07-28 retry to both replicas: they
    share nothing but Vault, and Vault's single-use ticket refuses every replay."""
    path = secret(replicated)
    before = {r: mcp_requests(replicated, r) for r in ("backend", "backend-2")}
    retry, *replays = confirm_then_replay(f"{replicated.envoy_url}/mcp", path, 4)
    assert not retry.is_error, retry
    for replay in replays:
        assert replay.is_error and "used already" in replay.content[0].text, replay
    for replica, count in before.items():
        wait_for(lambda: mcp_requests(replicated, replica) > count)

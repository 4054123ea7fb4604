"""Limits held across Envoys: two Envoys with two workers each, started from the dev stack's
own configuration, on one registry, one rate-limit service (vault-mcp-ratelimit) and one Redis.
Without the service each Envoy would grant an agent its whole limit (N Envoys, N times it)."""

import dataclasses
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from support import agents_cli, envoy_stat, start_stack, wait_for
from stack.processes import free_ports


@pytest.fixture(scope="module")
def fleet(built, tmp_path_factory):
    running = start_stack(tmp_path_factory, "fleet", envoy_concurrency=2)
    envoy, admin = free_ports(2)
    second = dataclasses.replace(running.ports, envoy=envoy, envoy_admin=admin)
    running.start_envoy("envoy-2", second)
    running.second_envoy = f"http://127.0.0.1:{envoy}"
    running.second_admin = admin
    yield running
    running.stop()


def envoys(fleet) -> list[str]:
    return [fleet.envoy_url, fleet.second_envoy]


def clear_of_the_hour() -> None:
    """Counts here are per hour: a test starting in an hour's last minute waits for the next,
    so its window cannot end half-way through."""
    left = 3600 - time.time() % 3600
    if left < 60:
        time.sleep(left + 1)


def add_quietly(fleet, subject: str, *args: str) -> str:
    """`agents add`, known to every worker of both Envoys, without spending its limit: a second
    agent added after it is waited for (a snapshot holding that one holds this one too), then
    one tick more for the workers that had not fetched it."""
    key = json.loads(agents_cli(fleet, "add", subject, *args, "--json").stdout)["api_key"]
    marker = json.loads(agents_cli(fleet, "add", f"{subject}-seen", "--scopes", "read", "--json").stdout)["api_key"]
    for url in envoys(fleet):
        wait_for(lambda u=url: requests.get(f"{u}/whoami", headers={"X-API-Key": marker}, timeout=10).ok, 15)
    time.sleep(1.1)
    return key


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def code(response: requests.Response) -> str:
    """The refusal's code (`{"error": code, …}`), else the status."""
    try:
        error = response.json().get("error")
    except ValueError:
        error = None
    return error if isinstance(error, str) else str(response.status_code)


def test_one_at_a_time_an_agent_gets_exactly_its_limit_across_two_envoys(fleet):
    clear_of_the_hour()
    key = add_quietly(fleet, name("rl-one"), "--scopes", "read", "--rate", "20/3600")
    answers = []
    for i in range(30):
        url = envoys(fleet)[i % 2]
        answers.append(requests.get(f"{url}/whoami", headers={"X-API-Key": key}, timeout=10))
    assert [r.status_code for r in answers].count(200) == 20, [r.status_code for r in answers]
    refused = [r for r in answers if r.status_code != 200]
    assert {code(r) for r in refused} == {"rate_limited"}
    # Retry-After: until the hour's window ends.
    assert all(1 <= int(r.headers["retry-after"]) <= 3600 for r in refused)


def test_under_concurrent_load_never_more_than_the_limit(fleet):
    clear_of_the_hour()
    key = add_quietly(fleet, name("rl-many"), "--scopes", "read", "--rate", "50/3600")
    failed_before = sum(envoy_stat(fleet, f"vault_mcp_filter.global.failed.{c}")
                        for c in ("timeout", "unavailable", "error", "bad_answer"))

    def four(connection: int) -> list[int]:
        with requests.Session() as session:
            url = envoys(fleet)[connection % 2]
            return [session.get(f"{url}/whoami", headers={"X-API-Key": key}, timeout=30).status_code
                    for _ in range(4)]

    with ThreadPoolExecutor(32) as pool:
        statuses = [s for batch in pool.map(four, range(32)) for s in batch]
    failed = sum(envoy_stat(fleet, f"vault_mcp_filter.global.failed.{c}")
                 for c in ("timeout", "unavailable", "error", "bad_answer")) - failed_before
    # 128 asked at 32 connections: 50 exactly, every question answered (none fell back).
    assert (statuses.count(200), failed) == (50, 0), statuses
    assert set(statuses) == {200, 429}


def mcp_call(url: str, key: str, tool: str, arguments: dict) -> requests.Response:
    """One tools/call of MCP 2026-07-28, whose headers name the tool (the filter decides on
    them; what the backend then answers does not matter here)."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
    return requests.post(f"{url}/mcp", json=body, timeout=10, headers={
        "X-API-Key": key, "Accept": "application/json, text/event-stream", "Mcp-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call", "Mcp-Name": tool})


def test_a_tool_limit_holds_across_envoys_whatever_the_tools_spelling(fleet):
    clear_of_the_hour()
    key = add_quietly(fleet, name("rl-tool"), "--scopes", "read,write", "--tool-rate", "kv.write=3/3600")
    spelled = ["kv.write", "kv_write"]
    codes = [code(mcp_call(envoys(fleet)[i % 2], key, spelled[(i // 2) % 2], {"path": "t", "data": {"k": "v"}}))
             for i in range(8)]
    assert sum(c != "rate_limited" for c in codes) == 3, codes
    # Other tools count only against the agent's overall limit.
    assert code(mcp_call(fleet.envoy_url, key, "kv.read", {"path": "t"})) != "rate_limited"


def failures(fleet, what: str) -> int:
    return envoy_stat(fleet, f"vault_mcp_filter.global.failed.{what}")


def test_without_the_count_local_limits_decide_and_credential_tools_are_refused(fleet):
    key = add_quietly(fleet, name("rl-down"), "--scopes", "read,write", "--rate", "1000/60")
    for down, restart in (("redis", fleet.start_redis), ("ratelimit", fleet.start_ratelimit)):
        before = failures(fleet, "unavailable")
        fleet.stop_process(down)
        try:
            # Reads fall back to the local buckets, which admit them.
            assert requests.get(f"{fleet.envoy_url}/whoami", headers={"X-API-Key": key}, timeout=10).status_code == 200
            # A credential tool must not be minted uncounted: refused, 503 with Retry-After.
            refused = mcp_call(fleet.envoy_url, key, "db.issue_creds", {"role": "readonly"})
            assert (refused.status_code, code(refused)) == (503, "rate_limiter_unavailable"), down
            assert failures(fleet, "unavailable") >= before + 2, down
        finally:
            restart()
        # Back: the count answers again, credential tools pass the edge.
        wait_for(lambda: code(mcp_call(fleet.envoy_url, key, "db.issue_creds", {"role": "readonly"}))
                 != "rate_limiter_unavailable", 20)
    log = (fleet.logs / "envoy.log").read_text()
    assert "rate-limit service: unavailable; request refused" in log
    assert "rate-limit service: unavailable; local limits decide" in log


def test_an_answer_the_filter_cannot_read_is_a_failure(built, tmp_path_factory):
    """A service that answers with a message that is no RateLimitResponse the filter can act on
    (overall code 7): the configured failure mode applies, counted and logged."""
    from concurrent import futures

    import grpc

    def garbled(request: bytes, context) -> bytes:
        return b"\x08\x07"  # overall_code = 7: no such code

    server = grpc.server(futures.ThreadPoolExecutor(2))
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(
        "envoy.service.ratelimit.v3.RateLimitService",
        {"ShouldRateLimit": grpc.unary_unary_rpc_method_handler(garbled)})])
    (port,) = free_ports(1)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    # A stack without its own service; its Envoy is then restarted pointing at this one.
    odd = start_stack(tmp_path_factory, "garbled", global_limits=False)
    try:
        odd.global_limits = True
        odd.ports.ratelimit = port
        odd.stop_process("envoy")
        odd.start_envoy()
        key = odd.agents[0]["api_key"]
        assert requests.get(f"{odd.envoy_url}/whoami", headers={"X-API-Key": key}, timeout=10).status_code == 200
        refused = mcp_call(odd.envoy_url, key, "ssh.sign", {"role": "sign", "public_key": "x"})
        assert (refused.status_code, code(refused)) == (503, "rate_limiter_unavailable")
        assert envoy_stat(odd, "vault_mcp_filter.global.failed.bad_answer") >= 2
        assert "rate-limit service: bad_answer" in (odd.logs / "envoy.log").read_text()
    finally:
        odd.stop()
        server.stop(0)


def test_a_budget_holds_across_envoys_and_the_console_shows_what_is_left(fleet):
    """`--budget kv.read=3/3600`: three kv.read calls an hour for the whole fleet, then
    `budget_exhausted` until the hour's window ends; the console's look (hits 0) says what is
    left and takes nothing."""
    clear_of_the_hour()
    subject = name("rl-budget")
    key = add_quietly(fleet, subject, "--scopes", "read", "--budget", "kv_read=3/3600")
    refused = []
    for i in range(8):
        answer = mcp_call(envoys(fleet)[i % 2], key, "kv.read", {"path": "b"})
        if code(answer) == "budget_exhausted":
            refused.append(answer)
    assert len(refused) == 5, [r.status_code for r in refused]
    assert all(r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 3600 for r in refused)
    # Other tools are not in the budget.
    assert code(mcp_call(fleet.envoy_url, key, "kv.list", {"path": ""})) != "budget_exhausted"
    # Kept under the tool's one name, as the edge counts it.
    shown = json.loads(agents_cli(fleet, "show", subject).stdout)
    assert shown["budgets"] == {"kv.read": {"requests": 3, "per_seconds": 3600}}

    operator = json.loads(agents_cli(fleet, "add", name("rl-ops"), "--scopes", "admin", "--json").stdout)["api_key"]
    session = requests.Session()
    wait_for(lambda: session.post(f"{fleet.console_url}/login", json={"credential": operator}, timeout=10).ok, 15)
    for _ in range(2):  # looking twice: a look takes nothing
        budgets = session.get(f"{fleet.console_url}/api/budgets", timeout=10).json()
        assert budgets["counted"] is True
        left = budgets["agents"][subject]["kv.read"]
        assert (left["requests"], left["per_seconds"], left["left"]) == (3, 3600, 0), left
        assert 0 < left["resets_in_seconds"] <= 3600


def test_a_malformed_budget_is_refused_with_its_reason(fleet):
    subject = name("rl-bad")
    for budget, says in (("kv.read=0/60", "positive"), ("kv.read=ten/60", "number"),
                         ("kv.nope=1/60", "kv.nope"), ("kv.read", "TOOL=")):
        refused = agents_cli(fleet, "add", subject, "--scopes", "read", "--budget", budget, check=False)
        assert refused.returncode != 0 and says in refused.stderr, (budget, refused.stderr)
    refused = agents_cli(fleet, "add", subject, "--scopes", "read", "--budget", "kv.read=1/7200", check=False)
    assert refused.returncode != 0 and "3600 or 86400" in refused.stderr, refused.stderr
    agents_cli(fleet, "add", subject, "--scopes", "read")
    refused = agents_cli(fleet, "update", subject, "--budget", "kv.read=1/60", "--budget", "kv_read=2/60",
                         check=False)
    assert refused.returncode != 0 and "named twice" in refused.stderr, refused.stderr
    # The admin API (through the edge, as an operator): the same checks, 400 with the reason.
    operator = add_quietly(fleet, name("rl-admin"), "--scopes", "admin")
    for budgets, says in (({"kv.read": {"requests": 0, "per_seconds": 60}}, "positive"),
                          ({"kv.nope": {"requests": 1, "per_seconds": 60}}, "kv.nope"),
                          ({"kv.read": {"requests": 1, "per_seconds": 90}}, "3600 or 86400"),
                          ({"kv.read": "ten a day"}, "expected struct Limit")):
        answer = requests.patch(f"{fleet.envoy_url}/admin/agents/{subject}", json={"budgets": budgets},
                                headers={"X-API-Key": operator}, timeout=10)
        assert answer.status_code == 400 and says in answer.json()["message"], (budgets, answer.text)
    assert "budgets" not in json.loads(agents_cli(fleet, "show", subject).stdout)


def h2_post_ending_with_trailers(url: str, path: str, headers: dict, body: bytes) -> tuple[int, bytes]:
    """One HTTP/2 request (cleartext, prior knowledge) whose body is ended by trailers rather
    than by its last DATA frame, which `requests` cannot send."""
    import socket
    from urllib.parse import urlsplit

    import h2.config
    import h2.connection
    import h2.events

    port = urlsplit(url).port
    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        connection.initiate_connection()
        stream = connection.get_next_available_stream_id()
        connection.send_headers(stream, [(":method", "POST"), (":path", path), (":scheme", "http"),
                                         (":authority", f"127.0.0.1:{port}"), *headers.items()])
        connection.send_data(stream, body)
        connection.send_headers(stream, [("x-end", "1")], end_stream=True)
        sock.sendall(connection.data_to_send())
        status, data, ended = 0, b"", False
        while not ended:
            chunk = sock.recv(65536)
            if not chunk:
                break
            for event in connection.receive_data(chunk):
                if isinstance(event, h2.events.ResponseReceived):
                    status = int(dict(event.headers)[":status"])
                elif isinstance(event, h2.events.DataReceived):
                    data += event.data
                    connection.acknowledge_received_data(event.flow_controlled_length, stream)
                elif isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)):
                    ended = True
            sock.sendall(connection.data_to_send())
    return status, data


def test_a_body_ended_by_trailers_is_still_checked(fleet):
    """The attack: MCP before 2026-07-28 names the tool only in the body, which the filter reads
    before deciding; a body ended by HTTP/2 trailers must not slip past that read (and with it
    the tool's limits, its budget and the global count)."""
    clear_of_the_hour()
    key = add_quietly(fleet, name("rl-trailers"), "--scopes", "read,write", "--tool-rate", "kv.write=1/3600")
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": "kv.write", "arguments": {"path": "t", "data": {"k": "v"}}}}).encode()
    headers = {"x-api-key": key, "content-type": "application/json",
               "accept": "application/json, text/event-stream", "mcp-protocol-version": "2025-11-25"}
    first = h2_post_ending_with_trailers(fleet.envoy_url, "/mcp", headers, body)
    second = h2_post_ending_with_trailers(fleet.envoy_url, "/mcp", headers, body)
    assert b"rate_limited" not in first[1], first
    assert second[0] == 429 and json.loads(second[1])["error"] == "rate_limited", second


def test_a_budget_under_concurrent_load_across_envoys_is_never_overspent(fleet):
    clear_of_the_hour()
    key = add_quietly(fleet, name("rl-burst"), "--scopes", "read", "--budget", "kv.read=50/3600",
                      "--rate", "100000/60")

    def four(connection: int) -> list[str]:
        return [code(mcp_call(envoys(fleet)[connection % 2], key, "kv.read", {"path": "b"})) for _ in range(4)]

    with ThreadPoolExecutor(32) as pool:
        codes = [c for batch in pool.map(four, range(32)) for c in batch]
    # 128 calls at 32 connections over two Envoys: 50 within the budget, the rest refused by it.
    assert codes.count("budget_exhausted") == 78, codes

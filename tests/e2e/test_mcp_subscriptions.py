"""Change subscriptions on `kv://` resources with the official Python SDK through Envoy:
`resources/subscribe` in a 2025-11-25 session, `subscriptions/listen` on 2026-07-28. Two
backend replicas share nothing but OpenBao, so a subscriber learns of a write made through
either replica and of one made directly in OpenBao. Another agent's secrets, a missing scope,
too many subscriptions and the seed's sessionless `/mcp/rpc` are refused clearly."""

import asyncio
import time
import uuid

import pytest
import requests
from mcp import Client, ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from mcp.client.subscriptions import SubscriptionLost
from mcp.types import ResourceUpdatedNotification

import stack as stacks
from support import UNLIMITED, add_agent, agents_cli, start_stack

# The SDK warns that these methods are gone at 2026-07-28; the legacy cases use them on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:resources/(un)?subscribe is removed")

#: Long enough for a poll (MCP_SUBSCRIPTION_POLL_SECONDS, 2 s by default) on a loaded machine.
WAIT = 20
SCOPES = "read write list delete"


@pytest.fixture(scope="module")
def pair(built, tmp_path_factory):
    """Two replicas; each agent may hold 3 subscribed URIs per replica."""
    running = start_stack(tmp_path_factory, "subscriptions", filter_overrides=UNLIMITED, backend_replicas=2,
                          backend_env={"MCP_SUBSCRIPTIONS_PER_AGENT": "3"})
    yield running
    running.stop()


def via_replica(stack, port: int, path: str, value: str) -> None:
    """A REST write straight to one replica, with the assertion the edge would have made."""
    request_id, now = str(uuid.uuid4()), int(time.time())
    headers = {"x-agent-subject": "agent_api", "x-agent-scopes": SCOPES, "x-request-id": request_id,
               "x-agent-assertion": stack.secrets.assertion("agent_api", SCOPES, now, request_id)}
    response = requests.put(f"http://127.0.0.1:{port}/secrets/{path}", json={"data": {"v": value}},
                            headers=headers, timeout=10)
    assert response.ok, response.text


def in_openbao(stack, path: str, value: str) -> None:
    """A write made in OpenBao itself, past the bridge."""
    response = requests.post(f"{stack.openbao_url}/v1/secret/data/agents/agent_api/{path}",
                             json={"data": {"v": value}}, headers={"X-Vault-Token": stacks.ROOT_TOKEN}, timeout=10)
    assert response.ok, response.text


async def subscribed(url: str, key: str, uris: list[str], mode: str, changes: list) -> list[dict]:
    """Subscribes to `uris`, then makes each change and collects what is notified after it:
    for each change, the URIs that arrived within WAIT seconds of it (waiting until every URI
    of `expect` arrived) and how long the first took."""
    arrived: asyncio.Queue[str] = asyncio.Queue()
    outcomes = []

    async def run_changes():
        for change, expect in changes:
            await asyncio.to_thread(change)
            done, seen, first = time.monotonic(), set(), None
            while not expect <= seen:
                remaining = WAIT - (time.monotonic() - done)
                try:
                    seen.add(await asyncio.wait_for(arrived.get(), max(remaining, 0.01)))
                except TimeoutError:
                    break
                first = first or time.monotonic() - done
            outcomes.append({"seen": seen, "seconds": first})

    http = create_mcp_http_client(headers={"X-API-Key": key})
    async with http:
        transport = streamable_http_client(url, http_client=http)
        if mode == "legacy":
            async def on_message(message):
                if isinstance(message, ResourceUpdatedNotification):
                    await arrived.put(message.params.uri)

            async with transport as (read, write, *_):
                async with ClientSession(read, write, message_handler=on_message) as session:
                    await session.initialize()
                    for uri in uris:
                        await session.subscribe_resource(uri)
                    await run_changes()
        else:
            async with Client(transport, mode=mode) as client:
                async with client.listen(resource_subscriptions=uris) as subscription:
                    assert set(subscription.honored.resource_subscriptions) == set(uris)

                    async def forward():
                        async for event in subscription:
                            await arrived.put(event.uri)

                    forwarding = asyncio.create_task(forward())
                    try:
                        await run_changes()
                    finally:
                        forwarding.cancel()
    return outcomes


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
def test_changes_from_either_replica_and_from_openbao_are_notified(pair, mode):
    folder = f"sub{uuid.uuid4().hex[:8]}"
    secret, other = f"{folder}/db", f"{folder}/other"
    via_replica(pair, pair.backend_ports[0], secret, "0")
    secret_uri, folder_uri = f"kv://agent_api/{secret}", f"kv://agent_api/{folder}/"
    first, second = pair.backend_ports
    outcomes = asyncio.run(subscribed(f"{pair.envoy_url}/mcp", "dev-key", [secret_uri, folder_uri], mode, [
        # Wherever the subscription lives, one of these two writes went through the other replica.
        (lambda: via_replica(pair, first, secret, "1"), {secret_uri}),
        (lambda: via_replica(pair, second, secret, "2"), {secret_uri}),
        (lambda: in_openbao(pair, secret, "3"), {secret_uri}),
        # A new name in the folder changes the folder; a write to a secret not subscribed to
        # tells nothing about the secret that is.
        (lambda: in_openbao(pair, other, "x"), {folder_uri}),
        (lambda: via_replica(pair, second, other, "y"), set()),
    ]))
    assert [o["seen"] for o in outcomes] == [{secret_uri}, {secret_uri}, {secret_uri}, {folder_uri}, set()]
    print(f"\n{mode}: notified after", [round(o["seconds"], 2) for o in outcomes if o["seconds"]], "s")


async def refusal(url: str, key: str, uris: list[str], mode: str) -> MCPError:
    """The error a subscription to `uris` is refused with. A 2026-07-28 listen is acknowledged
    before the server knows the agent, then ended at once with the error."""
    http = create_mcp_http_client(headers={"X-API-Key": key})
    async with http:
        transport = streamable_http_client(url, http_client=http)
        if mode == "legacy":
            async with transport as (read, write, *_):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    with pytest.raises(MCPError) as refused:
                        for uri in uris:
                            await session.subscribe_resource(uri)
                    return refused.value
        async with Client(transport, mode=mode) as client:
            async with client.listen(resource_subscriptions=uris) as subscription:
                with pytest.raises(SubscriptionLost) as lost:
                    async for event in subscription:
                        raise AssertionError(f"notified of {event} on a refused subscription")
                assert isinstance(lost.value.__cause__, MCPError), lost.value
                return lost.value.__cause__


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
def test_only_the_agents_own_resources(pair, mode):
    url = f"{pair.envoy_url}/mcp"
    refused = [asyncio.run(refusal(url, "dev-key", [uri], mode)).error.message for uri in
               ["kv://agent_b/x", "kv://agent_api/x?version=1", "file:///etc/passwd", "kv://agent_api/../agent_b/x"]]
    assert "another agent" in refused[0]
    assert "?version=N" in refused[1]
    assert "kv://" in refused[2]
    assert refused[3], refused


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
def test_a_folder_needs_the_list_scope(pair, mode):
    subject = f"watcher_{uuid.uuid4().hex[:6]}"
    key = add_agent(pair, subject, "--scopes", "read")
    try:
        refused = asyncio.run(refusal(f"{pair.envoy_url}/mcp", key, [f"kv://{subject}/"], mode))
        assert refused.error.data["error"] == "insufficient_scope" and "list" in refused.error.message
        # Its secrets it may watch.
        asyncio.run(subscribed(f"{pair.envoy_url}/mcp", key, [f"kv://{subject}/a"], mode, []))
    finally:
        agents_cli(pair, "remove", subject)


def test_the_allowance_is_per_agent_and_ends_with_the_session(pair):
    """At most 3 per replica: a session holding 3 cannot take a 4th, unsubscribing gives one
    back, and a listen asking for 4 at once is refused. Ended sessions hold nothing."""
    def uris(n):
        return [f"kv://agent_b/cap/{i}" for i in range(n)]

    async def session_on_one_replica():
        http = create_mcp_http_client(headers={"X-API-Key": "dev-key-b"})
        async with http:
            async with streamable_http_client(f"{pair.envoy_url}/mcp", http_client=http) as (read, write, *_):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    for uri in uris(3):
                        await session.subscribe_resource(uri)
                    with pytest.raises(MCPError) as fourth:
                        await session.subscribe_resource("kv://agent_b/cap/3")
                    # Subscribing again to one it holds is not a new one.
                    await session.subscribe_resource(uris(1)[0])
                    await session.unsubscribe_resource(uris(1)[0])
                    await session.subscribe_resource("kv://agent_b/cap/3")
                    return fourth.value.error.message

    # Sessions and listens come and go on both replicas, each taking the whole allowance: none
    # keeps it once it has ended. (A pause lets the replica finish closing the last one.)
    for _ in range(3):
        message = asyncio.run(session_on_one_replica())
        assert "too many subscriptions" in message and "MCP_SUBSCRIPTIONS_PER_AGENT" in message
        time.sleep(0.5)
    for _ in range(3):
        asyncio.run(subscribed(f"{pair.envoy_url}/mcp", "dev-key-b", uris(3), "2026-07-28", []))
        time.sleep(0.5)
    too_many = asyncio.run(refusal(f"{pair.envoy_url}/mcp", "dev-key-b", uris(4), "2026-07-28"))
    assert "too many subscriptions" in too_many.error.message


def test_the_seeds_rpc_endpoint_has_no_session_to_notify(stack):
    body = {"jsonrpc": "2.0", "id": 1, "method": "resources/subscribe", "params": {"uri": "kv://agent_api/x"}}
    response = requests.post(f"{stack.envoy_url}/mcp/rpc", json=body, headers={"X-API-Key": "dev-key"}, timeout=10)
    assert response.status_code == 200, response.text
    assert "needs a session" in response.json()["error"]["message"]


def test_the_server_says_it_offers_subscriptions(stack):
    async def capabilities():
        http = create_mcp_http_client(headers={"X-API-Key": "dev-key"})
        async with http:
            async with streamable_http_client(f"{stack.envoy_url}/mcp", http_client=http) as (read, write, *_):
                async with ClientSession(read, write) as session:
                    return (await session.initialize()).capabilities.resources

    assert asyncio.run(capabilities()).subscribe is True

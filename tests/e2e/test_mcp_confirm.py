"""A person's yes before irreversible tools (`MCP_CONFIRM_TOOLS`, `kv.destroy` by default), with
the official Python SDK through Envoy: in a session the server asks with `elicitation/create`,
on 2026-07-28 with an `input_required` result the SDK answers and retries. Only an accepted
"yes" destroys; a decline, a cancel, a "no", a client that cannot ask, an answer too late and
the seed's `/mcp/rpc` all leave the version readable and say why."""

import asyncio
import uuid

import pytest
import requests
from mcp import Client, ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.types import ElicitResult

from support import UNLIMITED, log_lines, start_stack, wait_for

VALUE = "s3cr3t-never-in-a-question"


def secret(stack) -> str:
    """A secret with two versions; version 1 is the one the tests try to destroy."""
    path = f"confirm/{uuid.uuid4().hex[:8]}"
    for n in (1, 2):
        response = requests.put(f"{stack.envoy_url}/secrets/{path}", json={"data": {"v": f"{VALUE}-{n}"}},
                                headers={"X-API-Key": "dev-key"}, timeout=10)
        assert response.ok, response.text
    return path


def version_1(stack, path: str) -> requests.Response:
    return requests.get(f"{stack.envoy_url}/secrets/{path}", params={"version": 1},
                        headers={"X-API-Key": "dev-key"}, timeout=10)


def destroy(url: str, path: str, mode: str, answer: str | None, delay: float = 0):
    """Calls `kv.destroy` on version 1 of `path` with a client whose person answers `answer`
    ("yes", "no", "decline", "cancel"; None: a client without elicitation). Returns the tool
    result and the questions the person was asked."""
    asked = []

    async def person(context, params):
        asked.append(params)
        await asyncio.sleep(delay)
        if answer in ("yes", "no"):
            return ElicitResult(action="accept", content={"confirm": answer == "yes"})
        return ElicitResult(action=answer)

    callback = person if answer else None
    arguments = {"path": path, "versions": [1]}

    async def run():
        http = create_mcp_http_client(headers={"X-API-Key": "dev-key"})
        async with http:
            transport = streamable_http_client(url, http_client=http)
            if mode == "legacy":
                async with transport as (read, write, *_):
                    async with ClientSession(read, write, elicitation_callback=callback) as session:
                        await session.initialize()
                        return await session.call_tool("kv.destroy", arguments)
            async with Client(transport, mode=mode, elicitation_callback=callback) as client:
                return await client.call_tool("kv.destroy", arguments)

    return asyncio.run(run()), asked


MODES = ["legacy", "2026-07-28"]


@pytest.mark.parametrize("mode", MODES)
def test_a_person_who_says_yes_destroys_the_version(stack, mode):
    path = secret(stack)
    result, asked = destroy(f"{stack.envoy_url}/mcp", path, mode, "yes")
    assert not result.is_error, result.content
    assert result.structured_content == {"path": path, "versions": [1]}
    [question] = asked
    assert "agent_api" in question.message and f"'{path}'" in question.message
    assert "version 1" in question.message and "cannot be undone" in question.message
    assert VALUE not in question.message
    assert question.requested_schema["properties"]["confirm"]["type"] == "boolean"
    assert version_1(stack, path).status_code == 404
    # The confirmation is logged with the tool, the agent, the outcome and the request id (logs
    # are written in batches, within moments).
    def logged() -> bool:
        fields = [line["fields"] for line in log_lines(stack.logs / "backend" / "server.log")]
        return any(f.get("message") == "confirmation" and f["tool"] == "kv.destroy" and f["subject"] == "agent_api"
                   and f["outcome"] == "confirmed" and f["request_id"] for f in fields)
    wait_for(logged)
    # Version 2 is untouched.
    latest = requests.get(f"{stack.envoy_url}/secrets/{path}", headers={"X-API-Key": "dev-key"}, timeout=10)
    assert latest.json()["data"] == {"v": f"{VALUE}-2"}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("answer, why", [
    ("decline", "declined"),
    ("cancel", "cancelled"),
    ("no", "did not confirm"),
    (None, "cannot ask"),
])
def test_anything_but_yes_leaves_the_version_readable(stack, mode, answer, why):
    path = secret(stack)
    result, asked = destroy(f"{stack.envoy_url}/mcp", path, mode, answer)
    assert result.is_error
    text = result.content[0].text
    assert "not_confirmed" in text and why in text, text
    assert len(asked) == (1 if answer else 0)
    kept = version_1(stack, path)
    assert kept.status_code == 200 and kept.json()["data"] == {"v": f"{VALUE}-1"}


def test_the_seeds_rpc_endpoint_cannot_ask_and_refuses(stack):
    path = secret(stack)
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "kv.destroy", "arguments": {"path": path, "versions": [1]}}}
    response = requests.post(f"{stack.envoy_url}/mcp/rpc", json=body, headers={"X-API-Key": "dev-key"}, timeout=30)
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert result["isError"] and "cannot ask" in result["content"][0]["text"]
    assert version_1(stack, path).status_code == 200


def test_rest_is_not_asked(stack):
    path = secret(stack)
    response = requests.post(f"{stack.envoy_url}/secrets/{path}:destroy", json={"versions": [1]},
                             headers={"X-API-Key": "dev-key"}, timeout=10)
    assert response.ok, response.text
    assert version_1(stack, path).status_code == 404


def test_a_forged_or_replayed_state_is_refused(stack):
    """2026-07-28: the state a client gets back is sealed to the call; one made up, or one given
    for another secret, does not stand in for a person's yes."""
    path, other = secret(stack), secret(stack)

    async def run():
        http = create_mcp_http_client(headers={"X-API-Key": "dev-key"})
        async with http:
            transport = streamable_http_client(f"{stack.envoy_url}/mcp", http_client=http)

            async def person(context, params):
                return ElicitResult(action="accept", content={"confirm": True})

            async with Client(transport, mode="2026-07-28", elicitation_callback=person) as client:
                first = await client.session.call_tool("kv.destroy", {"path": other, "versions": [1]},
                                                       allow_input_required=True)
                yes = {"confirm": {"action": "accept", "content": {"confirm": True}}}
                results = []
                for state in ("made-up", first.request_state):
                    results.append(await client.session.call_tool(
                        "kv.destroy", {"path": path, "versions": [1]}, input_responses=yes,
                        request_state=state, allow_input_required=True))
                return results

    results = asyncio.run(run())
    for result in results:
        assert result.is_error and "not for this call" in result.content[0].text, result
    assert version_1(stack, path).status_code == 200 and version_1(stack, other).status_code == 200


def confirm_then_replay(url: str, path: str, replays: int):
    """2026-07-28 by hand: ask, retry with the person's yes and the state given, then send the
    very same retry `replays` times more. Returns the results of the retry and the replays."""
    async def run():
        http = create_mcp_http_client(headers={"X-API-Key": "dev-key"})
        async with http:
            async def person(context, params):
                return ElicitResult(action="accept", content={"confirm": True})

            transport = streamable_http_client(url, http_client=http)
            async with Client(transport, mode="2026-07-28", elicitation_callback=person) as client:
                arguments = {"path": path, "versions": [1]}
                asked = await client.session.call_tool("kv.destroy", arguments, allow_input_required=True)
                yes = {"confirm": {"action": "accept", "content": {"confirm": True}}}
                return [await client.session.call_tool("kv.destroy", arguments, input_responses=yes,
                                                        request_state=asked.request_state,
                                                        allow_input_required=True)
                        for _ in range(1 + replays)]

    return asyncio.run(run())


def test_a_state_confirms_one_retry_only(stack):
    """The retry that carries the person's yes runs the tool; the same retry sent again (a
    client's retry loop, or anyone who saw it) is refused, while the state is still valid."""
    path = secret(stack)
    retry, *replays = confirm_then_replay(f"{stack.envoy_url}/mcp", path, 2)
    assert not retry.is_error and retry.structured_content == {"path": path, "versions": [1]}, retry
    for replay in replays:
        assert replay.is_error and "used already" in replay.content[0].text, replay


@pytest.fixture(scope="module")
def impatient(built, tmp_path_factory):
    """Confirmations time out after 2 s, and `db.revoke` needs one too."""
    running = start_stack(tmp_path_factory, "confirm", filter_overrides=UNLIMITED, backend_env={
        "MCP_CONFIRM_TIMEOUT_SECONDS": "2", "MCP_CONFIRM_TOOLS": "kv.destroy,db.revoke"})
    yield running
    running.stop()


def test_an_answer_too_late_does_nothing(impatient):
    path = secret(impatient)
    result, asked = destroy(f"{impatient.envoy_url}/mcp", path, "legacy", "yes", delay=4)
    assert len(asked) == 1 and result.is_error
    assert "no answer from the person at the client within 2 s" in result.content[0].text
    assert version_1(impatient, path).status_code == 200


def test_the_configured_tools_are_the_ones_asked_about(stack, impatient):
    """`db.revoke` needs a yes where MCP_CONFIRM_TOOLS names it, and only there."""
    async def revoke(url):
        http = create_mcp_http_client(headers={"X-API-Key": "dev-key"})
        async with http:
            transport = streamable_http_client(url, http_client=http)
            async with Client(transport, mode="2026-07-28") as client:
                return await client.call_tool("db.revoke", {"lease_id": "database/creds/readonly/nope"})

    asked = asyncio.run(revoke(f"{impatient.envoy_url}/mcp"))
    assert asked.is_error and "not_confirmed" in asked.content[0].text
    assert "cannot ask" in asked.content[0].text
    not_asked = asyncio.run(revoke(f"{stack.envoy_url}/mcp"))
    assert not_asked.is_error and "not_confirmed" not in not_asked.content[0].text

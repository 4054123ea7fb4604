"""`completion/complete` through Envoy with the official Python SDK: the `path` of the
`kv://{subject}/{path}` template and of the prompts completes from the caller's own folder only,
folder by folder, at most 100 values with `total` and `hasMore`; without the `list` scope, no
values."""

import asyncio
import uuid

import pytest
import requests
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.types import PromptReference, ResourceTemplateReference

from support import add_agent, agents_cli

TEMPLATE = ResourceTemplateReference(type="ref/resource", uri="kv://{subject}/{path}")


def complete_all(url: str, api_key: str, asks: list[tuple], mode: str = "2026-07-28"):
    """The completion of each (ref, argument, value); an exception's text where one is raised."""
    async def run():
        http = create_mcp_http_client(headers={"X-API-Key": api_key})
        async with http:
            async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:
                answers = []
                for ref, argument, value in asks:
                    try:
                        answers.append((await client.complete(ref, {"name": argument, "value": value})).completion)
                    except Exception as failure:  # noqa: BLE001 - the error is what is checked
                        answers.append(str(failure))
                return answers
    return asyncio.run(run())


def put(stack, key: str, path: str) -> None:
    response = requests.put(f"{stack.envoy_url}/secrets/{path}", json={"data": {"v": "x"}},
                            headers={"X-API-Key": key}, timeout=10)
    assert response.ok, response.text


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
def test_paths_complete_from_the_callers_own_folder(stack, mode):
    top = f"cmp{uuid.uuid4().hex[:8]}"
    for path in ("db", "dns", "web/tls", "web/key"):
        put(stack, "dev-key", f"{top}/{path}")
    # agent_b has a folder of the same name: none of it may show.
    for path in ("db", "dz-b-only", "b-only/x"):
        put(stack, "dev-key-b", f"{top}/{path}")
    prompt = PromptReference(type="ref/prompt", name="kv_read")
    asks = [
        (TEMPLATE, "path", f"{top}/d"),
        (TEMPLATE, "path", f"{top}/"),
        (TEMPLATE, "path", f"{top}/web/"),
        (TEMPLATE, "path", f"{top}/web/t"),
        (TEMPLATE, "path", f"{top}/zz"),
        (TEMPLATE, "path", "../agent_b/"),
        (TEMPLATE, "subject", "agent"),
        (prompt, "path", f"{top}/dn"),
        (PromptReference(type="ref/prompt", name="kv_write"), "value", "any"),
    ]
    got = complete_all(f"{stack.envoy_url}/mcp", "dev-key", asks, mode)
    values = [c.values for c in got]
    assert values == [
        [f"{top}/db", f"{top}/dns"],
        [f"{top}/db", f"{top}/dns", f"{top}/web/"],
        [f"{top}/web/key", f"{top}/web/tls"],
        [f"{top}/web/tls"],
        [],
        [],
        ["agent_api"],
        [f"{top}/dns"],
        [],
    ]
    assert (got[0].total, got[0].has_more) == (2, False)


def test_a_hundred_values_at_most_with_the_total(stack):
    top = f"many{uuid.uuid4().hex[:8]}"
    for i in range(105):
        put(stack, "dev-key", f"{top}/k{i:03}")
    [completion] = complete_all(f"{stack.envoy_url}/mcp", "dev-key", [(TEMPLATE, "path", f"{top}/k")])
    assert len(completion.values) == 100
    assert completion.values[0] == f"{top}/k000" and completion.values[-1] == f"{top}/k099"
    assert (completion.total, completion.has_more) == (105, True)


def test_without_the_list_scope_nothing_completes(stack):
    top = f"nolist{uuid.uuid4().hex[:8]}"
    subject = f"reader_{uuid.uuid4().hex[:6]}"
    key = add_agent(stack, subject, "--scopes", "read,write")
    put(stack, key, f"{top}/db")
    try:
        [completion] = complete_all(f"{stack.envoy_url}/mcp", key, [(TEMPLATE, "path", f"{top}/")])
        assert completion.values == [] and completion.total == 0
        # The same agent reads the secret it could not complete: only listing is missing.
        assert requests.get(f"{stack.envoy_url}/secrets/{top}/db", headers={"X-API-Key": key}, timeout=10).ok
    finally:
        agents_cli(stack, "remove", subject)


def test_unknown_references_are_invalid_params(stack):
    asks = [
        (PromptReference(type="ref/prompt", name="test_prompt_with_arguments"), "arg1", "test"),
        (PromptReference(type="ref/prompt", name="kv_read"), "other", ""),
        (ResourceTemplateReference(type="ref/resource", uri="test://template/{id}"), "id", ""),
        (TEMPLATE, "version", ""),
    ]
    errors = complete_all(f"{stack.envoy_url}/mcp", "dev-key", asks)
    assert errors == [
        "no prompt named 'test_prompt_with_arguments'",
        "the prompt 'kv_read' has no argument 'other'",
        "no resource template 'test://template/{id}' here",
        "the template kv://{subject}/{path} has no argument 'version'",
    ]

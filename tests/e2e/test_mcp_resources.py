"""MCP resources (kv://{subject}/{path}) and prompts through Envoy, with the official SDK."""

import asyncio
import json
import uuid

import pytest
import requests
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


async def with_client(url, api_key, work):
    http = create_mcp_http_client(headers={"X-API-Key": api_key})
    async with http:
        async with Client(streamable_http_client(url, http_client=http), mode="2026-07-28") as client:
            return await work(client)


def test_resources_name_only_the_callers_secrets(stack):
    folder = f"res-{uuid.uuid4().hex[:8]}"
    headers = {"X-API-Key": "dev-key"}
    for value in ("one", "two"):
        assert requests.put(f"{stack.envoy_url}/secrets/{folder}/db", json={"data": {"v": value}},
                            headers=headers, timeout=10).ok

    async def work(client):
        listed = (await client.list_resources()).resources
        templates = (await client.list_resource_templates()).resource_templates
        latest = await client.read_resource(f"kv://agent_api/{folder}/db")
        first = await client.read_resource(f"kv://agent_api/{folder}/db?version=1")
        names = await client.read_resource(f"kv://agent_api/{folder}/")
        errors = {}
        for uri in (f"kv://agent_b/{folder}/db", "kv://agent_api/../agent_b/x", f"kv://agent_api/{folder}/none"):
            with pytest.raises(Exception) as failure:
                await client.read_resource(uri)
            errors[uri] = str(failure.value)
        return listed, templates, latest, first, names, errors

    listed, templates, latest, first, names, errors = asyncio.run(
        with_client(f"{stack.envoy_url}/mcp", "dev-key", work))
    assert [str(r.uri) for r in listed] == ["kv://agent_api/"]
    assert [t.uri_template for t in templates] == ["kv://{subject}/{path}"]
    assert json.loads(latest.contents[0].text) == {"data": {"v": "two"}, "version": 2}
    assert latest.contents[0].mime_type == "application/json"
    assert json.loads(first.contents[0].text) == {"data": {"v": "one"}, "version": 1}
    assert json.loads(names.contents[0].text) == {"keys": ["db"]}
    assert "another agent" in errors[f"kv://agent_b/{folder}/db"]
    assert "no such resource" in errors[f"kv://agent_api/{folder}/none"]


def test_prompts_suggest_a_tool_call(stack):
    async def work(client):
        prompts = (await client.list_prompts()).prompts
        read = await client.get_prompt("kv_read", {"path": "configs/db"})
        write = await client.get_prompt("kv_write", {"path": "configs/db", "value": "x"})
        with pytest.raises(Exception):
            await client.get_prompt("kv_read", {})
        return prompts, read, write

    prompts, read, write = asyncio.run(with_client(f"{stack.envoy_url}/mcp", "dev-key", work))
    assert {p.name for p in prompts} == {"kv_read", "kv_write"}
    assert [a.name for a in next(p for p in prompts if p.name == "kv_write").arguments] == ["path", "value"]
    assert "configs/db" in read.messages[0].content.text
    suggestion = json.loads(write.messages[-1].content.text.split(": ", 1)[1])
    assert suggestion == {"name": "kv.write", "arguments": {"path": "configs/db", "data": {"value": "x"}}}

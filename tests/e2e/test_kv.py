"""KV v2 through Envoy: versions, check-and-set, listing, soft delete, undelete and destroy,
over REST and over MCP (the official SDK), which share one Vault layer."""

import asyncio
import uuid

import requests
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.types import ElicitResult


def api(stack, key="dev-key"):
    session = requests.Session()
    session.headers["X-API-Key"] = key
    base = stack.envoy_url

    class Api:
        def get(self, path, **kw):
            return session.get(f"{base}{path}", timeout=10, **kw)

        def put(self, path, body):
            return session.put(f"{base}{path}", json=body, timeout=10)

        def post(self, path, body):
            return session.post(f"{base}{path}", json=body, timeout=10)

        def delete(self, path):
            return session.delete(f"{base}{path}", timeout=10)

    return Api()


def test_versions_check_and_set_delete_undelete_destroy(stack):
    a = api(stack)
    folder = f"lifecycle-{uuid.uuid4().hex[:8]}"
    path = f"/secrets/{folder}/db"
    assert a.put(path, {"data": {"v": 1}, "cas": 0}).json()["version"] == 1
    # cas=0 means "only if absent": refused now, with Vault's reason.
    refused = a.put(path, {"data": {"v": 2}, "cas": 0})
    assert (refused.status_code, refused.json()["error"]) == (400, "vault_rejected")
    assert a.put(path, {"data": {"v": 2}, "cas": 1}).json()["version"] == 2

    assert a.delete(path).json() == {"path": f"{folder}/db", "versions": []}
    assert a.get(path).status_code == 404
    assert a.get(path, params={"version": 1}).json()["data"] == {"v": 1}
    assert a.post(f"{path}:undelete", {"versions": [2]}).status_code == 200
    assert a.get(path).json() == {"path": f"{folder}/db", "data": {"v": 2}, "version": 2}

    assert a.post(f"{path}:destroy", {"versions": [1]}).json() == {"path": f"{folder}/db", "versions": [1]}
    assert a.get(path, params={"version": 1}).status_code == 404
    a.post(f"{path}:undelete", {"versions": [1]})
    assert a.get(path, params={"version": 1}).status_code == 404  # destroyed stays destroyed

    for body, reason in [({"versions": []}, "1 to 100"), ({"versions": [0]}, "start at 1")]:
        response = a.post(f"{path}:destroy", body)
        assert response.status_code == 400 and reason in response.json()["message"]
    # POST without an action matches no route of the edge's table.
    response = a.post(path, {"versions": [1]})
    assert (response.status_code, response.json()["error"]) == (404, "unknown_route")


def test_listing_shows_names_of_the_callers_own_folder_only(stack):
    a, b = api(stack), api(stack, "dev-key-b")
    folder = f"list-{uuid.uuid4().hex[:8]}"
    for name in ("one", "two", "sub/three"):
        assert a.put(f"/secrets/{folder}/{name}", {"data": {"secret": f"value-{name}"}}).ok
    listing = a.get("/secrets", params={"prefix": f"{folder}/"}).json()
    assert listing == {"prefix": f"{folder}/", "keys": ["one", "sub/", "two"]}
    assert "value-" not in str(listing)
    assert folder + "/" in a.get("/secrets").json()["keys"]
    # agent_b's folder does not have them, whatever prefix it asks for.
    assert b.get("/secrets", params={"prefix": f"{folder}/"}).json()["keys"] == []
    assert folder + "/" not in b.get("/secrets").json()["keys"]
    for bad in ("../agent_api/", "..", "%2e%2e/", "/abs"):
        response = b.get("/secrets", params={"prefix": bad})
        assert (response.status_code, response.json()["error"]) == (400, "invalid_path"), bad


def test_read_only_agent_cannot_delete_or_destroy(stack):
    ro = api(stack, "dev-key-ro")
    assert ro.delete("/secrets/x").status_code == 403
    assert ro.post("/secrets/x:destroy", {"versions": [1]}).status_code == 403
    assert ro.get("/secrets").status_code == 200


async def mcp_calls(url, calls):
    async def person_says_yes(context, params):  # kv.destroy asks first (test_mcp_confirm.py)
        return ElicitResult(action="accept", content={"confirm": True})

    http = create_mcp_http_client(headers={"X-API-Key": "dev-key"})
    async with http:
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, mode="2026-07-28", elicitation_callback=person_says_yes) as client:
            return [await client.call_tool(name, args) for name, args in calls]


def test_kv_tools_over_mcp(stack):
    folder = f"mcp-{uuid.uuid4().hex[:8]}"
    path = f"{folder}/token"
    results = asyncio.run(mcp_calls(f"{stack.envoy_url}/mcp", [
        ("kv.write", {"path": path, "data": {"t": "1"}}),
        ("kv.write", {"path": path, "data": {"t": "2"}, "cas": 1}),
        ("kv.list", {"prefix": folder}),
        ("kv.delete", {"path": path}),
        ("kv.read", {"path": path}),
        ("kv.undelete", {"path": path, "versions": [2]}),
        ("kv.read", {"path": path}),
        ("kv.destroy", {"path": path, "versions": [1, 2]}),
        ("kv.read", {"path": path}),
        ("kv.list", {"prefix": "../"}),
    ]))
    structured = [r.structured_content for r in results]
    assert structured[1] == {"path": path, "version": 2}
    assert structured[2] == {"prefix": f"{folder}/", "keys": ["token"]}
    assert results[4].is_error and "not_found" in results[4].content[0].text
    assert structured[6] == {"path": path, "data": {"t": "2"}, "version": 2}
    assert results[8].is_error
    assert results[9].is_error and "invalid_path" in results[9].content[0].text


def unwrap(stack, token):
    return requests.post(f"{stack.openbao_url}/v1/sys/wrapping/unwrap", headers={"X-Vault-Token": token},
                         timeout=10)


def test_use_dont_see_reads_return_a_one_time_wrapping_token(stack):
    a = api(stack)
    path = f"/secrets/wrapped-{uuid.uuid4().hex[:8]}"
    assert a.put(path, {"data": {"password": "hunter2"}}).ok
    wrapped = a.get(path, params={"wrap_ttl": "2m"})
    assert wrapped.status_code == 200, wrapped.text
    body = wrapped.json()
    assert "hunter2" not in wrapped.text and body["wrap_ttl"] == 120
    first = unwrap(stack, body["wrap_token"])
    assert first.json()["data"]["data"] == {"password": "hunter2"}
    assert unwrap(stack, body["wrap_token"]).status_code == 400  # once only
    for ttl in ("0s", "25h", "forever", "10"):
        response = a.get(path, params={"wrap_ttl": ttl})
        assert (response.status_code, response.json()["error"]) == (400, "invalid_request"), ttl

    async def read_wrapped(client):
        return await client.call_tool("kv.read", {"path": path.removeprefix("/secrets/"), "wrap_ttl": "30s"})

    async def run():
        http = create_mcp_http_client(headers={"X-API-Key": "dev-key"})
        async with http:
            async with Client(streamable_http_client(f"{stack.envoy_url}/mcp", http_client=http),
                              mode="2026-07-28") as client:
                return await read_wrapped(client)

    result = asyncio.run(run())
    assert not result.is_error and "data" not in result.structured_content
    assert unwrap(stack, result.structured_content["wrap_token"]).json()["data"]["data"] == {"password": "hunter2"}

"""The seed's MCP pair: `POST /mcp/rpc` (plain JSON-RPC in, JSON out, no session) and
`GET /mcp/sse` (keep-alives and `tool.completed` events for the caller's subject only)."""

import json
import queue
import threading
import time
import uuid

import requests


def rpc(stack, method, params=None, key="dev-key"):
    response = requests.post(f"{stack.envoy_url}/mcp/rpc", headers={"X-API-Key": key},
                             json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def test_plain_json_rpc_without_a_session(stack):
    tools = rpc(stack, "tools/list")["result"]["tools"]
    assert "kv.read" in {t["name"] for t in tools}
    path = f"pair/{uuid.uuid4().hex[:8]}"
    written = rpc(stack, "tools/call", {"name": "kv.write", "arguments": {"path": path, "data": {"p": 1}}})
    assert written["result"]["structuredContent"] == {"path": path, "version": 1}
    uri = f"kv://agent_api/{path}"
    for method in ("resources/read", "resources/get"):
        result = rpc(stack, method, {"uri": uri})["result"]
        assert json.loads(result["contents"][0]["text"])["data"] == {"p": 1}, method
    refused = requests.post(f"{stack.envoy_url}/mcp/rpc", headers={"X-API-Key": "dev-key-ro"}, timeout=10,
                            json={"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                                  "params": {"name": "kv.write", "arguments": {}}})
    assert refused.status_code == 403  # the edge reads the body and checks the tool's scope


def test_events_stream_only_the_callers_tool_completions(stack):
    events = queue.Queue()

    def listen(key, sink):
        try:
            with requests.get(f"{stack.envoy_url}/mcp/sse", headers={"X-API-Key": key}, stream=True,
                              timeout=30) as r:
                sink.put({"content-type": r.headers["content-type"]})
                for line in r.iter_lines(decode_unicode=True):
                    if line.startswith("data: "):
                        sink.put(json.loads(line[len("data: "):]))
        except requests.RequestException:
            pass  # the stream ends when the stack stops

    others = queue.Queue()
    threading.Thread(target=listen, args=("dev-key", events), daemon=True).start()
    threading.Thread(target=listen, args=("dev-key-b", others), daemon=True).start()
    assert events.get(timeout=10)["content-type"].startswith("text/event-stream")
    assert others.get(timeout=10)["content-type"].startswith("text/event-stream")
    time.sleep(0.5)
    rpc(stack, "tools/call", {"name": "transit.random", "arguments": {"bytes": 4}})
    event = events.get(timeout=10)
    assert event["type"] == "tool.completed" and event["tool"] == "transit.random"
    assert event["subject"] == "agent_api" and event["ts"] > 0
    assert others.empty()


def test_events_stream_sends_keepalives(stack):
    """The seed's stream sends a comment every 15 s, so proxies keep it open."""
    started = time.monotonic()
    with requests.get(f"{stack.envoy_url}/mcp/sse", headers={"X-API-Key": "dev-key"}, stream=True,
                      timeout=30) as response:
        comments = []
        for line in response.iter_lines(decode_unicode=True):
            if line.startswith(":"):
                comments.append((line, time.monotonic() - started))
                if len(comments) == 2:
                    break
    assert [c for c, _ in comments] == [": keepalive", ": keepalive"]
    # The first comes at once, the next one interval (15 s) later; wide margins for a busy CI.
    assert 10 <= comments[1][1] - comments[0][1] <= 25

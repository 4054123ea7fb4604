"""Each agent its own corner (issue #25), tried as an attacker holding two agents of its own
would, through the real Envoy and backend: the owner (`agent_api`) opens an MCP session, the
intruder (`agent_b`, a valid agent with every scope) names it. The intruder's requests get what
an unknown session gets, and the owner's session carries on untouched."""

import json
import uuid

import requests

from attacks import MCP_HEADERS, open_session
from support import add_agent, wait_for
from test_console import signed_in_session
from test_mcp_confirm import secret, version_1

OWNER, INTRUDER = "dev-key", "dev-key-b"
SESSION_HEADERS = {**MCP_HEADERS, "MCP-Protocol-Version": "2025-11-25"}


def post(stack, key: str, body: dict, session: str | None = None, extra: dict | None = None,
         **options) -> requests.Response:
    headers = {**SESSION_HEADERS, "X-API-Key": key, **({"Mcp-Session-Id": session} if session else {}),
               **(extra or {})}
    return requests.post(f"{stack.envoy_url}/mcp", data=json.dumps(body), headers=headers,
                         timeout=30, **options)


def messages(response: requests.Response):
    """The JSON-RPC messages of an SSE (or JSON) answer, as they arrive."""
    if response.headers.get("content-type", "").startswith("application/json"):
        yield response.json()
        return
    for line in response.iter_lines(decode_unicode=True):
        if line and line.startswith("data:") and line[5:].strip():
            yield json.loads(line[5:])


def call(name: str, arguments: dict, id: int = 2) -> dict:
    return {"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": arguments}}


def as_unknown(response: requests.Response, unknown: requests.Response) -> None:
    """The intruder learns nothing: the same answer as for a session that never existed."""
    assert response.status_code == 404, response.text
    assert (response.status_code, response.text) == (unknown.status_code, unknown.text)


def test_another_agents_session_is_not_found_for_calls_streams_and_ending(stack):
    session = open_session(stack, OWNER)
    path = f"isolation/{uuid.uuid4().hex[:8]}"
    unknown = post(stack, INTRUDER, call("kv.list", {}), str(uuid.uuid4()))
    assert unknown.status_code == 404

    # A call in the owner's session, as the intruder.
    as_unknown(post(stack, INTRUDER, call("kv.write", {"path": path, "data": {"k": "intruder"}}), session), unknown)
    # The owner's notification stream, and ending the session.
    headers = {**SESSION_HEADERS, "Accept": "text/event-stream", "X-API-Key": INTRUDER, "Mcp-Session-Id": session}
    as_unknown(requests.get(f"{stack.envoy_url}/mcp", headers=headers, timeout=10), unknown)
    as_unknown(requests.delete(f"{stack.envoy_url}/mcp", headers=headers, timeout=10), unknown)

    # The owner's session is intact and the intruder wrote nothing.
    own = post(stack, OWNER, call("kv.write", {"path": path, "data": {"k": "owner"}}), session)
    assert own.status_code == 200
    [answer] = list(messages(own))
    assert not answer["result"]["isError"], answer
    read = requests.get(f"{stack.envoy_url}/secrets/{path}", headers={"X-API-Key": OWNER}, timeout=10)
    assert read.json()["data"] == {"k": "owner"} and read.json()["version"] == 1
    # The owner ends it; then it is gone for the owner too.
    ended = requests.delete(f"{stack.envoy_url}/mcp", timeout=10,
                            headers={**headers, "X-API-Key": OWNER})
    assert ended.status_code == 204
    assert post(stack, OWNER, call("kv.list", {}), session).status_code == 404


def test_an_intruder_cannot_answer_the_owners_confirmation(stack):
    """The owner's `kv.destroy` waits for its person's yes; the intruder reads nothing of the
    owner's stream but is handed the question's exact id anyway, and posts "yes"."""
    path = secret(stack)
    session = open_session(stack, OWNER, elicitation=True)
    destroying = post(stack, OWNER, call("kv.destroy", {"path": path, "versions": [1]}), session, stream=True)
    assert destroying.status_code == 200
    stream = messages(destroying)
    question = next(stream)
    assert question["method"] == "elicitation/create", question
    yes = {"jsonrpc": "2.0", "id": question["id"],
           "result": {"action": "accept", "content": {"confirm": True}}}
    refused = post(stack, INTRUDER, yes, session)
    assert refused.status_code == 404, refused.text
    # The owner's person says no: nothing is destroyed.
    no = {**yes, "result": {"action": "decline"}}
    assert post(stack, OWNER, no, session).status_code == 202
    result = next(stream)["result"]
    assert result["isError"] and "declined" in result["content"][0]["text"], result
    assert version_1(stack, path).status_code == 200


def test_the_edge_chooses_every_request_id(stack):
    """The intruder sends the request id of the owner's last request, so that its own Vault
    calls would be audited (and shown in the console) as the owner's. Envoy makes its own id;
    the intruder's is passed on only as `x-client-request-id`."""
    owners = requests.get(f"{stack.envoy_url}/secrets/isolation/none", headers={"X-API-Key": OWNER}, timeout=10)
    taken = owners.headers["x-request-id"]
    forged = requests.get(f"{stack.envoy_url}/secrets/isolation/none", timeout=10,
                          headers={"X-API-Key": INTRUDER, "X-Request-Id": taken})
    ours = forged.headers["x-request-id"]
    assert ours != taken and len(ours) == 36, ours

    def audited(request_id):
        """The KV paths Vault was asked for under that id (an agent's first request in a
        process also makes its keys and labels its entity, under the same id)."""
        entries = [json.loads(line) for line in stack.audit_log.read_text().splitlines()]
        return [e["request"]["path"] for e in entries if e.get("type") == "request"
                and e["request"]["path"].startswith("secret/")
                and request_id in e["request"].get("headers", {}).get("x-request-id", [])]

    wait_for(lambda: audited(ours), seconds=10)
    assert audited(ours) == ["secret/data/agents/agent_b/isolation/none"]
    assert audited(taken) == ["secret/data/agents/agent_api/isolation/none"]


def test_mcp_method_headers_label_only_what_rmcp_checked(stack):
    """Request headers that claim an MCP method on a REST call, or on a session revision that
    never checks them, are not recorded as what the agent called (the console's Activity)."""
    operator = add_agent(stack, f"ops_{uuid.uuid4().hex[:6]}", "--scopes", "admin")
    claims = {"X-API-Key": INTRUDER, "Mcp-Method": "tools/call", "Mcp-Name": "kv.destroy",
              "MCP-Protocol-Version": "2026-07-28"}
    rest = requests.get(f"{stack.envoy_url}/secrets/isolation/none", headers=claims, timeout=10)
    session = open_session(stack, INTRUDER)
    legacy = post(stack, INTRUDER, call("kv.list", {}), session,
                  extra={"Mcp-Method": "tools/call", "Mcp-Name": "kv.destroy"})
    modern = requests.post(f"{stack.envoy_url}/mcp", timeout=10, headers={**SESSION_HEADERS, **claims,
                           "MCP-Protocol-Version": "2026-07-28", "Mcp-Name": "kv.list"},
                           json={**call("kv.list", {}), "params": {"name": "kv.list", "arguments": {}, "_meta": {
                               "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                               "io.modelcontextprotocol/clientCapabilities": {}}}})
    assert (rest.status_code, legacy.status_code, modern.status_code) == (404, 200, 200), modern.text
    console = signed_in_session(stack, operator)
    activity = console.get(f"{stack.console_url}/api/activity/agent_b", timeout=10).json()["requests"]
    labels = {entry["request_id"]: entry.get("mcp") for entry in activity}
    assert labels[rest.headers["x-request-id"]] is None
    assert labels[legacy.headers["x-request-id"]] is None
    assert labels[modern.headers["x-request-id"]] == "tools/call kv.list"


def test_the_console_answers_only_its_own_host_names(stack):
    """DNS rebinding: a page on evil.example whose name now points at the console's address
    signs in with `Host: evil.example:PORT` and its own Origin; a forwarded host is believed
    only from a configured proxy (none here)."""
    key = add_agent(stack, f"ops_{uuid.uuid4().hex[:6]}", "--scopes", "admin")
    port = stack.console_url.rsplit(":", 1)[1]
    evil = f"evil.example:{port}"
    for headers in ({"Host": evil, "Origin": f"http://{evil}"}, {"Host": evil},
                    {"X-Forwarded-Host": evil, "Origin": f"http://{evil}"},
                    {"Origin": f"http://{evil}"}):
        refused = requests.post(f"{stack.console_url}/login", json={"credential": key}, headers=headers, timeout=10)
        assert refused.status_code == 403 and "set-cookie" not in refused.headers, (headers, refused.text)
        assert requests.get(f"{stack.console_url}/login", headers=headers, timeout=10).status_code == 403
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        allowed = requests.post(f"{stack.console_url}/login", json={"credential": key}, timeout=10,
                                headers={"Host": host, "Origin": f"http://{host}"})
        assert allowed.status_code == 200, allowed.text

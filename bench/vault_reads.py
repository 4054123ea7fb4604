"""The Vault read scenarios: a KV v2 read straight from OpenBao, with the root token and with a
token as the bridge makes each agent's (the agents' templated policy alone, through their token role), the
bridge's REST read through Envoy, and MCP `tools/call kv.read` through Envoy (revision
2026-07-28: stateless, tool named in headers)."""

from __future__ import annotations

import json

import edge
import stack as stacks
from load import Shape, request


def kv_scenarios(stack: stacks.Stack) -> list[tuple[str, str, Shape]]:
    agent = {"x-api-key": edge.API_KEY}
    put = request(stack.envoy_url, "PUT", "/secrets/bench/item",
                  {**agent, "content-type": "application/json"},
                  json.dumps({"data": {"value": "benchmark"}}).encode())
    assert put[0] == 200, put
    # The direct client gets what the bridge's agent token gets: the agent's policy alone.
    # (The PUT above made the agent's entity and its metadata, which the policy is templated on.)
    status, body = request(stack.openbao_url, "POST", "/v1/auth/token/create/vault-mcp-bridge-agent",
                           {"x-vault-token": stacks.ROOT_TOKEN},
                           json.dumps({"entity_alias": f"vault-mcp-bridge-agent:{edge.SUBJECT}",
                                       "policies": ["vault-mcp-bridge-agent", "vault-mcp-bridge-agent-roles"],
                                       "no_default_policy": True, "ttl": "2h"}).encode())
    assert status == 200, body
    token = json.loads(body)["auth"]["client_token"]
    plain = plain_policy_token(stack)
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}}
    call = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": "kv.read", "arguments": {"path": "bench/item"}, "_meta": meta}}).encode()
    mcp_headers = {**agent, "content-type": "application/json", "accept": "application/json, text/event-stream",
                   "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "kv.read"}
    secret = f"{stack.openbao_url}/v1/secret/data/agents/{edge.SUBJECT}/bench/item"
    shapes = [
        ("openbao-root", "OpenBao KV v2 read, direct, root token",
         Shape(secret, headers={"x-vault-token": stacks.ROOT_TOKEN})),
        ("openbao", "OpenBao KV v2 read, direct, the agent's own token",
         Shape(secret, headers={"x-vault-token": token})),
        ("openbao-plain", "OpenBao KV v2 read, direct, the same paths as a plain per-agent policy",
         Shape(secret, headers={"x-vault-token": plain})),
        ("rest", "bridge REST GET /secrets/… through Envoy", Shape(f"{stack.envoy_url}/secrets/bench/item",
                                                                    headers=agent)),
        ("mcp", "bridge MCP tools/call kv.read through Envoy",
         Shape(f"{stack.envoy_url}/mcp", method="POST", headers=mcp_headers, body=call)),
    ]
    check(shapes, b"benchmark")
    return shapes


def plain_policy_token(stack: stacks.Stack) -> str:
    """A token whose policies are the agents' with the agent's values written in (no template):
    what the templated policy costs Vault, against a per-agent policy."""
    root = {"x-vault-token": stacks.ROOT_TOKEN}
    status, body = request(stack.openbao_url, "GET", "/v1/sys/policies/acl/vault-mcp-bridge-agent", root)
    assert status == 200, body
    hcl = (json.loads(body)["data"]["policy"]
           .replace("{{identity.entity.metadata.subject}}", edge.SUBJECT)
           .replace("{{identity.entity.metadata.key_prefix}}", f"{len(edge.SUBJECT)}_{edge.SUBJECT}_"))
    status, body = request(stack.openbao_url, "PUT", f"/v1/sys/policies/acl/bench-plain-{edge.SUBJECT}",
                           {**root, "content-type": "application/json"}, json.dumps({"policy": hcl}).encode())
    assert status in (200, 204), body
    status, body = request(stack.openbao_url, "POST", "/v1/auth/token/create", root,
                           json.dumps({"policies": [f"bench-plain-{edge.SUBJECT}", "vault-mcp-bridge-agent-roles"],
                                       "no_default_policy": True,
                                       "ttl": "2h"}).encode())
    assert status == 200, body
    return json.loads(body)["auth"]["client_token"]


def check(shapes: list[tuple[str, str, Shape]], expected: bytes = b"") -> None:
    """Each shape must really succeed (and say `expected`), or the benchmark would measure
    refusals."""
    for name, _, shape in shapes:
        status, body = request(shape.url, shape.method, "", shape.headers, shape.body)
        assert status == 200 and expected in body, (name, status, body[:300])

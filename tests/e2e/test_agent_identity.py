"""Each agent its own identity in Vault (issue #25), on the stack as it ships: the backend runs
with the service's own token (`gen-policy --service`, not root) and acts for each agent with a
token of the agent's own, minted through the token role for the entity alias
`vault-mcp-bridge-agent:{subject}`, with the agents' templated policy alone. Vault's audit log
names the agent; Vault itself refuses an agent's token outside its corner, and refuses the
service any policy write or any privilege on an entity; `agents disable` reaches Vault (entity
disabled, leases revoked)."""

import asyncio
import json
import threading
import time
import uuid

import pytest
import requests
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.client.subscriptions import SubscriptionLost
from mcp.shared._httpx_utils import create_mcp_http_client
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

import stack as stacks
from attacks import MCP_HEADERS, open_session
from support import (AGENT_POLICIES, AGENT_POLICY, AGENT_ROLE, add_agent, agent_entity, agent_token, agents_cli,
                     mint_agent_token, start_stack, wait_for)
from test_engines import can_log_in


def root(stack) -> requests.Session:
    session = requests.Session()
    session.headers["X-Vault-Token"] = stacks.ROOT_TOKEN
    return session


def audited(stack, request_id: str) -> list[dict]:
    """Vault's audit entries (requests) made for one of the bridge's request ids."""
    entries = [json.loads(line) for line in stack.audit_log.read_text().splitlines()]
    return [e for e in entries if e.get("type") == "request"
            and request_id in e["request"].get("headers", {}).get("x-request-id", [])]


def entity(stack, entity_id: str) -> dict:
    return root(stack).get(f"{stack.openbao_url}/v1/identity/entity/id/{entity_id}", timeout=10).json()["data"]


def test_every_engine_works_through_the_agents_own_token(stack):
    h = {"X-API-Key": "dev-key"}
    url = stack.envoy_url
    public_key = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    calls = [
        requests.put(f"{url}/secrets/identity/a", json={"data": {"x": 1}}, headers=h, timeout=10),
        requests.get(f"{url}/secrets/identity/a", headers=h, timeout=10),
        requests.get(f"{url}/secrets", params={"prefix": "identity/"}, headers=h, timeout=10),
        requests.delete(f"{url}/secrets/identity/a", headers=h, timeout=10),
        requests.post(f"{url}/secrets/identity/a:undelete", json={"versions": [1]}, headers=h, timeout=10),
        requests.post(f"{url}/transit/encrypt", json={"text": "t"}, headers=h, timeout=10),
        requests.post(f"{url}/transit/sign", json={"input": {"text": "t"}}, headers=h, timeout=10),
        requests.get(f"{url}/transit/random", headers=h, timeout=10),
        requests.post(f"{url}/ssh/otp", json={"ip": "127.0.0.1"}, headers=h, timeout=10),
        requests.post(f"{url}/ssh/sign", json={"public_key": public_key}, headers=h, timeout=10),
    ]
    creds = requests.post(f"{url}/db/creds/readonly", headers=h, timeout=30)
    calls += [creds, requests.post(f"{url}/db/revoke", json={"lease_id": creds.json()["lease_id"]},
                                   headers=h, timeout=30)]
    for response in calls:
        assert response.status_code == 200, (response.request.method, response.request.url, response.text)


def test_a_database_lease_has_a_token_of_its_own(stack):
    """Vault ends a lease with the token that made it: the agent's cached token lives 15
    minutes, so each lease is issued with a token of the agent's own living 24 hours."""
    issued = requests.post(f"{stack.envoy_url}/db/creds/readonly", headers={"X-API-Key": "dev-key"}, timeout=30)
    assert issued.ok, issued.text
    wait_for(lambda: audited(stack, issued.headers["x-request-id"]), seconds=10)
    [entry] = [e for e in audited(stack, issued.headers["x-request-id"])
               if e["request"]["path"] == "database/creds/readonly"]
    assert entry["auth"]["policies"] == AGENT_POLICIES and entry["auth"]["token_ttl"] == 86400, entry["auth"]


def test_vaults_audit_log_names_the_agent_and_no_root_policy(stack):
    written = requests.put(f"{stack.envoy_url}/secrets/identity/audited", json={"data": {"x": 1}},
                           headers={"X-API-Key": "dev-key-b"}, timeout=10)
    assert written.ok, written.text
    wait_for(lambda: audited(stack, written.headers["x-request-id"]), seconds=10)
    [entry] = [e for e in audited(stack, written.headers["x-request-id"])
               if e["request"]["path"] == "secret/data/agents/agent_b/identity/audited"]
    auth = entry["auth"]
    assert auth["policies"] == AGENT_POLICIES and "root" not in auth["token_policies"], auth
    assert auth["metadata"] == {"agent": "agent_b"}, auth
    found = entity(stack, auth["entity_id"])
    assert [(a["name"], a["mount_type"]) for a in found["aliases"]] == [(f"{AGENT_ROLE}:agent_b", "token")]
    # What the agents' policy is templated on, written by the service; nothing else on it.
    assert found["metadata"] == {"subject": "agent_b", "key_prefix": "7_agent_b_"}, found
    assert not found["disabled"] and not found["policies"] and not found["group_ids"], found


def test_the_service_itself_runs_without_root(stack):
    """The backend's own token has the service policy alone, which reads no agent's secret."""
    me = requests.get(f"{stack.openbao_url}/v1/auth/token/lookup-self", timeout=10,
                      headers={"X-Vault-Token": stacks.SERVICE_TOKEN}).json()["data"]
    assert me["policies"] == ["vault-mcp-bridge"], me
    service = requests.Session()
    service.headers["X-Vault-Token"] = stacks.SERVICE_TOKEN
    requests.put(f"{stack.envoy_url}/secrets/identity/private", json={"data": {"x": "mine"}},
                 headers={"X-API-Key": "dev-key"}, timeout=10).raise_for_status()
    read = service.get(f"{stack.openbao_url}/v1/secret/data/agents/agent_api/identity/private", timeout=10)
    assert read.status_code == 403


def test_vault_refuses_an_agents_token_outside_its_corner(stack):
    """A token as the backend mints it for agent_api (same role, alias and policy), used straight
    against Vault's API: its own folder works, another agent's does not."""
    requests.get(f"{stack.envoy_url}/secrets", headers={"X-API-Key": "dev-key"}, timeout=10).raise_for_status()
    as_agent = requests.Session()
    as_agent.headers["X-Vault-Token"] = agent_token(stack, "agent_api", "60s")
    base = f"{stack.openbao_url}/v1"
    assert as_agent.post(f"{base}/secret/data/agents/agent_api/identity/own", json={"data": {"a": 1}}, timeout=10).ok
    own_entity = agent_entity(stack, "agent_api")["id"]
    for method, path in [("GET", "secret/data/agents/agent_b/identity/audited"), ("POST", "transit/encrypt/agent_b"),
                         ("GET", "secret/data/_bridge/agents/agent_b"), ("LIST", "secret/metadata/agents"),
                         ("GET", f"sys/policies/acl/{AGENT_POLICY}"), ("POST", "auth/token/create"),
                         # The metadata its policy is templated on is not the agent's to change.
                         ("POST", f"identity/entity/id/{own_entity}")]:
        response = as_agent.request(method, f"{base}/{path}", timeout=10,
                                    json={"plaintext": "eA==", "metadata": {"subject": "agent_b"}})
        assert response.status_code == 403, (method, path, response.text)
    # The templated policy's `+` covers each engine's verbs; those that name a second key or move
    # key material are denied by name, own keys included.
    own, others = "9_agent_api_k", "7_agent_b_k"
    capabilities = lambda path: root(stack).post(f"{base}/sys/capabilities", timeout=10, json={
        "token": as_agent.headers["X-Vault-Token"], "paths": [path]}).json()["capabilities"]
    for path in [f"transit-agents/derive-key/{own}", f"transit-agents/byok-export/{own}/{others}",
                 f"transit-agents/backup/{own}", f"transit-agents/restore/{own}", f"transit-agents/export/{own}",
                 "transit/derive-key/agent_api", f"transit-agents/encrypt/{others}", "transit/encrypt/agent_b"]:
        assert capabilities(path) == ["deny"], path
    assert "update" in capabilities(f"transit-agents/encrypt/{own}")
    assert "update" in capabilities("transit/encrypt/agent_api")


def test_vault_refuses_the_service_every_policy_and_privilege(stack):
    """The service's token mints agents' tokens but cannot make any token stronger than an
    agent's: it writes no policy, gives an entity no policy, mints no other policy and binds no
    alias outside the role's own (an operator's entity, say)."""
    service = requests.Session()
    service.headers["X-Vault-Token"] = stacks.SERVICE_TOKEN
    base = f"{stack.openbao_url}/v1"
    requests.get(f"{stack.envoy_url}/secrets", headers={"X-API-Key": "dev-key"}, timeout=10).raise_for_status()
    own_entity = agent_entity(stack, "agent_api")["id"]
    refused = [
        service.put(f"{base}/sys/policies/acl/{AGENT_POLICY}", json={"policy": 'path "*" {capabilities=["sudo"]}'},
                    timeout=10),
        service.put(f"{base}/sys/policy/agent-x", json={"policy": 'path "*" {capabilities=["read"]}'}, timeout=10),
        service.post(f"{base}/identity/entity/id/{own_entity}", json={"policies": ["vault-mcp-bridge"]}, timeout=10),
        service.post(f"{base}/identity/entity", json={"name": "x", "policies": ["vault-mcp-bridge"]}, timeout=10),
        service.post(f"{base}/identity/group", json={"name": "g", "member_entity_ids": [own_entity]}, timeout=10),
        service.post(f"{base}/auth/token/create", json={"policies": ["vault-mcp-bridge"]}, timeout=10),
    ]
    for response in refused:
        assert response.status_code == 403, (response.request.url, response.text)
    for alias, policies in [("ops-admin", AGENT_POLICIES), (f"{AGENT_ROLE}:agent_api", ["vault-mcp-bridge"])]:
        minted = service.post(f"{base}/auth/token/create/{AGENT_ROLE}", timeout=10,
                              json={"entity_alias": alias, "policies": policies, "no_default_policy": True})
        assert minted.status_code in (400, 403) and "client_token" not in minted.text, (alias, minted.text)
    assert not agent_entity(stack, "agent_api")["policies"]


def test_an_entity_carrying_foreign_privileges_is_not_acted_for(stack):
    """An entity made beforehand under an agent's alias, with a policy of its own (an operator's
    identity, or privileges added by hand): its tokens would carry that policy beside the
    agents', so the bridge refuses to act for the agent (503) until an operator removes it."""
    subject = f"fe_{uuid.uuid4().hex[:6]}"
    base = f"{stack.openbao_url}/v1"
    made = root(stack).post(f"{base}/identity/entity", json={"name": subject, "policies": ["vault-mcp-bridge"]},
                            timeout=10).json()["data"]["id"]
    accessor = root(stack).get(f"{base}/sys/auth", timeout=10).json()["token/"]["accessor"]
    assert root(stack).post(f"{base}/identity/entity-alias", timeout=10, json={
        "name": f"{AGENT_ROLE}:{subject}", "canonical_id": made, "mount_accessor": accessor}).ok
    key = add_agent(stack, subject, "--scopes", "read,write")
    h = {"X-API-Key": key}
    answer = requests.get(f"{stack.envoy_url}/secrets/x", headers=h, timeout=10)
    assert answer.status_code == 503 and answer.json()["error"] == "agent_token_unavailable", answer.text
    assert "vault-mcp-bridge" not in answer.text
    logs = lambda: "".join(p.read_text() for p in stack.logs.glob("backend*/server.log"))
    wait_for(lambda: "1 policies, 0 groups and 1 aliases" in logs(), 10)
    assert "metadata" not in agent_entity(stack, subject) or not agent_entity(stack, subject)["metadata"]
    assert root(stack).post(f"{base}/identity/entity/id/{made}", json={"policies": []}, timeout=10).ok
    wait_for(lambda: requests.put(f"{stack.envoy_url}/secrets/x", json={"data": {"v": 1}}, headers=h,
                                  timeout=10).status_code == 200, 10)


def test_disabling_an_agent_revokes_its_leases_and_stops_its_tokens(stack):
    subject = f"ks_{uuid.uuid4().hex[:6]}"
    key = add_agent(stack, subject, "--scopes", "read,write,list,delete")
    h = {"X-API-Key": key}
    assert requests.put(f"{stack.envoy_url}/secrets/kept", json={"data": {"v": 1}}, headers=h, timeout=10).ok
    creds = requests.post(f"{stack.envoy_url}/db/creds/readonly", headers=h, timeout=30).json()
    assert can_log_in(stack, creds["username"], creds["password"])

    done = json.loads(agents_cli(stack, "disable", subject, "--json").stdout)
    assert done == {"subject": subject, "revoked": {"entity_disabled": True, "leases_revoked": [creds["lease_id"]],
                                                    "certificates_revoked": []}}
    wait_for(lambda: not can_log_in(stack, creds["username"], creds["password"]), seconds=10)
    lease = root(stack).put(f"{stack.openbao_url}/v1/sys/leases/lookup", json={"lease_id": creds["lease_id"]}, timeout=10)
    assert lease.status_code == 400, lease.text
    # Vault itself refuses the agent's identity: no new token for it, whoever asks.
    minted = mint_agent_token(stack, subject)
    assert minted.status_code == 403 and "disabled" in minted.text, minted.text

    agents_cli(stack, "enable", subject)
    wait_for(lambda: requests.get(f"{stack.envoy_url}/secrets/kept", headers=h, timeout=10).status_code == 200, 15)

    removed = json.loads(agents_cli(stack, "remove", subject, "--json").stdout)
    assert removed["revoked"] == {"entity_disabled": True, "leases_revoked": [], "certificates_revoked": []}, removed


def test_a_role_or_policy_not_as_provisioned_stops_the_start_with_what_to_run(built, tmp_path_factory):
    """The operator's part: a missing role, a role allowing any alias or another policy, a
    missing or different agents' policy each stop the start, naming the commands to run."""
    alone = stacks.Stack(run_dir=tmp_path_factory.mktemp("norole"), ports=stacks.Ports.free(), with_envoy=False)
    role_url = f"{alone.openbao_url}/v1/auth/token/roles/{AGENT_ROLE}"
    policy_url = f"{alone.openbao_url}/v1/sys/policies/acl/{AGENT_POLICY}"
    try:
        alone.start_vault()
        provisioned_role = root(alone).get(role_url, timeout=10).json()["data"]
        provisioned_policy = root(alone).get(policy_url, timeout=10).json()["data"]["policy"]
        provisioned_roles = root(alone).get(f"{policy_url}-roles", timeout=10).json()["data"]["policy"]
        narrow = {"allowed_policies": AGENT_POLICIES, "allowed_policies_glob": [],
                  "allowed_entity_aliases": [f"{AGENT_ROLE}:*"], "orphan": True}
        cases = [
            (lambda: root(alone).delete(role_url, timeout=10), f"no token role \"{AGENT_ROLE}\""),
            (lambda: root(alone).post(role_url, json={**narrow, "allowed_entity_aliases": ["*"]}, timeout=10),
             f"not only {AGENT_ROLE}:*"),
            (lambda: root(alone).post(role_url, json={**narrow, "allowed_policies_glob": ["agent-*"]}, timeout=10),
             "alone"),
            (lambda: root(alone).delete(policy_url, timeout=10), f"no policy \"{AGENT_POLICY}\""),
            (lambda: root(alone).put(policy_url, json={"policy": provisioned_policy.replace("+", "*")},
                                     timeout=10), "is not the one this version and configuration give"),
            (lambda: root(alone).put(f"{policy_url}-roles", json={"policy": 'path "*" {capabilities = ["read"]}'},
                                     timeout=10), f"policy \"{AGENT_POLICY}-roles\" (from AGENT_POLICY) is not"),
        ]
        for spoil, said in cases:
            assert root(alone).post(role_url, json=narrow, timeout=10).ok
            assert root(alone).put(policy_url, json={"policy": provisioned_policy}, timeout=10).ok
            assert root(alone).put(f"{policy_url}-roles", json={"policy": provisioned_roles}, timeout=10).ok
            assert spoil().ok
            with pytest.raises(RuntimeError) as refused:
                alone.start_backend()
            log = str(refused.value)
            assert said in log and "gen-policy --agents" in log and "gen-policy --agent-roles" in log, log
            assert "vault write auth/token/roles/" in log, log
        assert provisioned_role["allowed_entity_aliases"] == [f"{AGENT_ROLE}:*"], provisioned_role
    finally:
        alone.stop()


def test_vault_refusing_an_agents_token_is_a_503_with_a_stable_code(built, tmp_path_factory):
    """The role no longer allows the agents' policy: every agent call is refused by
    Vault at the mint, answered 503 `agent_token_unavailable`, and never done with the
    service's own token; Vault's reason goes to the log, not to the agent."""
    refusing = start_stack(tmp_path_factory, "refusing", with_envoy=False,
                           backend_env={"STANDALONE": "true", "API_KEYS_JSON":
                                        '{"k": {"subject": "agent_api", "scopes": ["read", "write"]}}'})
    try:
        assert root(refusing).post(f"{refusing.openbao_url}/v1/auth/token/roles/{AGENT_ROLE}", timeout=10,
                                   json={"allowed_policies": ["nothing"]}).ok
        answer = requests.get(f"{refusing.backend_url}/secrets/x", headers={"X-API-Key": "k"}, timeout=10)
        assert answer.status_code == 503 and answer.json()["error"] == "agent_token_unavailable", answer.text
        assert "nothing" not in answer.text and answer.headers["retry-after"] == "5"
        # The log is written in the background: wait for the line, do not race it.
        wait_for(lambda: "Vault refused an agent's token" in (refusing.logs / "backend" / "server.log").read_text(), 10)
    finally:
        refusing.stop()


def test_disabling_an_agent_ends_its_mcp_sessions_and_streams(stack):
    """What the bridge holds open for an agent ends when it is disabled (here by the CLI, so
    the backend learns it from the registry it follows): its 2025-11-25 session and the
    session's stream, its 2026-07-28 `subscriptions/listen` stream and the seed's `/mcp/sse`.
    Vault already refuses the agent's entity; these would otherwise stay open."""
    subject = f"cut_{uuid.uuid4().hex[:6]}"
    key = add_agent(stack, subject, "--scopes", "read,write,list")
    assert requests.put(f"{stack.envoy_url}/secrets/watched", json={"data": {"v": 1}},
                        headers={"X-API-Key": key}, timeout=10).ok
    session = open_session(stack, key)
    headers = {"X-API-Key": key, "Accept": "text/event-stream"}
    session_stream = requests.get(f"{stack.envoy_url}/mcp", stream=True, timeout=60, headers={
        **headers, "MCP-Protocol-Version": "2025-11-25", "Mcp-Session-Id": session})
    seed_stream = requests.get(f"{stack.envoy_url}/mcp/sse", stream=True, timeout=60, headers=headers)
    assert session_stream.status_code == 200 and seed_stream.status_code == 200
    ended = {name: threading.Event() for name in ("session", "seed")}

    def drain(response, name):
        try:
            for _ in response.iter_lines():
                pass
        except requests.RequestException:
            pass
        ended[name].set()

    for name, response in (("session", session_stream), ("seed", seed_stream)):
        threading.Thread(target=drain, args=(response, name), daemon=True).start()

    async def listen_then_disable():
        http = create_mcp_http_client(headers={"X-API-Key": key})
        async with http:
            async with Client(streamable_http_client(f"{stack.envoy_url}/mcp", http_client=http),
                              mode="2026-07-28") as client:
                async with client.listen(resource_subscriptions=[f"kv://{subject}/watched"]) as subscription:
                    await asyncio.to_thread(agents_cli, stack, "disable", subject)
                    with pytest.raises(SubscriptionLost) as lost:
                        async with asyncio.timeout(30):
                            async for event in subscription:
                                raise AssertionError(f"notified of {event} after the agent was disabled")
                    return lost.value

    lost = asyncio.run(listen_then_disable())
    assert "disabled or removed" in str(lost.__cause__), lost.__cause__
    wait_for(lambda: all(event.is_set() for event in ended.values()), seconds=30)
    # The session is gone: named again (once the agent is enabled), it is unknown.
    agents_cli(stack, "enable", subject)
    wait_for(lambda: requests.get(f"{stack.envoy_url}/secrets/watched", headers={"X-API-Key": key},
                                  timeout=10).ok, 15)
    # The edge may not have seen the agent disabled at all yet when it is enabled again (it
    # fetches every 2 s, and each Envoy worker takes a fetched snapshot at its own 1 s tick):
    # a 403 `agent_disabled` can still come after the first answers that pass. So: no 403 for
    # longer than a fetch and a tick together.
    again = lambda: requests.post(f"{stack.envoy_url}/mcp", timeout=10, headers={
        **MCP_HEADERS, "X-API-Key": key, "MCP-Protocol-Version": "2025-11-25", "Mcp-Session-Id": session},
        json={"jsonrpc": "2.0", "id": 3, "method": "tools/list"}).status_code

    def settled() -> bool:
        until = time.monotonic() + 3.5
        while time.monotonic() < until:
            if again() == 403:
                return False
            time.sleep(0.1)
        return True

    wait_for(settled, 30)
    assert [again() for _ in range(4)] == [404] * 4


def test_an_entity_disabled_in_vault_is_a_403_before_the_registry_says_so(stack):
    """The kill switch disables the entity first; a replica whose registry does not show it
    yet meets Vault's refusal and answers 403 `agent_disabled`, not a retryable 503."""
    subject = f"dis_{uuid.uuid4().hex[:6]}"
    key = add_agent(stack, subject, "--scopes", "read,write")
    h = {"X-API-Key": key}
    assert requests.put(f"{stack.envoy_url}/secrets/x", json={"data": {"v": 1}}, headers=h, timeout=10).ok
    entity_id = agent_entity(stack, subject)["id"]
    base = f"{stack.openbao_url}/v1/identity/entity/id/{entity_id}"
    assert root(stack).post(base, json={"disabled": True}, timeout=10).ok
    for call in (lambda: requests.get(f"{stack.envoy_url}/secrets/x", headers=h, timeout=10),
                 lambda: requests.post(f"{stack.envoy_url}/db/creds/readonly", headers=h, timeout=30)):
        answer = call()
        assert answer.status_code == 403 and answer.json()["error"] == "agent_disabled", answer.text
    assert root(stack).post(base, json={"disabled": False}, timeout=10).ok
    assert requests.get(f"{stack.envoy_url}/secrets/x", headers=h, timeout=10).ok

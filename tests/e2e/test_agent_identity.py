"""Each agent its own identity in Vault (issue #25), on the stack as it ships: the backend runs
with the service's own token (`gen-policy --service`, not root) and acts for each agent with a
token of the agent's own, minted through the token role for the entity alias `{subject}`, with
the agent's policy alone. Vault's audit log names the agent; Vault itself refuses an agent's
token outside its corner; `agents disable` reaches Vault (entity disabled, leases revoked)."""

import json
import uuid

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

import stack as stacks
from support import add_agent, agents_cli, start_stack, wait_for
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
    assert entry["auth"]["policies"] == ["agent-agent_api"] and entry["auth"]["token_ttl"] == 86400, entry["auth"]


def test_vaults_audit_log_names_the_agent_and_no_root_policy(stack):
    written = requests.put(f"{stack.envoy_url}/secrets/identity/audited", json={"data": {"x": 1}},
                           headers={"X-API-Key": "dev-key-b"}, timeout=10)
    assert written.ok, written.text
    wait_for(lambda: audited(stack, written.headers["x-request-id"]), seconds=10)
    [entry] = [e for e in audited(stack, written.headers["x-request-id"])
               if e["request"]["path"] == "secret/data/agents/agent_b/identity/audited"]
    auth = entry["auth"]
    assert auth["policies"] == ["agent-agent_b"] and "root" not in auth["token_policies"], auth
    assert auth["metadata"] == {"agent": "agent_b"}, auth
    found = entity(stack, auth["entity_id"])
    assert [(a["name"], a["mount_type"]) for a in found["aliases"]] == [("agent_b", "token")]
    assert not found["disabled"]


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
    minted = root(stack).post(f"{stack.openbao_url}/v1/auth/token/create/vault-mcp-bridge-agent", timeout=10, json={
        "entity_alias": "agent_api", "policies": ["agent-agent_api"], "no_default_policy": True, "ttl": "60s"})
    assert minted.ok, minted.text
    as_agent = requests.Session()
    as_agent.headers["X-Vault-Token"] = minted.json()["auth"]["client_token"]
    base = f"{stack.openbao_url}/v1"
    assert as_agent.post(f"{base}/secret/data/agents/agent_api/identity/own", json={"data": {"a": 1}}, timeout=10).ok
    for method, path in [("GET", "secret/data/agents/agent_b/identity/audited"), ("POST", "transit/encrypt/agent_b"),
                         ("GET", "secret/data/_bridge/agents/agent_b"), ("LIST", "secret/metadata/agents"),
                         ("GET", "sys/policies/acl/agent-agent_b"), ("POST", "auth/token/create")]:
        response = as_agent.request(method, f"{base}/{path}", json={"plaintext": "eA=="}, timeout=10)
        assert response.status_code == 403, (method, path, response.text)


def test_disabling_an_agent_revokes_its_leases_and_stops_its_tokens(stack):
    subject = f"ks_{uuid.uuid4().hex[:6]}"
    key = add_agent(stack, subject, "--scopes", "read,write,list,delete")
    h = {"X-API-Key": key}
    assert requests.put(f"{stack.envoy_url}/secrets/kept", json={"data": {"v": 1}}, headers=h, timeout=10).ok
    creds = requests.post(f"{stack.envoy_url}/db/creds/readonly", headers=h, timeout=30).json()
    assert can_log_in(stack, creds["username"], creds["password"])

    done = json.loads(agents_cli(stack, "disable", subject, "--json").stdout)
    assert done == {"subject": subject, "revoked": {"entity_disabled": True, "leases_revoked": [creds["lease_id"]]}}
    wait_for(lambda: not can_log_in(stack, creds["username"], creds["password"]), seconds=10)
    lease = root(stack).put(f"{stack.openbao_url}/v1/sys/leases/lookup", json={"lease_id": creds["lease_id"]}, timeout=10)
    assert lease.status_code == 400, lease.text
    # Vault itself refuses the agent's identity: no new token for it, whoever asks.
    minted = root(stack).post(f"{stack.openbao_url}/v1/auth/token/create/vault-mcp-bridge-agent", timeout=10, json={
        "entity_alias": subject, "policies": [f"agent-{subject}"], "no_default_policy": True})
    assert minted.status_code == 403 and "disabled" in minted.text, minted.text

    agents_cli(stack, "enable", subject)
    wait_for(lambda: requests.get(f"{stack.envoy_url}/secrets/kept", headers=h, timeout=10).status_code == 200, 15)

    removed = json.loads(agents_cli(stack, "remove", subject, "--json").stdout)
    assert removed["revoked"] == {"entity_disabled": True, "leases_revoked": []}, removed


def test_no_token_role_stops_the_start_with_what_to_run(built, tmp_path_factory):
    alone = stacks.Stack(run_dir=tmp_path_factory.mktemp("norole"), ports=stacks.Ports.free(), with_envoy=False)
    try:
        alone.start_vault()
        assert root(alone).delete(f"{alone.openbao_url}/v1/auth/token/roles/vault-mcp-bridge-agent", timeout=10).ok
        with pytest.raises(RuntimeError) as refused:
            alone.start_backend()
        log = str(refused.value)
        assert "no token role \"vault-mcp-bridge-agent\"" in log and "vault write auth/token/roles/" in log, log
    finally:
        alone.stop()


def test_vault_refusing_an_agents_token_is_a_503_with_a_stable_code(built, tmp_path_factory):
    """The role's policy glob no longer covers agents' policies: every agent call is refused by
    Vault at the mint, answered 503 `agent_token_unavailable`, and never done with the
    service's own token; Vault's reason goes to the log, not to the agent."""
    refusing = start_stack(tmp_path_factory, "refusing", with_envoy=False,
                           backend_env={"STANDALONE": "true", "API_KEYS_JSON":
                                        '{"k": {"subject": "agent_api", "scopes": ["read", "write"]}}'})
    try:
        assert root(refusing).post(f"{refusing.openbao_url}/v1/auth/token/roles/vault-mcp-bridge-agent", timeout=10,
                                   json={"allowed_policies_glob": ["nothing-*"], "allowed_entity_aliases": ["*"]}).ok
        answer = requests.get(f"{refusing.backend_url}/secrets/x", headers={"X-API-Key": "k"}, timeout=10)
        assert answer.status_code == 503 and answer.json()["error"] == "agent_token_unavailable", answer.text
        assert "nothing-" not in answer.text and answer.headers["retry-after"] == "5"
        assert "Vault refused an agent's token" in (refusing.logs / "backend" / "server.log").read_text()
    finally:
        refusing.stop()

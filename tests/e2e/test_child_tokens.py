"""CHILD_TOKEN_ENABLED: every Vault call for an agent is made with a token bound to that agent's
policy (written by gen-policy), so Vault itself confines the agent; one token per agent is
reused, not minted per request."""

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

import stack as stacks
from support import UNLIMITED, start_stack


@pytest.fixture(scope="module")
def children(built, tmp_path_factory):
    running = start_stack(tmp_path_factory, "children", filter_overrides=UNLIMITED,
                          backend_env={"CHILD_TOKEN_ENABLED": "true", "CHILD_TOKEN_TTL": "600"})
    yield running
    running.stop()


def root(stack):
    session = requests.Session()
    session.headers["X-Vault-Token"] = stacks.ROOT_TOKEN
    return session


def agent_tokens(stack, subject):
    session = root(stack)
    accessors = session.request("LIST", f"{stack.openbao_url}/v1/auth/token/accessors", timeout=10).json()
    found = []
    for accessor in accessors["data"]["keys"]:
        data = session.post(f"{stack.openbao_url}/v1/auth/token/lookup-accessor",
                            json={"accessor": accessor}, timeout=10).json()["data"]
        # Vault writes display names in lower case with '-' for '_'.
        if data["display_name"] == f"token-agent-{subject.replace('_', '-')}":
            found.append(data)
    return found


def test_every_engine_works_through_the_agents_own_token(children):
    h = {"X-API-Key": "dev-key"}
    url = children.envoy_url
    assert agent_tokens(children, "agent_api") == []
    calls = [
        requests.put(f"{url}/secrets/child/a", json={"data": {"x": 1}}, headers=h, timeout=10),
        requests.get(f"{url}/secrets/child/a", headers=h, timeout=10),
        requests.get(f"{url}/secrets", params={"prefix": "child/"}, headers=h, timeout=10),
        requests.delete(f"{url}/secrets/child/a", headers=h, timeout=10),
        requests.post(f"{url}/secrets/child/a:undelete", json={"versions": [1]}, headers=h, timeout=10),
        requests.post(f"{url}/transit/encrypt", json={"text": "t"}, headers=h, timeout=10),
        requests.post(f"{url}/transit/sign", json={"input": {"text": "t"}}, headers=h, timeout=10),
        requests.get(f"{url}/transit/random", headers=h, timeout=10),
        requests.post(f"{url}/ssh/otp", json={"ip": "127.0.0.1"}, headers=h, timeout=10),
        requests.post(f"{url}/ssh/sign", headers=h, timeout=10, json={"public_key": ed25519.Ed25519PrivateKey
                      .generate().public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                            serialization.PublicFormat.OpenSSH).decode()}),
    ]
    creds = requests.post(f"{url}/db/creds/readonly", headers=h, timeout=30)
    calls.append(creds)
    calls.append(requests.post(f"{url}/db/revoke", json={"lease_id": creds.json()["lease_id"]}, headers=h, timeout=30))
    for response in calls:
        assert response.status_code == 200, (response.request.method, response.request.url, response.text)
    tokens = agent_tokens(children, "agent_api")
    assert len(tokens) == 1, "one child token per agent, reused"
    assert tokens[0]["policies"] == ["agent-agent_api", "default"]
    assert 0 < tokens[0]["ttl"] <= 600
    # agent_b gets its own.
    assert requests.get(f"{url}/secrets", headers={"X-API-Key": "dev-key-b"}, timeout=10).ok
    assert len(agent_tokens(children, "agent_b")) == 1


def test_the_agents_policy_names_only_its_own_corner(children):
    policy = root(children).get(f"{children.openbao_url}/v1/sys/policies/acl/agent-agent_b", timeout=10)
    hcl = policy.json()["data"]["policy"]
    assert "secret/data/agents/agent_b/*" in hcl and "transit/encrypt/agent_b" in hcl
    assert "agent_api" not in hcl


def test_vault_refuses_a_child_token_outside_its_corner(children):
    session = root(children)
    token = session.post(f"{children.openbao_url}/v1/auth/token/create",
                         json={"policies": ["agent-agent_api"], "ttl": "60s"}, timeout=10).json()["auth"]["client_token"]
    as_agent = requests.Session()
    as_agent.headers["X-Vault-Token"] = token
    base = f"{children.openbao_url}/v1"
    assert as_agent.post(f"{base}/secret/data/agents/agent_api/own", json={"data": {"a": 1}}, timeout=10).ok
    for method, path in [("GET", "secret/data/agents/agent_b/x"), ("POST", "transit/encrypt/agent_b"),
                         ("GET", "secret/data/_bridge/leases/x"), ("LIST", "secret/metadata/agents")]:
        response = as_agent.request(method, f"{base}/{path}", json={"plaintext": "eA=="}, timeout=10)
        assert response.status_code == 403, (method, path)

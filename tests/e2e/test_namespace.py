"""VAULT_NAMESPACE: every call the backend makes goes to that namespace (OpenBao namespaces),
agents' own tokens included: the namespace has its own mounts and token role."""

import json
import subprocess

import requests

import stack as stacks
from support import AGENT_POLICIES, AGENT_ROLE


def test_calls_go_to_the_configured_namespace(built, tmp_path):
    # The root token reaches every namespace (the provisioned service token lives outside it).
    running = stacks.Stack(run_dir=tmp_path, ports=stacks.Ports.free(), with_envoy=False, backend_env={
        "STANDALONE": "true", "VAULT_NAMESPACE": "team", "VAULT_TOKEN": stacks.ROOT_TOKEN,
        "API_KEYS_JSON": json.dumps({"k": {"subject": "agent_ns", "scopes": ["read", "write"]}})})
    try:
        running.start_vault()
        root = requests.Session()
        root.headers["X-Vault-Token"] = stacks.ROOT_TOKEN
        bao = f"{running.openbao_url}/v1"
        assert root.post(f"{bao}/sys/namespaces/team", timeout=10).ok
        team = {"X-Vault-Namespace": "team"}
        assert root.post(f"{bao}/sys/mounts/secret", headers=team,
                         json={"type": "kv", "options": {"version": "2"}}, timeout=10).ok
        for transit in ("transit", "transit-agents"):
            assert root.post(f"{bao}/sys/mounts/{transit}", headers=team, json={"type": "transit"}, timeout=10).ok
        # The operator's part, in the namespace: the agents' policy and their token role.
        for which, name in zip(("--agents", "--agent-roles"), AGENT_POLICIES):
            policy = subprocess.run([str(running.backend_bin), "gen-policy", which], capture_output=True,
                                    text=True, check=True).stdout
            assert root.put(f"{bao}/sys/policies/acl/{name}", headers=team, json={"policy": policy},
                            timeout=10).ok
        assert root.post(f"{bao}/auth/token/roles/{AGENT_ROLE}", headers=team, timeout=10, json={
            "allowed_policies": AGENT_POLICIES, "allowed_entity_aliases": [f"{AGENT_ROLE}:*"], "orphan": True,
            "token_no_default_policy": True}).ok
        running.start_backend()
        url = f"{running.backend_url}/secrets/in/namespace"
        assert requests.put(url, json={"data": {"where": "team"}}, headers={"X-API-Key": "k"}, timeout=10).ok
        assert requests.get(url, headers={"X-API-Key": "k"}, timeout=10).json()["data"] == {"where": "team"}
        inside = root.get(f"{bao}/team/secret/data/agents/agent_ns/in/namespace", timeout=10)
        assert inside.json()["data"]["data"] == {"where": "team"}
        outside = root.get(f"{bao}/secret/data/agents/agent_ns/in/namespace", timeout=10)
        assert outside.status_code == 404
    finally:
        running.stop()

"""Names that cannot collide (issue #25): subjects are lower case (Vault folds policy names, so
`RT-1` and `rt-1` shared one), and no Vault object derived from one agent's name is derived from
another's (agent `rt-2-signing` once got agent rt-2's signing key as its own). A registry of an
earlier version is refused at start until `agents migrate` has run."""

import json
import uuid

import pytest
import requests

import stack as stacks
from attacks import claims, rs256
from support import add_agent, agents_cli


def test_upper_case_names_are_refused_everywhere(stack):
    refused = agents_cli(stack, "add", "RT-1", "--scopes", "read", check=False)
    assert refused.returncode != 0 and "lower-case" in refused.stderr, refused.stderr
    token = rs256(stack, claims(sub="Agent_Api"))
    answer = requests.get(f"{stack.envoy_url}/whoami", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_token", answer.text


def test_an_agent_named_after_anothers_key_gets_none_of_it(stack):
    owner = f"rt{uuid.uuid4().hex[:4]}"
    owner_key = add_agent(stack, owner, "--scopes", "read,write,list,delete")
    intruder_key = add_agent(stack, f"{owner}-signing", "--scopes", "read,write,list,delete")
    sign = lambda: requests.post(f"{stack.envoy_url}/transit/sign", json={"input": {"text": "t"}},
                                 headers={"X-API-Key": owner_key}, timeout=10)
    signed = sign()
    assert signed.ok, signed.text
    # The intruder's own encryption key is its own: encrypting works, and is no key of the owner's.
    mine = requests.post(f"{stack.envoy_url}/transit/encrypt", json={"text": "x"},
                         headers={"X-API-Key": intruder_key}, timeout=10)
    assert mine.ok, mine.text
    root = {"X-Vault-Token": stacks.ROOT_TOKEN}
    key = requests.get(f"{stack.openbao_url}/v1/transit/keys/{owner}-signing", headers=root, timeout=10).json()
    assert key["data"]["type"] == "aes256-gcm96", key
    # Erasing the intruder's data leaves the owner's signing key alone.
    agents_cli(stack, "remove", f"{owner}-signing", "--destroy-data")
    after = sign()
    assert after.ok, after.text
    verified = requests.post(f"{stack.envoy_url}/transit/verify", timeout=10, headers={"X-API-Key": owner_key},
                             json={"input": {"text": "t"}, "signature": signed.json()["signature"]})
    assert verified.ok and verified.json()["valid"] is True, verified.text


def test_a_registry_of_an_earlier_version_is_refused_until_migrated(built, tmp_path_factory):
    old = stacks.Stack(run_dir=tmp_path_factory.mktemp("earlier"), ports=stacks.Ports.free(), with_envoy=False)
    try:
        old.start_vault()
        root = requests.Session()
        root.headers["X-Vault-Token"] = stacks.ROOT_TOKEN
        bao = f"{old.openbao_url}/v1"
        # What an earlier version left: agent_b's signing key under its old name, an upper-case agent.
        assert root.post(f"{bao}/transit/keys/agent_b-signing", json={"type": "rsa-2048"}, timeout=10).ok
        record = root.get(f"{bao}/secret/data/_bridge/agents/agent_b", timeout=10).json()["data"]["data"]
        upper = {**record, "subject": "RT-1", "keys": [], "certificate": None}
        assert root.post(f"{bao}/secret/data/_bridge/agents/RT-1", json={"data": upper}, timeout=10).ok
        # Not an earlier version's: agent `lk-signing`'s own encryption key is named like one.
        agents_cli(old, "add", "lk", "--scopes", "read")
        agents_cli(old, "add", "lk-signing", "--scopes", "read")

        with pytest.raises(RuntimeError) as refused:
            old.start_backend()
        assert "earlier version" in str(refused.value) and "RT-1" in str(refused.value), refused.value
        assert "agent_b" in str(refused.value) and "agents migrate" in str(refused.value)

        migrated = json.loads(agents_cli(old, "migrate", "--json").stdout)
        assert migrated == {"signing_keys_moved": ["agent_b"], "names_to_redo": ["RT-1"]}
        retired = root.get(f"{bao}/secret/data/_bridge/retired-keys/agent_b", timeout=10).json()["data"]["data"]
        assert retired["name"] == "agent_b-signing" and "BEGIN PUBLIC KEY" in retired["keys"]["1"]["public_key"]
        assert root.get(f"{bao}/transit/keys/agent_b-signing", timeout=10).status_code == 404
        agents_cli(old, "remove", "RT-1")
        old.start_backend()
        again = json.loads(agents_cli(old, "migrate", "--json").stdout)
        assert again == {"signing_keys_moved": [], "names_to_redo": []}
    finally:
        old.stop()

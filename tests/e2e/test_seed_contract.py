"""The seed project's documented REST and MCP contract, in our own words: its request bodies and
the fields it answers, its scope table (a read-only agent mints no credential anywhere), and the
client-visible edges of its lifecycle. Sent through Envoy like any agent would."""

import base64
import uuid

import jwt as pyjwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

import stack as stacks
from support import UNLIMITED, agent_token, start_stack, wait_for


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def call(stack, method, path, body=None, key="dev-key", **headers):
    return requests.request(method, f"{stack.envoy_url}{path}", json=body,
                            headers={"X-API-Key": key, **headers}, timeout=30)


def public_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def tool_call(stack, name, arguments, key):
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
    return call(stack, "POST", "/mcp/rpc", body, key)


def test_transit_with_the_seeds_field_names(stack):
    encrypted = call(stack, "POST", "/transit/encrypt", {"plaintext": b64("seed data")})
    assert encrypted.status_code == 200, encrypted.text
    ciphertext = encrypted.json()["ciphertext"]
    decrypted = call(stack, "POST", "/transit/decrypt", {"ciphertext": ciphertext}).json()
    assert decrypted["plaintext"] == b64("seed data")
    # Our own spellings stay, in the same answer.
    assert decrypted["base64"] == b64("seed data") and decrypted["text"] == "seed data"
    rewrapped = call(stack, "POST", "/transit/rewrap", {"ciphertext": ciphertext}).json()
    assert rewrapped["ciphertext"].startswith("vault:v")
    signed = call(stack, "POST", "/transit/sign", {"input": b64("release"), "hash_algorithm": "sha2-256"})
    assert signed.status_code == 200, signed.text
    signature = signed.json()["signature"]
    verified = call(stack, "POST", "/transit/verify",
                    {"input": b64("release"), "signature": signature, "hash_algorithm": "sha2-256"})
    assert verified.json() == {"valid": True}
    # The same input given as our {"text"} object verifies the same signature.
    same = call(stack, "POST", "/transit/verify", {"input": {"text": "release"}, "signature": signature})
    assert same.json() == {"valid": True}
    both = call(stack, "POST", "/transit/encrypt", {"plaintext": b64("x"), "text": "x"})
    assert (both.status_code, both.json()["error"]) == (400, "invalid_request")


def test_ssh_with_the_seeds_field_names(stack):
    signed = call(stack, "POST", "/ssh/sign", {"public_key": public_key()})
    assert signed.status_code == 200, signed.text
    body = signed.json()
    assert body["certificate"] == body["signed_key"]
    assert serialization.load_ssh_public_identity(body["certificate"].encode()).valid_principals == [b"agent_api"]
    otp = call(stack, "POST", "/ssh/otp", {"ip": "127.0.0.1"})
    assert otp.status_code == 200, otp.text
    # Issued for the role's default user, and it says which.
    assert otp.json()["username"]


def test_a_read_only_agent_mints_no_credential(stack):
    """The seed requires `write` for every credential route and tool; `dev-key-ro` holds read
    and list only. Refused at the edge, before the backend is asked."""
    routes = [("POST", "/db/creds/readonly", None), ("GET", "/db/creds/readonly", None),
              ("POST", "/db/renew", {"lease_id": "database/creds/readonly/x"}),
              ("POST", "/db/revoke", {"lease_id": "database/creds/readonly/x"}),
              ("POST", "/ssh/otp", {"ip": "127.0.0.1"}),
              ("POST", "/ssh/sign", {"public_key": public_key()}),
              ("POST", "/pki/issue", {"csr": "-"}), ("POST", "/pki/revoke", {"serial_number": "0a"})]
    for method, path, body in routes:
        response = call(stack, method, path, body, key="dev-key-ro")
        assert (response.status_code, response.json()["error"]) == (403, "insufficient_scope"), path
    for name, arguments in [("db.issue_creds", {"role": "readonly"}),
                            ("db.renew", {"lease_id": "database/creds/readonly/x"}),
                            ("db.revoke", {"lease_id": "database/creds/readonly/x"}),
                            ("ssh.otp", {"ip": "127.0.0.1"}), ("ssh.sign", {"public_key": public_key()}),
                            ("pki.issue", {"csr": "-"}), ("pki.revoke", {"serial_number": "0a"})]:
        response = tool_call(stack, name, arguments, "dev-key-ro")
        assert (response.status_code, response.json()["error"]) == (403, "insufficient_scope"), name
    tools = call(stack, "POST", "/mcp/rpc", {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, "dev-key-ro")
    names = {t["name"] for t in tools.json()["result"]["tools"]}
    assert not names & {"db.issue_creds", "db.renew", "db.revoke", "ssh.otp", "ssh.sign", "pki.issue", "pki.revoke"}, names
    assert "pki.ca" in names


def test_what_cannot_be_undone_needs_write_and_delete(stack):
    """Stricter than the seed on purpose: `write` alone (the seed's scope) does not destroy
    versions or revoke leases; `delete` is needed too."""
    token = stack.secrets.token("agent_api", "read write list")
    bearer = {"Authorization": f"Bearer {token}"}
    path = f"seed/{uuid.uuid4().hex[:8]}"
    written = requests.put(f"{stack.envoy_url}/secrets/{path}", json={"data": {"a": 1}}, headers=bearer, timeout=10)
    assert written.status_code == 200, written.text
    for method, route, body in [("POST", f"/secrets/{path}:destroy", {"versions": [1]}),
                                ("POST", "/db/revoke", {"lease_id": "database/creds/readonly/x"})]:
        response = requests.request(method, f"{stack.envoy_url}{route}", json=body, headers=bearer, timeout=10)
        assert (response.status_code, response.json()["error"]) == (403, "insufficient_scope"), route
        assert 'scope="write delete"' in response.headers["www-authenticate"]
    # The same secret is still there.
    assert requests.get(f"{stack.envoy_url}/secrets/{path}", headers=bearer, timeout=10).json()["data"] == {"a": 1}


def test_mcp_lifecycle_edges(stack):
    shutdown = call(stack, "POST", "/mcp/rpc", {"jsonrpc": "2.0", "id": 7, "method": "shutdown"})
    assert shutdown.json() == {"jsonrpc": "2.0", "id": 7, "result": {"ok": True}}
    # A 2025-11-25 session, ended by DELETE: the answer says it is done.
    accept = {"Accept": "application/json, text/event-stream"}
    init = call(stack, "POST", "/mcp", {
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "seed-contract", "version": "1"}}}, **accept)
    assert init.status_code == 200, init.text
    session = init.headers["mcp-session-id"]
    ended = call(stack, "DELETE", "/mcp", None, **{"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"})
    assert ended.status_code in (200, 204), ended.status_code


def test_rs256_keeps_working_when_a_stack_restarts_in_the_same_folder(built, tmp_path_factory):
    """The dev stack reuses .dev/ and makes new keys at every `up`: the JWKS server must serve
    the new key, not the first one it ever published."""
    run_dir = tmp_path_factory.mktemp("restarted")
    for attempt in ("first up", "second up"):
        running = start_stack(tmp_path_factory, "restarted", run_dir=run_dir, filter_overrides=UNLIMITED)
        try:
            token = running.secrets.token("agent_api", "read", alg="RS256")
            assert pyjwt.get_unverified_header(token)["alg"] == "RS256"

            def accepted():
                return requests.get(f"{running.envoy_url}/whoami", headers={"Authorization": f"Bearer {token}"},
                                    timeout=10).status_code == 200

            # The filter fetches the JWKS on its timer shortly after start; a stale key never passes.
            assert wait_for(accepted, seconds=20), attempt
        finally:
            running.stop()


def test_agent_named_transit_keys_stay_in_the_agents_corner(stack):
    """The seed's `key`: an agent names its keys; whatever it writes, it reaches only its own."""
    name = f"k{uuid.uuid4().hex[:8]}"
    encrypted = call(stack, "POST", "/transit/encrypt", {"key": name, "plaintext": b64("named")})
    assert encrypted.status_code == 200, encrypted.text
    ciphertext = encrypted.json()["ciphertext"]
    decrypted = call(stack, "POST", "/transit/decrypt", {"key": name, "ciphertext": ciphertext})
    assert decrypted.json()["plaintext"] == b64("named")
    rewrapped = call(stack, "POST", "/transit/rewrap", {"key": name, "ciphertext": ciphertext})
    assert rewrapped.status_code == 200, rewrapped.text
    # Not the agent's default key, and not another agent's key of the same name.
    assert call(stack, "POST", "/transit/decrypt", {"ciphertext": ciphertext}).status_code == 400
    other = call(stack, "POST", "/transit/decrypt", {"key": name, "ciphertext": ciphertext}, key="dev-key-b")
    assert other.status_code in (400, 404) and "named" not in other.text and b64("named") not in other.text
    for bad in ["../x", "*", "", "a.b", "agent_api/k", "x" * 65]:
        response = call(stack, "POST", "/transit/encrypt", {"key": bad, "plaintext": b64("x")}, key="dev-key-b")
        assert (response.status_code, response.json()["error"]) == (400, "invalid_request"), bad
    # In Vault: the key is agent_api's, and agent_b's policy cannot touch it.
    vault_name = f"9_agent_api_{name}"
    root = {"X-Vault-Token": stacks.ROOT_TOKEN}
    key = requests.get(f"{stack.openbao_url}/v1/transit-agents/keys/{vault_name}", headers=root, timeout=10)
    assert key.status_code == 200 and key.json()["data"]["type"] == "aes256-gcm96"
    b_token = agent_token(stack, "agent_b")
    for path in [f"transit-agents/decrypt/{vault_name}", f"transit-agents/encrypt/{vault_name}",
                 f"transit-agents/keys/{vault_name}"]:
        capabilities = requests.post(f"{stack.openbao_url}/v1/sys/capabilities", headers=root, timeout=10,
                                     json={"token": b_token, "paths": [path]}).json()
        assert capabilities["capabilities"] == ["deny"], (path, capabilities)
    own = requests.post(f"{stack.openbao_url}/v1/sys/capabilities", headers=root, timeout=10,
                        json={"token": b_token, "paths": [f"transit-agents/encrypt/7_agent_b_{name}"]}).json()
    # (The agents' policy grants one set of capabilities on every verb of its own keys.)
    assert {"create", "update"} <= set(own["capabilities"]) <= {"create", "read", "update"}


def test_signing_with_a_key_the_agent_created(stack):
    name = f"s{uuid.uuid4().hex[:8]}"
    created = call(stack, "POST", f"/transit/keys/{name}", {"type": "ed25519"})
    assert created.status_code == 200, created.text
    assert created.json() == {"name": name, "type": "ed25519", "supports_encryption": False,
                              "supports_signing": True}
    signed = call(stack, "POST", "/transit/sign", {"key": name, "input": b64("artifact")})
    assert signed.status_code == 200, signed.text
    signature = signed.json()["signature"]
    good = call(stack, "POST", "/transit/verify", {"key": name, "input": b64("artifact"), "signature": signature})
    assert good.json() == {"valid": True}
    forged = call(stack, "POST", "/transit/verify", {"key": name, "input": b64("other"), "signature": signature})
    assert forged.json() == {"valid": False}
    # agent_b's key of that name does not exist: its verify cannot use agent_api's.
    other = call(stack, "POST", "/transit/verify", {"key": name, "input": b64("artifact"), "signature": signature},
                 key="dev-key-b")
    assert other.status_code != 200 or other.json() == {"valid": False}
    refused = call(stack, "POST", f"/transit/keys/{name}", {"type": "ed25519"}, key="dev-key-ro")
    assert (refused.status_code, refused.json()["error"]) == (403, "insufficient_scope")


def test_roles_and_principals_are_the_agents_own(stack):
    """The seed's `role` (SSH) and `{role}` (database): only the roles configured for agents
    (DATABASE_ROLES, SSH_OTP_ROLES, SSH_SIGN_ROLES); a certificate names only the agent."""
    assert call(stack, "POST", "/ssh/otp", {"role": "otp", "ip": "127.0.0.1", "username": "agent", "port": 22}).json()[
        "username"] == "agent"
    signed = call(stack, "POST", "/ssh/sign", {"role": "agent", "public_key": public_key(), "cert_type": "user",
                                               "valid_principals": "agent_api", "ttl": "5m"})
    assert signed.status_code == 200, signed.text
    refused = [
        ("POST", "/ssh/otp", {"role": "agent", "ip": "127.0.0.1"}),
        ("POST", "/ssh/otp", {"role": "no-such-role", "ip": "127.0.0.1"}),
        ("POST", "/ssh/sign", {"role": "otp", "public_key": public_key()}),
        ("POST", "/ssh/sign", {"public_key": public_key(), "valid_principals": "root"}),
        ("POST", "/ssh/sign", {"public_key": public_key(), "valid_principals": "agent_api,agent_b"}),
        ("POST", "/ssh/sign", {"public_key": public_key(), "cert_type": "host"}),
        ("POST", "/db/creds/no-such-role", None),
    ]
    for method, path, body in refused:
        response = call(stack, method, path, body)
        assert (response.status_code, response.json()["error"]) == (403, "not_allowed"), (path, body, response.text)
    lease = call(stack, "POST", "/db/creds/readonly").json()["lease_id"]
    renewed = call(stack, "POST", "/db/renew", {"lease_id": lease, "increment": 60})
    assert renewed.status_code == 200 and renewed.json()["lease_id"] == lease
    # Another agent's lease: neither renewed nor revoked.
    for route in ("/db/renew", "/db/revoke"):
        assert call(stack, "POST", route, {"lease_id": lease}, key="dev-key-b").status_code == 403, route
    assert call(stack, "POST", "/db/revoke", {"lease_id": lease}).json() == {"lease_id": lease, "revoked": True}

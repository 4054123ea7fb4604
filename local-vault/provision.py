#!/usr/bin/env python3
"""Provisions a dev Vault or OpenBao for the bridge, through the HTTP API (standard library only).

    VAULT_ADDR=http://127.0.0.1:8200 VAULT_TOKEN=dev-root-token local-vault/provision.py

Idempotent. Sets up:
  - the service's own identity: the policy `vault-mcp-bridge` (what `vault-mcp-bridge gen-policy
    --service` prints) on a token whose id is BRIDGE_SERVICE_TOKEN (default
    `dev-bridge-service-token`), the one the backend runs with (not the root token),
  - the agents' policies `vault-mcp-bridge-agent` (templated on each agent's entity) and
    `vault-mcp-bridge-agent-roles` (what `gen-policy --agents` and `--agent-roles` print for the
    settings in POLICY_FLAGS, from the environment), and the token role
    `vault-mcp-bridge-agent` the backend mints each agent's own token with (those policies
    alone, bound to the entity alias `vault-mcp-bridge-agent:{subject}`),
  - KV v2 at KV_MOUNT (default `secret`; dev servers already have it),
  - Transit at `transit/` and at `transit-agents/` (the keys agents name themselves,
    `{len}_{subject}_{name}`),
  - each agent in the registry with `vault-mcp-bridge agents add`, the operator's own command:
    its record (scopes, rate limit, the SHA-256 of its dev key) and its Transit keys `{subject}`
    (AES-256-GCM) and `{len}_{subject}_signing` (RSA-2048); and the people of its `users` list
    with `agents add NAME --user` (they sign in through the OAuth authorization server),
  - SSH at `ssh/`: a CA and the roles `otp` (one-time passwords for 127.0.0.0/8) and `agent`
    (user certificates),
  - PKI: a root CA at `pki/` that signs an intermediate at `pki_int/` (PKI_MOUNT), whose role
    `agent` signs client certificates for one name only, MTLS_CN_PREFIX + the subject of the
    token's entity (RSA keys of 2048 bits or more, 1 h by default, 24 h at most),
  - the `X-Request-Id` header as an audited request header (the bridge sends its request ids),
  - when PG_PORT is set, the database engine at `database/` against that PostgreSQL (on PG_HOST,
    default 127.0.0.1; PG_USER / PG_PASSWORD, a superuser) with the role `readonly`.
Agents come from local-vault/agents.json (or AGENTS_FILE).
"""

import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


class Vault:
    def __init__(self, addr: str, token: str):
        self.addr = addr.rstrip("/")
        self.token = token

    def call(self, method: str, path: str, body=None, ok=(200, 204)):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.addr}/v1/{path}", data=data, method=method,
            headers={"X-Vault-Token": self.token, "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode()
        if status not in ok:
            raise RuntimeError(f"{method} {path}: HTTP {status}: {text}")
        return json.loads(text) if text else None

    def wait_ready(self, seconds: float = 30):
        deadline = time.monotonic() + seconds
        while True:
            try:
                self.call("GET", "sys/health")
                return
            except (OSError, RuntimeError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def bridge_binary() -> str:
    explicit = os.environ.get("BRIDGE_BIN")
    if explicit:
        return explicit
    for profile in ("debug", "release"):
        candidate = ROOT / "target" / profile / "vault-mcp-bridge"
        if candidate.exists():
            return str(candidate)
    return "vault-mcp-bridge"


def provision(vault: Vault, agents: list, users: list, kv_mount: str, prefix: str):
    mounts = vault.call("GET", "sys/mounts")
    mounts = mounts.get("data", mounts)
    if f"{kv_mount}/" not in mounts:
        vault.call("POST", f"sys/mounts/{kv_mount}", {"type": "kv", "options": {"version": "2"}})
        # A new KV v2 mount upgrades itself for a moment and refuses requests meanwhile (a
        # cluster takes longer than one node): ready once its configuration reads.
        deadline = time.monotonic() + 30
        while True:
            try:
                vault.call("GET", f"{kv_mount}/config")
                break
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    if "transit/" not in mounts:
        vault.call("POST", "sys/mounts/transit", {"type": "transit"})
    # The keys agents name themselves (the `key` field), each under a name only its agent reaches.
    if "transit-agents/" not in mounts:
        vault.call("POST", "sys/mounts/transit-agents", {"type": "transit"})
    env = {**os.environ, "VAULT_ADDR": vault.addr, "VAULT_TOKEN": vault.token,
           "KV_MOUNT": kv_mount, "DEFAULT_PREFIX": prefix}
    for agent in agents:
        # The dev keys are public and fixed, so they are registered by digest.
        command = [bridge_binary(), "agents", "add", agent["subject"],
                   "--scopes", ",".join(agent["scopes"]),
                   # The dev client certificates (envoy/gen-dev-certs) have CN=subject.
                   "--certificate-cn", agent["subject"],
                   "--key-sha256", hashlib.sha256(agent["api_key"].encode()).hexdigest()]
        if "rate_limit" in agent:
            command += ["--rate", f"{agent['rate_limit']['requests']}/{agent['rate_limit']['per_seconds']}"]
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if done.returncode != 0 and "exists already" not in done.stderr:
            raise RuntimeError(f"agents add {agent['subject']}: {done.stderr.strip()}")
    # People who sign in through the authorization server, by their name there.
    for user in users:
        if not user.get("registered", True):
            continue
        command = [bridge_binary(), "agents", "add", user["name"], "--user", "--scopes", ",".join(user["scopes"])]
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if done.returncode != 0 and "exists already" not in done.stderr:
            raise RuntimeError(f"agents add --user {user['name']}: {done.stderr.strip()}")


SERVICE_POLICY = "vault-mcp-bridge"
AGENT_TOKEN_ROLE = "vault-mcp-bridge-agent"
AGENT_POLICY = "vault-mcp-bridge-agent"
AGENT_ROLES_POLICY = f"{AGENT_POLICY}-roles"
#: The backend's settings the agents' policy names, as `gen-policy` flags (unset: its defaults).
POLICY_FLAGS = {"KV_MOUNT": "--mount", "DEFAULT_PREFIX": "--prefix", "TRANSIT_MOUNT": "--transit-mount",
                "TRANSIT_NAMED_MOUNT": "--transit-named-mount", "DATABASE_MOUNT": "--database-mount",
                "SSH_MOUNT": "--ssh-mount", "DATABASE_ROLES": "--database-roles", "SSH_OTP_ROLES": "--ssh-otp-roles",
                "SSH_SIGN_ROLES": "--ssh-sign-roles", "PKI_MOUNT": "--pki-mount", "PKI_ROLES": "--pki-roles"}


def gen_policy(*args: str) -> str:
    flags = [part for name, flag in POLICY_FLAGS.items() if name in os.environ for part in (flag, os.environ[name])]
    return subprocess.run([bridge_binary(), "gen-policy", *args, *flags],
                          capture_output=True, text=True, check=True).stdout


def provision_identities(vault: Vault, service_token: str):
    """The agents' two policies and the role their tokens are made with (aliases under the
    role's name only), and the service's policy and token: what an operator sets up once."""
    vault.call("PUT", f"sys/policies/acl/{AGENT_POLICY}", {"policy": gen_policy("--agents")})
    vault.call("PUT", f"sys/policies/acl/{AGENT_ROLES_POLICY}", {"policy": gen_policy("--agent-roles")})
    vault.call("PUT", f"sys/policies/acl/{SERVICE_POLICY}", {"policy": gen_policy(
        "--service", "--agent-token-role", AGENT_TOKEN_ROLE, "--agent-policy", AGENT_POLICY)})
    vault.call("POST", f"auth/token/roles/{AGENT_TOKEN_ROLE}", {
        "allowed_policies": [AGENT_POLICY, AGENT_ROLES_POLICY], "allowed_policies_glob": [],
        "allowed_entity_aliases": [f"{AGENT_TOKEN_ROLE}:*"],
        "orphan": True, "token_no_default_policy": True, "renewable": True})
    known = vault.call("POST", "auth/token/lookup", {"token": service_token}, ok=(200, 403))
    if not known or "errors" in known:
        # An orphan: it outlives the root token that made it (dev: 32 days, the server's maximum).
        vault.call("POST", "auth/token/create-orphan", {
            "id": service_token, "policies": [SERVICE_POLICY], "no_default_policy": True,
            "ttl": "768h", "display_name": "vault-mcp-bridge"})


def provision_ssh(vault: Vault, mounts: dict):
    if "ssh/" not in mounts:
        vault.call("POST", "sys/mounts/ssh", {"type": "ssh"})
    # Answered with 400 until a CA exists.
    ca = vault.call("GET", "ssh/config/ca", ok=(200, 400, 404)) or {}
    if "errors" in ca or not ca.get("data", {}).get("public_key"):
        vault.call("POST", "ssh/config/ca", {"generate_signing_key": True})
    vault.call("POST", "ssh/roles/otp", {
        "key_type": "otp", "default_user": "agent", "cidr_list": "127.0.0.0/8", "port": 22})
    vault.call("POST", "ssh/roles/agent", {
        "key_type": "ca", "allow_user_certificates": True, "allowed_users": "*",
        "allowed_extensions": "permit-pty", "default_extensions": {"permit-pty": ""},
        "ttl": "30m", "max_ttl": "4h"})


def provision_pki(vault: Vault, mounts: dict, mount: str, cn_prefix: str):
    """A root CA and an intermediate under it that signs agents' client certificates; made
    once (a second run keeps both and writes the role again)."""
    if "pki/" not in mounts:
        vault.call("POST", "sys/mounts/pki", {"type": "pki", "config": {"max_lease_ttl": "87600h"}})
        vault.call("POST", "pki/root/generate/internal", {
            "common_name": "Vault MCP Bridge Dev Root CA", "issuer_name": "dev-root",
            "key_type": "ec", "key_bits": 256, "ttl": "87600h"})
    if f"{mount}/" not in mounts:
        vault.call("POST", f"sys/mounts/{mount}", {"type": "pki", "config": {"max_lease_ttl": "43800h"}})
        csr = vault.call("POST", f"{mount}/intermediate/generate/internal", {
            "common_name": "Vault MCP Bridge Dev Agents CA", "key_type": "ec", "key_bits": 256})["data"]["csr"]
        signed = vault.call("POST", "pki/root/sign-intermediate", {
            "csr": csr, "format": "pem_bundle", "ttl": "43800h"})["data"]["certificate"]
        vault.call("POST", f"{mount}/intermediate/set-signed", {"certificate": signed})
    # One name per certificate, made by Vault from the token's entity: the CSR's own names are
    # ignored, no other name is allowed, and a client certificate is all it can be.
    vault.call("POST", f"{mount}/roles/agent", {
        "allowed_domains": [f"{cn_prefix}{{{{identity.entity.metadata.subject}}}}"],
        "allowed_domains_template": True, "allow_bare_domains": True, "allow_subdomains": False,
        "allow_glob_domains": False, "allow_wildcard_certificates": False, "allow_localhost": False,
        "allow_any_name": False, "enforce_hostnames": False, "allow_ip_sans": False,
        "allowed_uri_sans": [], "allowed_other_sans": [], "use_csr_common_name": False,
        "use_csr_sans": False, "server_flag": False, "client_flag": True, "code_signing_flag": False,
        "email_protection_flag": False, "key_type": "rsa", "key_bits": 2048, "ttl": "1h",
        "max_ttl": "24h"})


def provision_database(vault: Vault, mounts: dict, host: str, port: str, user: str, password: str):
    if "database/" not in mounts:
        vault.call("POST", "sys/mounts/database", {"type": "database"})
    vault.call("POST", "database/config/bridge-postgres", {
        "plugin_name": "postgresql-database-plugin",
        "connection_url": f"postgresql://{{{{username}}}}:{{{{password}}}}@{host}:{port}/postgres?sslmode=disable",
        "username": user, "password": password, "allowed_roles": "*"})
    vault.call("POST", "database/roles/readonly", {
        "db_name": "bridge-postgres",
        "creation_statements": [
            "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
            "GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"{{name}}\";",
        ],
        "default_ttl": "1h", "max_ttl": "24h"})


def main() -> int:
    addr = os.environ.get("VAULT_ADDR", "http://127.0.0.1:8200")
    token = os.environ.get("VAULT_TOKEN", "dev-root-token")
    agents_file = Path(os.environ.get("AGENTS_FILE", HERE / "agents.json"))
    listed = json.loads(agents_file.read_text())
    agents, users = listed["agents"], listed.get("users", [])
    vault = Vault(addr, token)
    vault.wait_ready()
    kv_mount, prefix = os.environ.get("KV_MOUNT", "secret"), os.environ.get("DEFAULT_PREFIX", "agents")
    provision_identities(vault, os.environ.get("BRIDGE_SERVICE_TOKEN", "dev-bridge-service-token"))
    provision(vault, agents, users, kv_mount, prefix)
    # Audit devices record X-Request-Id, so Vault's audit log joins the bridge's logs.
    vault.call("PUT", "sys/config/auditing/request-headers/x-request-id", {"hmac": False})
    mounts = vault.call("GET", "sys/mounts")
    mounts = mounts.get("data", mounts)
    provision_ssh(vault, mounts)
    provision_pki(vault, mounts, os.environ.get("PKI_MOUNT", "pki_int"), os.environ.get("MTLS_CN_PREFIX", ""))
    if os.environ.get("PG_PORT"):
        provision_database(vault, mounts, os.environ.get("PG_HOST", "127.0.0.1"), os.environ["PG_PORT"], os.environ.get("PG_USER", "vault"),
                           os.environ["PG_PASSWORD"])
    print(f"provisioned {addr}: {len(agents)} agents, {len(users)} people", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

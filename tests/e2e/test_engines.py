"""Database dynamic credentials (a real PostgreSQL) and SSH (OTP and certificates) through
Envoy, over REST and MCP."""

import asyncio
import subprocess

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


def post(stack, path, body=None, key="dev-key"):
    return requests.post(f"{stack.envoy_url}{path}", json=body if body is not None else {},
                         headers={"X-API-Key": key}, timeout=30)


def can_log_in(stack, username, password) -> bool:
    result = subprocess.run(
        ["psql", f"postgresql://{username}:{password}@127.0.0.1:{stack.ports.postgres}/postgres",
         "-tAc", "select current_user"],
        capture_output=True, text=True, timeout=30,
    )
    return result.returncode == 0 and result.stdout.strip() == username


def test_database_credentials_work_and_only_their_owner_manages_the_lease(stack):
    issued = post(stack, "/db/creds/readonly")
    assert issued.status_code == 200, issued.text
    creds = issued.json()
    assert creds["lease_id"].startswith("database/creds/readonly/")
    assert creds["lease_duration"] > 0 and creds["renewable"] is True
    assert can_log_in(stack, creds["username"], creds["password"])

    lease = {"lease_id": creds["lease_id"]}
    renewed = post(stack, "/db/renew", {**lease, "increment": 600})
    assert renewed.status_code == 200 and renewed.json()["lease_id"] == creds["lease_id"]
    for path in ("/db/renew", "/db/revoke"):
        stolen = post(stack, path, lease, key="dev-key-b")
        assert (stolen.status_code, stolen.json()["error"]) == (403, "vault_forbidden"), path
    for foreign in ("sys/something/else", "database/creds/readonly/not-issued-here"):
        response = post(stack, "/db/revoke", {"lease_id": foreign})
        assert response.status_code == 403, foreign

    assert post(stack, "/db/revoke", lease).json() == {**lease, "revoked": True}
    assert not can_log_in(stack, creds["username"], creds["password"])
    # Gone for good: the lease record went with it.
    assert post(stack, "/db/renew", lease).status_code == 403


def test_database_errors(stack):
    # Only the configured roles (DATABASE_ROLES): anything else is refused before Vault is asked.
    unknown = post(stack, "/db/creds/no-such-role")
    assert (unknown.status_code, unknown.json()["error"]) == (403, "not_allowed"), unknown.text
    bad = post(stack, "/db/creds/a%20b")
    # Not a role name: the caller's input, refused before Vault is asked.
    assert (bad.status_code, bad.json()["error"]) == (400, "invalid_request")
    assert "role" in bad.json()["message"]
    assert "password" not in bad.text


def test_ssh_one_time_passwords(stack):
    otp = post(stack, "/ssh/otp", {"ip": "127.0.0.1"})
    assert otp.status_code == 200, otp.text
    body = otp.json()
    assert body["ip"] == "127.0.0.1" and body["port"] == 22 and len(body["key"]) >= 8
    assert post(stack, "/ssh/otp", {"ip": "127.0.0.1"}).json()["key"] != body["key"]
    for ip in ("10.1.2.3", "not-an-ip"):
        response = post(stack, "/ssh/otp", {"ip": ip})
        assert response.status_code == 400, ip


def public_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def test_ssh_certificates_name_only_the_agent(stack):
    signed = post(stack, "/ssh/sign", {"public_key": public_key(), "ttl": "10m"}, key="dev-key-b")
    assert signed.status_code == 200, signed.text
    body = signed.json()
    assert body["principal"] == "agent_b"
    certificate = serialization.load_ssh_public_identity(body["signed_key"].encode())
    assert certificate.valid_principals == [b"agent_b"]
    assert certificate.valid_before - certificate.valid_after <= 10 * 60 + 60
    refused = post(stack, "/ssh/sign", {"public_key": "ssh-ed25519 not-a-key"})
    assert refused.status_code == 400
    assert post(stack, "/ssh/sign", {"public_key": public_key()}, key="dev-key-ro").status_code == 403


async def engines_over_mcp(url):
    http = create_mcp_http_client(headers={"X-API-Key": "dev-key"})
    async with http:
        async with Client(streamable_http_client(url, http_client=http), mode="2026-07-28") as client:
            issued = await client.call_tool("db.issue_creds", {"role": "readonly"})
            lease = {"lease_id": issued.structured_content["lease_id"]}
            renewed = await client.call_tool("db.renew", lease)
            revoked = await client.call_tool("db.revoke", lease)
            otp = await client.call_tool("ssh.otp", {"ip": "127.0.0.1"})
            signed = await client.call_tool("ssh.sign", {"public_key": public_key()})
            return issued, renewed, revoked, otp, signed


def test_engine_tools_over_mcp(stack):
    issued, renewed, revoked, otp, signed = asyncio.run(engines_over_mcp(f"{stack.envoy_url}/mcp"))
    for result in (issued, renewed, revoked, otp, signed):
        assert not result.is_error, result.content
    assert revoked.structured_content["revoked"] is True
    assert signed.structured_content["principal"] == "agent_api"

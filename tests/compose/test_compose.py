"""compose.yaml, run for real: built from this tree, on stand-in images, checked through Envoy's
published port as a user on the host would (REST with the dev key, MCP with the official SDK,
database credentials with psql, an RS256 agent token, a person signing in with the SDK at the
compose authorization server, the console), and the refusals of `scripts/compose-stack up`."""

import asyncio
import json
import socket
import subprocess
import time

import jwt as pyjwt
import pytest
import requests

from containers.docker import Refused, cli
from containers.stack import PORTS, ComposeStack
from oauth_client import SignIn, Storage, provider, session_calls
from stack import free_ports
from support import chromium


def url(compose, path: str, port: str = "ENVOY_PORT") -> str:
    return f"http://127.0.0.1:{compose.ports[port]}{path}"


def test_kv_write_and_read_with_the_dev_key(compose):
    key = {"X-API-Key": "dev-key"}
    written = requests.put(url(compose, "/secrets/configs/demo"), json={"data": {"foo": "bar"}}, headers=key,
                           timeout=10)
    assert written.status_code == 200, written.text
    assert written.json() == {"path": "configs/demo", "version": 1}
    read = requests.get(url(compose, "/secrets/configs/demo"), headers=key, timeout=10)
    assert read.json()["data"] == {"foo": "bar"}
    # Another agent's corner is its own: agent_b does not see agent_api's secret.
    other = requests.get(url(compose, "/secrets/configs/demo"), headers={"X-API-Key": "dev-key-b"}, timeout=10)
    assert other.status_code == 404, other.text


def test_mcp_tools_list_and_call_with_the_official_sdk(compose):
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    async def run():
        async with create_mcp_http_client(headers={"X-API-Key": "dev-key"}) as http:
            async with streamable_http_client(url(compose, "/mcp"), http_client=http) as (r, w, *_):
                async with ClientSession(r, w) as session:
                    await session.initialize()
                    tools = {tool.name for tool in (await session.list_tools()).tools}
                    await session.call_tool("kv.write", {"path": "mcp/demo", "data": {"k": "v"}})
                    read = await session.call_tool("kv.read", {"path": "mcp/demo"})
                    return tools, read

    tools, read = asyncio.run(run())
    assert {"kv.read", "kv.write", "transit.encrypt", "db.issue_creds"} <= tools
    assert not read.is_error and read.structured_content["data"] == {"k": "v"}


def test_database_credentials_log_in_to_the_compose_postgres(compose):
    issued = requests.post(url(compose, "/db/creds/readonly"), headers={"X-API-Key": "dev-key"}, timeout=30)
    assert issued.status_code == 200, issued.text
    creds = issued.json()
    login = subprocess.run(
        ["psql", f"postgresql://{creds['username']}:{creds['password']}@127.0.0.1:"
                 f"{compose.ports['POSTGRES_PORT']}/postgres", "-tAc", "select current_user"],
        capture_output=True, text=True, timeout=30)
    assert login.returncode == 0, login.stderr
    assert login.stdout.strip() == creds["username"]


def test_an_rs256_token_from_the_agents_issuer(compose, credentials):
    jwt = credentials["jwt"]
    now = int(time.time())
    token = pyjwt.encode({"sub": "agent_rs", "scope": "read write", "iss": jwt["issuer"], "aud": jwt["audience"],
                          "iat": now, "exp": now + 300}, jwt["rs256_private_key_pem"], algorithm="RS256",
                         headers={"kid": jwt["rs256_kid"]})
    bearer = {"Authorization": f"Bearer {token}"}
    written = requests.put(url(compose, "/secrets/rs"), json={"data": {"a": "1"}}, headers=bearer, timeout=10)
    assert written.status_code == 200, written.text
    # Signed with another key under the same kid: refused.
    other = pyjwt.encode({"sub": "agent_rs", "scope": "read", "iss": jwt["issuer"], "aud": jwt["audience"],
                          "iat": now, "exp": now + 300},
                         __import__("stack").Secrets.generate().rsa_private_pem, algorithm="RS256",
                         headers={"kid": jwt["rs256_kid"]})
    refused = requests.get(url(compose, "/secrets/rs"), headers={"Authorization": f"Bearer {other}"}, timeout=10)
    assert refused.status_code == 401, refused.text


def test_a_person_signs_in_with_the_sdk_at_the_compose_authorization_server(compose, credentials):
    """The official SDK's OAuth client, given only the MCP URL, finds the compose authorization
    server from the bridge's metadata (issuer and resource name the published ports), registers,
    `dev` signs in on its pages in headless Chromium, and the token it issues (whose keys Envoy
    fetches over the compose network) is `user.dev`'s, in a corner of its own."""
    mcp, issuer = url(compose, "/mcp"), credentials["oauth"]["issuer"]
    assert issuer == f"http://127.0.0.1:{compose.ports['OAUTH_PORT']}"
    metadata = requests.get(url(compose, "/.well-known/oauth-protected-resource/mcp"), timeout=10).json()
    assert metadata["authorization_servers"] == [issuer] and metadata["resource"] == mcp
    driver = chromium()
    try:
        storage, sign_in = Storage(), SignIn(driver, "dev", credentials["oauth"]["password"])
        written, read = asyncio.run(session_calls(mcp, provider(mcp, sign_in, storage), [
            ("kv.write", {"path": "mine", "data": {"who": "dev"}}), ("kv.read", {"path": "mine"})]))
    finally:
        driver.quit()
    assert sign_in.url.startswith(f"{issuer}/auth?")
    assert not written.is_error and read.structured_content["data"] == {"who": "dev"}
    claims = pyjwt.decode(storage.tokens.access_token, options={"verify_signature": False})
    assert (claims["iss"], claims["aud"], claims["sub"]) == (issuer, mcp, "dev")
    # Not agent_api's corner: the dev key does not find it.
    assert requests.get(url(compose, "/secrets/mine"), headers={"X-API-Key": "dev-key"}, timeout=10).status_code == 404


def test_the_consoles_sign_in_page_and_its_link(compose, credentials):
    console = url(compose, "", "CONSOLE_PORT")
    page = requests.get(f"{console}/login", timeout=10)
    assert page.status_code == 200 and 'id="signin"' in page.text
    key = credentials["console_url"].split("#key=", 1)[1]
    session = requests.Session()
    signed_in = session.post(f"{console}/login", json={"credential": key}, headers={"Origin": console}, timeout=10)
    assert signed_in.status_code == 200, signed_in.text
    assert session.get(f"{console}/agents", timeout=10).status_code == 200
    agents = session.get(f"{console}/api/agents", timeout=10)
    assert agents.status_code == 200, agents.text
    assert "agent_api" in agents.text
    # Its Health page reaches Vault and Envoy's admin over the compose network.
    health = session.get(f"{console}/api/health", timeout=10).json()
    assert health["vault"]["ready"] and health["edge"]["reachable"], health
    assert health["registry"]["agents"] >= 5, health
    # Its Activity page finds a request's entries in OpenBao's audit log (a shared volume).
    answered = requests.get(url(compose, "/secrets/configs/demo"), headers={"X-API-Key": "dev-key"}, timeout=10)
    request_id = answered.headers["x-request-id"]

    def audited():
        entries = session.get(f"{console}/api/audit/{request_id}", timeout=10).json()["entries"]
        return entries or time.sleep(0.5)

    entries = next(filter(None, (audited() for _ in range(20))), None)
    assert entries, f"no audit entry for {request_id}"


def test_envoy_balances_two_backend_replicas(compose):
    """Round robin over both replicas: each answers some of six requests (found by request id in
    its own log; the registry fetches and health checks in between are other requests)."""
    clusters = requests.get(url(compose, "/clusters?format=json", "ENVOY_ADMIN_PORT"), timeout=10).json()
    backend = next(c for c in clusters["cluster_statuses"] if c["name"] == "backend")
    assert len(backend["host_statuses"]) == 2
    ids = []
    for _ in range(6):
        answered = requests.get(url(compose, "/secrets/configs/demo"), headers={"X-API-Key": "dev-key"}, timeout=10)
        assert answered.status_code == 200
        ids.append(answered.headers["x-request-id"])

    def served() -> dict[str, int]:
        logs = {replica: compose.compose("logs", "--no-color", replica, capture=True).stdout
                for replica in ("backend-1", "backend-2")}
        return {replica: sum(f'"request_id":"{i}"' in text for i in ids) for replica, text in logs.items()}

    for _ in range(20):
        counts = served()
        if sum(counts.values()) == len(ids):
            break
        time.sleep(0.5)
    assert sum(counts.values()) == len(ids) and all(counts.values()), counts


def test_up_refuses_a_port_already_taken(docker_host):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        ports = dict(zip(PORTS, free_ports(len(PORTS))))
        ports["OPENBAO_PORT"] = held.getsockname()[1]
        with pytest.raises(Refused) as refused:
            ComposeStack(project="vmbtaken", ports=ports).up()
    assert f"OPENBAO_PORT={ports['OPENBAO_PORT']}" in str(refused.value.code)


def test_up_without_a_daemon_says_so(docker_host, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(Refused) as refused:
        ComposeStack(project="vmbnodaemon", ports=dict(zip(PORTS, free_ports(len(PORTS))))).up()
    assert "no Docker daemon answers at unix:///nonexistent/docker.sock" in str(refused.value.code)


def test_up_names_a_missing_standin(docker_host):
    image, kept = "postgres:15-bookworm", "vmbtest-kept/postgres:15-bookworm"
    subprocess.run([cli(), "tag", image, kept], check=True)
    subprocess.run([cli(), "rmi", image], check=True, capture_output=True)
    try:
        with pytest.raises(Refused) as refused:
            ComposeStack(project="vmbmissing", ports=dict(zip(PORTS, free_ports(len(PORTS))))).up()
        message = str(refused.value.code)
        assert f"image {image} is not on this machine and cannot be pulled" in message
        assert "scripts/compose-standins" in message
    finally:
        subprocess.run([cli(), "tag", kept, image], check=True)
        subprocess.run([cli(), "rmi", kept], check=True, capture_output=True)


def test_the_backend_image_is_its_base_the_binary_and_ca_certificates(compose):
    """Small: the service's image adds to debian:bookworm-slim only the binary and the CA
    certificates (sizes printed for docs/DOCKER.md)."""
    def size(image: str) -> int:
        return int(subprocess.run([cli(), "image", "inspect", "--format", "{{.Size}}", image],
                                  capture_output=True, text=True, check=True).stdout)

    base, backend = size("debian:bookworm-slim"), size("vault-mcp-bridge:dev")
    binary = int(subprocess.run([cli(), "run", "--rm", "--entrypoint", "stat", "vault-mcp-bridge:dev", "-c", "%s",
                                 "/usr/local/bin/vault-mcp-bridge"], capture_output=True, text=True,
                                check=True).stdout)
    print(f"\nimage sizes: base {base / 1e6:.0f} MB, backend {backend / 1e6:.0f} MB (binary {binary / 1e6:.1f} MB)")
    # CA certificates and openssl, ~9 MB; apt's caches would add ~90 MB.
    assert backend - base - binary < 20e6, (base, backend, binary)


def test_an_agent_spending_its_whole_rate_limit_does_not_make_envoy_unhealthy(compose):
    """The attack: an agent holding a key the healthcheck used would drain that key's limit and
    take the stack down (`up --wait` and compose-stack wait on Envoy's health). The healthcheck
    reads the filter's registry gauge on the admin port instead: no agent's limit is spent.
    Runs after every test that uses dev-key (agent_api is limited for a minute afterwards)."""
    key = {"X-API-Key": "dev-key"}
    statuses = [requests.get(url(compose, "/healthz"), headers=key, timeout=10).status_code for _ in range(80)]
    assert 429 in statuses, statuses
    for _ in range(3):  # several of the healthcheck's 2 s intervals
        time.sleep(2.5)
        assert compose.health("envoy") == "running healthy"


def test_postgres_superuser_cannot_read_the_other_services_secrets(compose):
    """The attack: whoever holds PostgreSQL's superuser (Vault's database engine does) reads
    files as the PostgreSQL process. Only its own password is mounted there: the operator's
    credentials.json and the backends' assertion key are in volumes it never sees."""
    password = compose.compose("run", "--rm", "-T", "setup", "cat", "/run/operator/postgres-password",
                               capture=True).stdout.strip()

    def read(path: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["psql", f"postgresql://vault:{password}@127.0.0.1:{compose.ports['POSTGRES_PORT']}/postgres",
             "-tAc", f"select pg_read_file('{path}')"], capture_output=True, text=True, timeout=30)

    assert read("/run/postgres/password").stdout.strip() == password
    for path in ("/run/operator/credentials.json", "/run/backend/backend.env", "/run/envoy/envoy.env",
                 "/run/oauth/oauth.json"):
        refused = read(path)
        assert refused.returncode != 0 and "No such file" in refused.stderr, (path, refused.stdout, refused.stderr)


def test_limits_are_counted_in_the_compose_redis(compose):
    """Envoy's filter asks the rate-limit service, which counts in the compose Redis: after a
    request, the agent's counter for this window is there (read with the password only the
    Redis and rate-limit volumes hold)."""
    assert requests.get(url(compose, "/whoami"), headers={"X-API-Key": "dev-key-ro"}, timeout=10).status_code in (200, 429)
    keys = compose.compose("exec", "-T", "redis", "sh", "-c",
                           "REDISCLI_AUTH=\"$(sed -n 's/^requirepass //p' /run/redis/redis.conf)\" "
                           "redis-cli --scan --pattern 'vmrl:*'", capture=True).stdout
    assert "agent_ro" in keys, keys

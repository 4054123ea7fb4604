"""What the end-to-end tests share: starting a stack (and remembering it for the leak check),
waiting for a condition, MCP calls with the official SDK, Envoy's counters. Fixtures live in
conftest.py; everything else a second test file needs lives here."""

import json
import os
import subprocess
import time

import requests
from mcp import Client, ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

import stack as stacks

# Functional tests send many requests per agent; the rate limit itself is tested on its own.
UNLIMITED = {"rate_limit": {"requests": 1_000_000, "per_seconds": 60}}


#: Every stack this session started, for the leak check that runs last (test_leaks.py).
STARTED: list[stacks.Stack] = []


def start_stack(tmp_path_factory, name: str, *, run_dir=None, **options) -> stacks.Stack:
    """A stack on free ports, in a new folder (or `run_dir`, to start again where one stopped)."""
    running = stacks.Stack(run_dir=run_dir or tmp_path_factory.mktemp(name), ports=stacks.Ports.free(), **options)
    STARTED.append(running)
    running.start()
    return running


def wait_for(check, seconds: float = 15, interval: float = 0.2):
    """Polls `check` until it returns something truthy; returns it, or fails after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {seconds}s")
        time.sleep(interval)


def log_lines(path) -> list[dict]:
    """The JSON lines of one of the backend's log files, whole ones only: it is written in batches
    while tests read it, so its last line may be half there."""
    text = path.read_text() if path.exists() else ""
    return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]


def wait_for_logged(stack, response) -> None:
    """Until the backend's request and response logs hold the line of `response` (by its request
    id): then every line logged before it in those files is written too."""
    request_id = response.headers["x-request-id"]
    for name in ("requests.log", "responses.log"):
        path = stack.logs / "backend" / name
        wait_for(lambda: any(line["fields"].get("request_id") == request_id for line in log_lines(path)))


async def call_tool(url: str, api_key: str, name: str, arguments: dict, ca: str | None = None):
    """One tool call through the official SDK; `ca`: the CA file an https `url` is checked with."""
    if ca:
        import ssl

        import httpx2

        http = httpx2.AsyncClient(headers={"X-API-Key": api_key}, timeout=30,
                                  verify=ssl.create_default_context(cafile=ca))
    else:
        http = create_mcp_http_client(headers={"X-API-Key": api_key})
    async with http:
        async with Client(streamable_http_client(url, http_client=http), mode="2026-07-28") as client:
            tools = sorted(t.name for t in (await client.list_tools()).tools)
            return tools, await client.call_tool(name, arguments)


async def write_then_read(url: str, api_key: str, path: str, mode: str) -> tuple[str, dict, dict]:
    http = create_mcp_http_client(headers={"X-API-Key": api_key})
    async with http:
        transport = streamable_http_client(url, http_client=http)
        if mode == "legacy":
            async with transport as (read, write, *_):
                async with ClientSession(read, write) as session:
                    version = (await session.initialize()).protocol_version
                    written = await session.call_tool("kv.write", {"path": path, "data": {"k": "v"}})
                    got = await session.call_tool("kv.read", {"path": path})
        else:
            async with Client(transport, mode=mode) as client:
                version = client.protocol_version
                written = await client.call_tool("kv.write", {"path": path, "data": {"k": "v"}})
                got = await client.call_tool("kv.read", {"path": path})
    assert not written.is_error, written.content
    assert not got.is_error, got.content
    return version, written.structured_content, got.structured_content


def envoy_stat(stack, name: str) -> int:
    text = requests.get(f"http://127.0.0.1:{stack.ports.envoy_admin}/stats", timeout=10).text
    for line in text.splitlines():
        if line.startswith(f"wasmcustom.{name}:"):
            return int(line.split(":")[1])
    raise AssertionError(f"no stat {name}")


def add_agent(stack, subject: str, *args: str) -> str:
    """`agents add` and its new API key, once every Envoy worker accepts it: the worker that
    fetched the snapshot uses it at once, the others at their next one-second tick, so one
    accepted request is not enough: wait one tick more."""
    key = json.loads(agents_cli(stack, "add", subject, *args, "--json").stdout)["api_key"]
    wait_for(lambda: requests.get(f"{stack.envoy_url}/whoami", headers={"X-API-Key": key}, timeout=10).ok, 15)
    time.sleep(1.1)
    return key


def agents_cli(stack, *args: str, check: bool = True):
    """`vault-mcp-bridge agents …` against the stack's OpenBao, as an operator runs it."""
    env = {**os.environ, "VAULT_ADDR": stack.openbao_url, "VAULT_TOKEN": stacks.ROOT_TOKEN}
    done = subprocess.run([str(stack.backend_bin), "agents", *args], capture_output=True, text=True,
                          timeout=60, env=env)
    if check:
        assert done.returncode == 0, done.stderr
    return done


#: The token role and the two policies of agents' tokens, as local-vault/provision.py makes them.
AGENT_ROLE = AGENT_POLICY = "vault-mcp-bridge-agent"
AGENT_POLICIES = [AGENT_POLICY, f"{AGENT_POLICY}-roles"]


def server_signed(stack, **changes) -> str:
    """An access token as the stack's authorization server mints them (for the dev person
    `dev`, all four scopes), signed with its own key, read from its configuration as someone
    who stole it would; `changes` replace claims (None removes one)."""
    import jwt as pyjwt

    now = int(time.time())
    claims = {"iss": stack.oauth_issuer, "sub": "dev", "aud": f"{stack.envoy_url}/mcp", "iat": now,
              "exp": now + 300, "scope": "read write list delete", **changes}
    claims = {k: v for k, v in claims.items() if v is not None}
    jwk = json.loads((stack.run_dir / "oauth.json").read_text())["jwks"]["keys"][0]
    private = pyjwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(jwk))
    return pyjwt.encode(claims, private, algorithm="RS256", headers={"kid": jwk["kid"], "typ": "at+jwt"})


def chromium():
    """Debian's headless Chromium through chromedriver (`--no-sandbox`: the tests run as root).
    The caller quits it."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,900"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def root_session() -> requests.Session:
    session = requests.Session()
    session.headers["X-Vault-Token"] = stacks.ROOT_TOKEN
    return session


def agent_entity(stack, subject: str) -> dict | None:
    """The agent's identity entity in Vault (its alias `{role}:{subject}` on the token mount)."""
    accessor = root_session().get(f"{stack.openbao_url}/v1/sys/auth", timeout=10).json()["token/"]["accessor"]
    found = root_session().post(f"{stack.openbao_url}/v1/identity/lookup/entity", timeout=10,
                                json={"alias_name": f"{AGENT_ROLE}:{subject}", "alias_mount_accessor": accessor})
    return found.json()["data"] if found.status_code == 200 else None


def mint_agent_token(stack, subject: str, ttl: str = "5m") -> requests.Response:
    """A token for `subject` as the bridge mints it: the agents' role and policies, its alias."""
    return root_session().post(f"{stack.openbao_url}/v1/auth/token/create/{AGENT_ROLE}", timeout=10, json={
        "entity_alias": f"{AGENT_ROLE}:{subject}", "policies": AGENT_POLICIES, "no_default_policy": True,
        "ttl": ttl})


def agent_token(stack, subject: str, ttl: str = "5m") -> str:
    """`mint_agent_token`, for an agent the bridge has acted for (so its entity carries the
    metadata the agents' policy is templated on: checked, never written here)."""
    minted = mint_agent_token(stack, subject, ttl)
    assert minted.ok, minted.text
    entity = agent_entity(stack, subject)
    assert entity and entity["metadata"] and entity["metadata"]["subject"] == subject, entity
    return minted.json()["auth"]["client_token"]

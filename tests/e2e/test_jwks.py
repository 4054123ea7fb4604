"""The remote JWKS under attack and failure, in the real Envoy: a flood of unknown key ids
costs at most one fetch per cooldown, and a slow, malformed or oversize JWKS never replaces the
keys already held. Fetches are counted by the filter's own counters in Envoy's /stats."""

import json
import sys
import time
import uuid

import jwt as pyjwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

import stack as stacks
from support import UNLIMITED, envoy_stat, start_stack, wait_for

# Long enough that the flood below and the read of the counters fit inside one cooldown.
COOLDOWN = 8


@pytest.fixture(scope="module")
def jwks_stack(built, tmp_path_factory):
    overrides = stacks.merged(UNLIMITED, {"jwt": {"jwks_remote": {
        "cache_seconds": 3600, "cooldown_seconds": COOLDOWN, "timeout_ms": 500}}})
    running = start_stack(tmp_path_factory, "jwks", filter_overrides=overrides)
    yield running
    running.stop()


def fetches(stack) -> int:
    return (envoy_stat(stack, "vault_mcp_filter.jwks_fetch.ok")
            + envoy_stat(stack, "vault_mcp_filter.jwks_fetch.failed"))


def whoami(stack, token) -> int:
    return requests.get(f"{stack.envoy_url}/whoami", headers={"Authorization": f"Bearer {token}"},
                        timeout=10).status_code


def good_token(stack) -> str:
    return stack.secrets.token("agent_api", "read", alg="RS256")


def unknown_kid_token() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    payload = {"sub": "agent_api", "scope": "read", "iss": stacks.JWT_ISSUER, "aud": stacks.JWT_AUDIENCE,
               "exp": now + 300}
    return pyjwt.encode(payload, key, algorithm="RS256", headers={"kid": f"flood-{uuid.uuid4().hex}"})


def provoke_refetch(stack) -> None:
    """An unknown kid, once the cooldown since the last fetch has passed."""
    time.sleep(COOLDOWN + 0.5)
    assert whoami(stack, unknown_kid_token()) == 401


def test_a_flood_of_unknown_kids_costs_one_fetch_per_cooldown(jwks_stack):
    wait_for(lambda: whoami(jwks_stack, good_token(jwks_stack)) == 200)
    time.sleep(COOLDOWN + 0.5)
    before = fetches(jwks_stack)
    token = unknown_kid_token()  # one signature, many kids: the kid is only in the header
    header, payload, signature = token.split(".")
    started = time.monotonic()
    refused = 0
    while time.monotonic() - started < 3:
        forged_header = pyjwt.utils.base64url_encode(json.dumps(
            {"alg": "RS256", "typ": "JWT", "kid": f"flood-{uuid.uuid4().hex}"}).encode()).decode()
        refused += whoami(jwks_stack, f"{forged_header}.{payload}.{signature}") == 401
    assert refused > 50
    time.sleep(1.5)  # the fetch runs on the filter's 1 s timer; the next may not before 8 s
    assert fetches(jwks_stack) - before == 1


def test_a_slow_jwks_server_times_out_and_the_keys_stay(jwks_stack):
    wait_for(lambda: whoami(jwks_stack, good_token(jwks_stack)) == 200)
    failed = envoy_stat(jwks_stack, "vault_mcp_filter.jwks_fetch.failed")
    jwks_stack.stop_process("jwks")
    slow = ("import http.server, sys, time\n"
            "class H(http.server.BaseHTTPRequestHandler):\n"
            "    def do_GET(self):\n"
            "        time.sleep(3); self.send_response(200); self.end_headers(); self.wfile.write(b'{}')\n"
            "http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n")
    jwks_stack._spawn("jwks", [sys.executable, "-c", slow, str(jwks_stack.ports.jwks)])
    try:
        provoke_refetch(jwks_stack)
        wait_for(lambda: envoy_stat(jwks_stack, "vault_mcp_filter.jwks_fetch.failed") > failed, seconds=10)
        assert whoami(jwks_stack, good_token(jwks_stack)) == 200
    finally:
        jwks_stack.stop_process("jwks")
        jwks_stack.start_jwks()


@pytest.mark.parametrize("document", [
    b'{"keys": "not a list"}',
    b"<html>not json</html>",
    b'{"keys": []}',
    json.dumps({"keys": [], "padding": "x" * (70 * 1024)}).encode(),  # over the 64 KiB limit
], ids=["keys not a list", "not JSON", "no keys", "oversize"])
def test_a_bad_jwks_document_never_replaces_the_keys(jwks_stack, document):
    wait_for(lambda: whoami(jwks_stack, good_token(jwks_stack)) == 200)
    failed = envoy_stat(jwks_stack, "vault_mcp_filter.jwks_fetch.failed")
    good = (jwks_stack.jwks_dir / "jwks.json").read_bytes()
    (jwks_stack.jwks_dir / "jwks.json").write_bytes(document)
    try:
        provoke_refetch(jwks_stack)
        wait_for(lambda: envoy_stat(jwks_stack, "vault_mcp_filter.jwks_fetch.failed") > failed, seconds=10)
        assert whoami(jwks_stack, good_token(jwks_stack)) == 200
    finally:
        (jwks_stack.jwks_dir / "jwks.json").write_bytes(good)

"""The edge filter inside the real Envoy: JWTs minted by PyJWT (an independent implementation),
a JWKS served by a plain HTTP server that the tests stop, start and rotate, the rate limit across
two Envoy workers, MCP scopes, header hygiene and the backend's check of the edge assertion."""

import base64
import json
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import jwt as pyjwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import stack as stacks
from support import UNLIMITED, envoy_stat, start_stack, wait_for

TRIALS = 10
TRIAL_LIMIT = 25


@pytest.fixture(scope="module")
def edge(built, tmp_path_factory):
    """A stack of its own: short JWKS cache and cooldown, and tight limits for a few subjects."""
    overrides = stacks.merged(UNLIMITED, {
        "jwt": {"jwks_remote": {"cache_seconds": 2, "cooldown_seconds": 1}},
        "rate_limit": {"subjects": {f"rl_trial_{i}": {"requests": TRIAL_LIMIT, "per_seconds": 3600}
                                    for i in range(TRIALS)}},
        "mcp": {"max_body_bytes": 64 * 1024},
    })
    # Two workers: the limits and the JWKS cache must hold across them.
    running = start_stack(tmp_path_factory, "edge", filter_overrides=overrides, envoy_concurrency=2)
    yield running
    running.stop()


def get(stack, path="/secrets/edge/none", headers=None, **kwargs):
    return requests.get(f"{stack.envoy_url}{path}", headers=headers or {}, timeout=10, **kwargs)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def b64(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def claims(**changes):
    now = int(time.time())
    base = {"sub": "agent_jwt", "scope": "read write", "iss": stacks.JWT_ISSUER,
            "aud": stacks.JWT_AUDIENCE, "iat": now, "exp": now + 300}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def rs256(stack, payload, kid=stacks.RS256_KID, headers=None):
    return pyjwt.encode(payload, stack.secrets.rsa_private_pem, algorithm="RS256",
                        headers={"kid": kid, **(headers or {})})


def hs256(stack, payload, **headers):
    return pyjwt.encode(payload, stack.secrets.hs256_secret, algorithm="HS256", headers=headers)


def status_of(stack, token):
    return get(stack, headers=bearer(token)).status_code


def test_valid_hs256_and_rs256_tokens_are_accepted(edge):
    # 404: authenticated and forwarded, and the backend found no such secret.
    assert status_of(edge, hs256(edge, claims(), kid=stacks.HS256_KID)) == 404
    assert status_of(edge, hs256(edge, claims())) == 404
    # The JWKS is fetched on the filter's timer shortly after start.
    wait_for(lambda: status_of(edge, rs256(edge, claims())) == 404)


def test_token_attacks_are_refused(edge):
    wait_for(lambda: status_of(edge, rs256(edge, claims())) == 404)
    public_pem = serialization.load_pem_private_key(edge.secrets.rsa_private_pem, None).public_key() \
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    good = rs256(edge, claims())
    head, payload, signature = good.split(".")

    def hmac_with(key: bytes, kid=None) -> str:
        # PyJWT refuses to use a PEM as an HMAC secret, as it should; sign by hand.
        import hashlib
        import hmac

        header = {"alg": "HS256", "typ": "JWT", **({"kid": kid} if kid else {})}
        signing_input = f"{b64(header)}.{b64(claims())}"
        mac = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"

    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    attacker_jwk = json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(attacker.public_key()))
    cases = {
        "alg none": f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims())}.",
        "RS256 key as HS256 secret, with kid": hmac_with(public_pem, kid=stacks.RS256_KID),
        "RS256 key as HS256 secret, no kid": hmac_with(public_pem),
        "tampered payload": f"{head}.{b64(claims(sub='agent_api', scope='read write list delete'))}.{signature}",
        "tampered signature": f"{head}.{payload}.{signature[:-4]}AAAA",
        "expired": rs256(edge, claims(exp=int(time.time()) - 120)),
        "nbf in the future": rs256(edge, claims(nbf=int(time.time()) + 120)),
        "no exp": rs256(edge, claims(exp=None)),
        "wrong issuer": rs256(edge, claims(iss="https://evil.test")),
        "wrong audience": rs256(edge, claims(aud="someone-else")),
        "subject with a path": rs256(edge, claims(sub="../agent_api")),
        "embedded jwk not followed": pyjwt.encode(
            claims(), attacker, algorithm="RS256", headers={"kid": "attacker", "jwk": attacker_jwk}),
        "jku not followed": pyjwt.encode(
            claims(), attacker, algorithm="RS256",
            headers={"kid": stacks.RS256_KID, "jku": "http://127.0.0.1:1/jwks.json"}),
        "oversize": rs256(edge, claims(pad="x" * 9000)),
    }
    for name, token in cases.items():
        response = get(edge, headers=bearer(token))
        assert response.status_code == 401, name
        assert response.json()["error"] == "invalid_token", name
        assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"'), name
    # Within the leeway (30 s) an expired token still passes.
    assert status_of(edge, rs256(edge, claims(exp=int(time.time()) - 10))) == 404
    # Credentials in the query string are refused even with a valid header.
    response = get(edge, "/secrets/x?access_token=" + good, headers=bearer(good))
    assert (response.status_code, response.json()["error"]) == (401, "credentials_in_query")


def test_unknown_kid_is_fetched_after_rotation(edge):
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    new_pem = new_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    token = pyjwt.encode(claims(), new_pem, algorithm="RS256", headers={"kid": "rotated-2"})
    assert status_of(edge, token) == 401
    edge.publish_jwks([edge.secrets.jwk(), edge.secrets.jwk("rotated-2", new_pem)])
    # The unknown kid asks for a refetch (one per cooldown); the new key is then accepted.
    wait_for(lambda: status_of(edge, token) == 404)


def test_jwks_server_down_keeps_the_cached_keys(edge):
    token = rs256(edge, claims())
    wait_for(lambda: status_of(edge, token) == 404)
    fetches_failed = lambda: envoy_stat(edge, "vault_mcp_filter.jwks_fetch.failed")  # noqa: E731
    before = fetches_failed()
    edge.stop_process("jwks")
    try:
        # The cache (2 s) runs out and refetches fail, but the keys already held stay valid.
        wait_for(lambda: fetches_failed() > before, seconds=20)
        assert status_of(edge, token) == 404
    finally:
        edge.start_jwks()


def test_without_any_keys_jwts_are_refused(built, tmp_path_factory):
    """No HS256 secret and a JWKS server that never answers: nothing can verify, so fail closed."""
    overrides = stacks.merged(UNLIMITED, {"jwt": {"hs256_secret": None, "hs256_kid": None}})
    dark = stacks.Stack(run_dir=tmp_path_factory.mktemp("dark"), ports=stacks.Ports.free(),
                        filter_overrides=overrides)
    try:
        dark.start_vault()
        dark.stop_process("jwks")  # before Envoy starts: it never gets a JWKS
        dark.start_backend()
        dark.start_envoy()
        time.sleep(1.5)  # at least one fetch attempt, which fails
        response = get(dark, headers=bearer(rs256(dark, claims())))
        assert (response.status_code, response.json()["error"]) == (401, "jwks_unavailable")
        # API keys still work.
        assert get(dark, headers={"X-API-Key": "dev-key"}).status_code == 404
    finally:
        dark.stop()


def test_rate_limit_is_exact_across_two_workers(edge):
    """Envoy runs 2 workers; each trial's subject may make TRIAL_LIMIT requests, sent 60 at
    once from 16 connections. Admitted must equal the limit in every trial."""
    results = []
    for trial in range(TRIALS):
        token = hs256(edge, claims(sub=f"rl_trial_{trial}"))

        def one(_):
            return requests.get(f"{edge.envoy_url}/healthz", headers=bearer(token), timeout=10).status_code

        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = list(pool.map(one, range(60)))
        results.append((statuses.count(200), statuses.count(429), len(statuses)))
    assert results == [(TRIAL_LIMIT, 60 - TRIAL_LIMIT, 60)] * TRIALS, results
    limited = get(edge, "/healthz", headers=bearer(hs256(edge, claims(sub="rl_trial_0"))))
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    assert limited.json()["error"] == "rate_limited"


def mcp_post(stack, api_key, body, **headers):
    return requests.post(
        f"{stack.envoy_url}/mcp", data=body if isinstance(body, (bytes, str)) else json.dumps(body),
        headers={"X-API-Key": api_key, "Content-Type": "application/json",
                 "Accept": "application/json, text/event-stream", **headers},
        timeout=10,
    )


def call(tool):
    return {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": {}}}


def test_mcp_tool_calls_are_checked_against_scopes(edge):
    # 2026-07-28: the tool is named in headers.
    modern = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "kv.write"}
    response = mcp_post(edge, "dev-key-ro", call("kv.write"), **modern)
    assert response.status_code == 403
    assert response.headers["www-authenticate"].startswith('Bearer error="insufficient_scope", scope="write"')
    # Older revisions: the filter reads the JSON-RPC body.
    for body, status, code in [
        (call("kv.write"), 403, "insufficient_scope"),
        (call("shell.exec"), 403, "unknown_tool"),
        # Batches are refused outright (the server behind accepts none): nothing to hide in.
        ([call("kv.read"), call("kv.delete")], 400, "invalid_jsonrpc"),
        ("{not json", 400, "invalid_jsonrpc"),
        (json.dumps(call("kv.read")) + " " * (70 * 1024), 413, "body_too_large"),
    ]:
        response = mcp_post(edge, "dev-key-ro", body, **{"MCP-Protocol-Version": "2025-11-25"})
        assert (response.status_code, response.json()["error"]) == (status, code), body
    # Allowed calls reach the backend (which answers per MCP: no session yet → not 401/403).
    response = mcp_post(edge, "dev-key-ro", call("kv.read"), **{"MCP-Protocol-Version": "2025-11-25"})
    assert response.status_code not in (401, 403, 404), response.text


def test_client_identity_headers_never_reach_the_backend(edge, tmp_path):
    """Whatever identity headers a client sends, the backend sees the edge's and accepts only
    requests carrying a fresh assertion made by the edge."""
    path = f"spoof/{uuid.uuid4().hex[:8]}"
    spoofs = {
        "x-agent-subject": "agent_api",
        "X-Agent-Scopes": "read write list delete",
        "x-agent-assertion": "v2.1.00",
        "x-forwarded-client-cert": 'Hash=1;Subject="CN=agent_api"',
    }
    response = requests.put(f"{edge.envoy_url}/secrets/{path}", json={"data": {"v": "b"}},
                            headers={"X-API-Key": "dev-key-b", **spoofs}, timeout=10)
    assert response.status_code == 200
    mine = requests.get(f"{edge.envoy_url}/secrets/{path}", headers={"X-API-Key": "dev-key-b"}, timeout=10)
    assert mine.json()["data"] == {"v": "b"}
    theirs = requests.get(f"{edge.envoy_url}/secrets/{path}", headers={"X-API-Key": "dev-key"}, timeout=10)
    assert theirs.status_code == 404


def test_backend_refuses_requests_that_did_not_pass_the_edge(edge):
    url = f"{edge.backend_url}/secrets/anything"

    now = int(time.time())
    identity = {"x-agent-subject": "agent_api", "x-agent-scopes": "read", "x-request-id": "r-1"}
    cases = {
        "no assertion": {},
        "forged": {"x-agent-assertion": edge.secrets.assertion("agent_api", "read", now, "r-1", key=b"k" * 32)},
        "stale": {"x-agent-assertion": edge.secrets.assertion("agent_api", "read", now - 600, "r-1")},
        "replayed for another request": {"x-agent-assertion": edge.secrets.assertion("agent_api", "read", now, "r-0")},
        "scopes escalated": {"x-agent-assertion": edge.secrets.assertion("agent_api", "read", now, "r-1"),
                             "x-agent-scopes": "read write"},
        "another key's id": {"x-agent-assertion": edge.secrets.assertion("agent_api", "read", now, "r-1", "0a1b2c3d4e5f"),
                             "x-agent-key-id": "ffffffffffff"},
    }
    for name, extra in cases.items():
        response = requests.get(url, headers={**identity, **extra}, timeout=10)
        assert response.status_code == 401, name
        assert response.json()["error"] == "unauthenticated", name
    # The same recipe with the right key works, which shows the refusals above are about the
    # assertion and nothing else.
    ok = requests.get(url, headers={**identity, "x-agent-assertion": edge.secrets.assertion("agent_api", "read", now, "r-1")},
                      timeout=10)
    assert ok.status_code == 404


def test_challenges_and_protected_resource_metadata(edge):
    response = get(edge)
    assert response.status_code == 401
    metadata_url = f"{edge.envoy_url}/.well-known/oauth-protected-resource/mcp"
    assert response.headers["www-authenticate"] == (
        f'Bearer resource_metadata="{metadata_url}", scope="read write list delete"')
    document = requests.get(metadata_url, timeout=10)
    assert document.status_code == 200
    assert document.json()["resource"] == f"{edge.envoy_url}/mcp"
    assert document.json()["authorization_servers"] == [edge.oauth_issuer]
    assert document.json()["bearer_methods_supported"] == ["header"]


def test_filter_counters_are_in_envoy_stats(edge):
    before = envoy_stat(edge, "vault_mcp_filter.denied.missing_credentials")
    get(edge)
    assert envoy_stat(edge, "vault_mcp_filter.denied.missing_credentials") == before + 1
    # Allowed requests reach the counter on the filter's one-second tick.
    wait_for(lambda: envoy_stat(edge, "vault_mcp_filter.allowed") > 0, 5)
    assert envoy_stat(edge, "vault_mcp_filter.jwks_fetch.ok") >= 1


def test_invalid_filter_configuration_refuses_to_start(tmp_path):
    ports = stacks.Ports.free()
    config = stacks.filter_config(ports)
    config["rate_limit"]["surprise"] = True
    path = tmp_path / "bad.yaml"
    import yaml

    path.write_text(yaml.safe_dump(stacks.render_envoy_config(ports, config)))
    secrets = stacks.Secrets.generate()
    result = subprocess.run(
        [str(stacks.VENV_BIN / "envoy"), "--mode", "validate", "-c", str(path)],
        capture_output=True, text=True, timeout=120,
        env={"JWT_HS256_SECRET": secrets.hs256_secret, "AGENT_ASSERTION_KEY": secrets.assertion_key},
    )
    assert result.returncode != 0
    assert "vault-mcp-filter: invalid configuration" in result.stdout + result.stderr
    assert "surprise" in result.stdout + result.stderr

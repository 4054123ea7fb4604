"""RS256 verified by Envoy's native jwt_authn in front of the filter (`jwt.envoy_jwt_authn`):
the deployment docs/PERFORMANCE.md recommends when tokens change often. The filter reads the
verified payload from the dynamic metadata; everything else (scopes, rate limit, header hygiene,
assertion, refusals) stays the filter's. Tokens are minted by PyJWT."""

import time

import jwt as pyjwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

import stack as stacks
from support import UNLIMITED, start_stack


@pytest.fixture(scope="module")
def delegated(built, tmp_path_factory):
    running = start_stack(tmp_path_factory, "delegated", filter_overrides=UNLIMITED, envoy_jwt_authn=True)
    yield running
    running.stop()


def whoami(stack, headers):
    return requests.get(f"{stack.envoy_url}/whoami", headers=headers, timeout=10)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_rs256_verified_by_envoy_names_the_agent(delegated):
    token = delegated.secrets.token("agent_api", "read list", alg="RS256")
    response = whoami(delegated, bearer(token))
    assert response.status_code == 200, response.text
    assert response.json()["subject"] == "agent_api"
    assert sorted(response.json()["scopes"]) == ["list", "read"]
    # Scopes still come from the filter's table: no write scope, no write.
    put = requests.put(f"{delegated.envoy_url}/secrets/delegated/x", headers=bearer(token),
                       json={"data": {"v": "1"}}, timeout=10)
    assert put.status_code == 403 and put.json()["error"] == "insufficient_scope"


def test_tokens_envoy_refuses_are_refused_by_the_filter(delegated):
    now = int(time.time())
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = {"sub": "agent_api", "scope": "read", "iss": stacks.JWT_ISSUER, "aud": stacks.JWT_AUDIENCE,
              "exp": now + 300}
    forged = pyjwt.encode(claims, stranger, algorithm="RS256", headers={"kid": stacks.RS256_KID})
    expired = delegated.secrets.token("agent_api", "read", alg="RS256", ttl=-600)
    wrong_audience = delegated.secrets.token("agent_api", "read", alg="RS256", aud="someone-else")
    for token in (forged, expired, wrong_audience):
        response = whoami(delegated, bearer(token))
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "invalid_token"
        assert "Bearer" in response.headers["www-authenticate"]


def test_the_query_string_is_never_a_token_source(delegated):
    token = delegated.secrets.token("agent_api", "read", alg="RS256")
    response = requests.get(f"{delegated.envoy_url}/whoami?access_token={token}", timeout=10)
    assert response.status_code == 401
    assert response.json()["error"] == "credentials_in_query"


def test_hs256_and_api_keys_stay_with_the_filter(delegated):
    hs = whoami(delegated, bearer(delegated.secrets.token("agent_b", "read")))
    assert hs.status_code == 200 and hs.json()["subject"] == "agent_b"
    key = whoami(delegated, {"X-API-Key": "dev-key-ro"})
    assert key.status_code == 200 and key.json()["subject"] == "agent_ro"
    # A verified token next to an API key is two credentials.
    token = delegated.secrets.token("agent_api", "read", alg="RS256")
    both = whoami(delegated, {**bearer(token), "X-API-Key": "dev-key-ro"})
    assert both.status_code == 401 and both.json()["error"] == "ambiguous_credentials"


def test_client_identity_headers_do_not_survive_delegation(delegated):
    token = delegated.secrets.token("agent_ro", "read", alg="RS256")
    spoofed = {**bearer(token), "x-agent-subject": "agent_api", "x-agent-scopes": "read write delete",
               "x-agent-assertion": "v2.0.00"}
    response = whoami(delegated, spoofed)
    assert response.status_code == 200
    assert response.json()["subject"] == "agent_ro" and response.json()["scopes"] == ["read"]

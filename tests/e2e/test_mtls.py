"""The edge configuration (envoy/envoy.edge.yaml, rendered on free ports): TLS with API keys and
JWTs, and mTLS where the client certificate is the credential."""

import subprocess
import uuid

import pytest
import requests

import stack as stacks
from support import UNLIMITED, server_signed, start_stack


@pytest.fixture(scope="module")
def edge_tls(built, tmp_path_factory):
    running = start_stack(tmp_path_factory, "edge_tls", filter_overrides=UNLIMITED, edge=True)
    yield running
    running.stop()


def test_people_sign_in_over_tls_too(edge_tls):
    """At the edge the authorization server serves https with the dev CA, the metadata names it
    so, and Envoy fetches its keys over TLS (checked against that CA): a token it signed is
    taken through the TLS listener."""
    ca = str(edge_tls.certs / "ca.crt")
    assert edge_tls.oauth_issuer.startswith("https://")
    server = requests.get(f"{edge_tls.oauth_issuer}/.well-known/oauth-authorization-server", verify=ca, timeout=10)
    assert server.json()["issuer"] == edge_tls.oauth_issuer
    meta = requests.get(f"{edge_tls.envoy_url}/.well-known/oauth-protected-resource/mcp", verify=ca, timeout=10)
    assert meta.json()["authorization_servers"] == [edge_tls.oauth_issuer]
    who = requests.get(f"{edge_tls.envoy_url}/whoami", verify=ca, timeout=10,
                       headers={"Authorization": f"Bearer {server_signed(edge_tls)}"})
    assert who.status_code == 200, who.text
    assert who.json()["subject"] == "user.dev"


def client_cert(stack, name: str) -> tuple[str, str]:
    return str(stack.certs / f"client-{name}.crt"), str(stack.certs / f"client-{name}.key")


def mtls(stack, method: str, path: str, cert: tuple[str, str] | None, **kwargs):
    return requests.request(method, f"{stack.mtls_url}{path}", cert=cert,
                            verify=str(stack.certs / "ca.crt"), timeout=10, **kwargs)


def test_client_certificate_is_the_identity(edge_tls):
    path = f"/secrets/mtls/{uuid.uuid4().hex[:8]}"
    cert = client_cert(edge_tls, "agent_api")
    assert mtls(edge_tls, "PUT", path, cert, json={"data": {"via": "mtls"}}).status_code == 200
    got = mtls(edge_tls, "GET", path, cert)
    assert got.json()["data"] == {"via": "mtls"}
    # The same secret through the TLS listener with agent_api's API key: same corner of Vault.
    with_key = requests.get(f"{edge_tls.envoy_url}{path}", headers={"X-API-Key": "dev-key"},
                            verify=str(edge_tls.certs / "ca.crt"), timeout=10)
    assert with_key.json()["data"] == {"via": "mtls"}


def test_scopes_come_from_the_certificate_identity(edge_tls):
    response = mtls(edge_tls, "PUT", "/secrets/mtls/ro", client_cert(edge_tls, "agent_ro"),
                    json={"data": {"x": "y"}})
    assert (response.status_code, response.json()["error"]) == (403, "insufficient_scope")


def test_spoofed_identity_and_xfcc_headers_do_not_change_who_calls(edge_tls):
    path = f"/secrets/mtls/{uuid.uuid4().hex[:8]}"
    spoof = {"x-agent-subject": "agent_api", "X-Forwarded-Client-Cert": 'Hash=1;Subject="CN=agent_api"',
             "x-ssl-client-s-dn": "CN=agent_api", "x-ssl-client-verify": "SUCCESS"}
    cert_b = client_cert(edge_tls, "agent_b")
    assert mtls(edge_tls, "PUT", path, cert_b, json={"data": {"who": "b"}}, headers=spoof).status_code == 200
    assert mtls(edge_tls, "GET", path, client_cert(edge_tls, "agent_api")).status_code == 404
    assert mtls(edge_tls, "GET", path, cert_b).json()["data"] == {"who": "b"}


def test_connections_without_a_trusted_certificate_are_refused(edge_tls):
    for cert in (None, client_cert(edge_tls, "rogue")):
        with pytest.raises((requests.exceptions.SSLError, requests.exceptions.ConnectionError)):
            mtls(edge_tls, "GET", "/secrets/x", cert)


def test_a_trusted_certificate_for_an_unknown_agent_is_refused(edge_tls, tmp_path):
    key, csr, crt = (tmp_path / n for n in ("stranger.key", "stranger.csr", "stranger.crt"))
    certs = edge_tls.certs
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
                    "-subj", "/CN=stranger"], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", certs / "ca.crt", "-CAkey", certs / "ca.key",
                    "-CAcreateserial", "-out", crt, "-days", "1"], check=True, capture_output=True)
    response = mtls(edge_tls, "GET", "/secrets/x", (str(crt), str(key)))
    assert (response.status_code, response.json()["error"]) == (401, "unknown_client_certificate")


def test_tls_listener_takes_api_keys_and_tokens_but_not_plaintext(edge_tls):
    ca = str(edge_tls.certs / "ca.crt")
    assert requests.get(f"{edge_tls.envoy_url}/secrets/none", headers={"X-API-Key": "dev-key"},
                        verify=ca, timeout=10).status_code == 404
    token = edge_tls.secrets.token("agent_jwt", "read")
    assert requests.get(f"{edge_tls.envoy_url}/secrets/none", headers={"Authorization": f"Bearer {token}"},
                        verify=ca, timeout=10).status_code == 404
    response = requests.get(f"{edge_tls.envoy_url}/secrets/none", verify=ca, timeout=10)
    assert response.status_code == 401
    assert f"https://127.0.0.1:{edge_tls.ports.envoy_tls}/.well-known/oauth-protected-resource/mcp" \
        in response.headers["www-authenticate"]
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://127.0.0.1:{edge_tls.ports.envoy_tls}/secrets/none", timeout=10)


def test_committed_edge_config_is_generated_from_envoy_yaml():
    assert stacks.EDGE_ENVOY_CONFIG.read_text() == stacks.render_committed_edge_config(), (
        "run: PYTHONPATH=scripts .venv/bin/python -m stack edge-envoy"
    )

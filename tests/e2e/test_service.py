"""The backend as a service: health, identity echo, metrics, request ids, and what happens when
Vault goes away and comes back."""

import re
import uuid

import pytest
import requests

from conftest import UNLIMITED, start_stack, wait_for


def test_whoami_through_envoy(stack):
    response = requests.get(f"{stack.envoy_url}/whoami", headers={"X-API-Key": "dev-key-ro"}, timeout=10)
    assert response.json() == {"subject": "agent_ro", "scopes": ["list", "read"]}
    # Envoy's request id reaches the backend and comes back on the response.
    assert re.fullmatch(r"[0-9a-f-]{36}", response.headers["x-request-id"])


def test_health_and_metrics_on_the_backend_port(stack):
    for path in ("/healthz", "/livez"):
        assert requests.get(f"{stack.backend_url}{path}", timeout=10).json() == {"status": "ok"}
    assert requests.get(f"{stack.backend_url}/readyz", timeout=10).json() == {"status": "ready"}
    secret_value = f"planted-{uuid.uuid4().hex}"
    secret_path = f"metrics-{uuid.uuid4().hex[:8]}/deep"
    assert requests.put(f"{stack.envoy_url}/secrets/{secret_path}", json={"data": {"v": secret_value}},
                        headers={"X-API-Key": "dev-key"}, timeout=10).ok
    metrics = requests.get(f"{stack.backend_url}/metrics", timeout=10).text
    assert 'http_requests_total{method="PUT",route="/secrets/{path:.*}",status="200"}' in metrics
    assert 'vault_requests_total{engine="kv",operation="write",outcome="ok"}' in metrics
    assert "http_request_duration_seconds_bucket" in metrics
    # Labels are templates: no path, subject or value of any request appears.
    for leak in (secret_value, secret_path, "agent_api"):
        assert leak not in metrics


def test_metrics_and_unknown_routes_are_not_reachable_through_envoy(stack):
    for path in ("/metrics", "/admin", "/secretsX"):
        response = requests.get(f"{stack.envoy_url}{path}", headers={"X-API-Key": "dev-key"}, timeout=10)
        assert (response.status_code, response.json()["error"]) == (404, "unknown_route"), path


@pytest.fixture(scope="module")
def fragile(built, tmp_path_factory):
    """A stack of its own, since its OpenBao is stopped and started again."""
    running = start_stack(tmp_path_factory, "fragile", filter_overrides=UNLIMITED)
    yield running
    running.stop()


def test_vault_down_gives_503_then_recovers_without_restarting_the_backend(fragile):
    headers = {"X-API-Key": "dev-key"}
    url = f"{fragile.envoy_url}/secrets/outage/probe"
    assert requests.put(url, json={"data": {"v": 1}}, headers=headers, timeout=10).ok
    fragile.stop_process("openbao")
    down = requests.get(url, headers=headers, timeout=15)
    assert down.status_code == 503
    assert down.json()["error"] == "vault_unavailable"
    assert int(down.headers["retry-after"]) > 0
    ready = requests.get(f"{fragile.backend_url}/readyz", timeout=15)
    assert ready.status_code == 503 and "retry-after" in ready.headers
    # A dev server starts empty: start and provision it again, then the same backend serves.
    fragile.start_openbao()
    wait_for(lambda: requests.get(f"{fragile.backend_url}/readyz", timeout=10).status_code == 200)
    assert requests.put(url, json={"data": {"v": 2}}, headers=headers, timeout=10).json()["version"] == 1
    assert requests.get(url, headers=headers, timeout=10).json()["data"] == {"v": 2}

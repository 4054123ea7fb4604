"""REST through Envoy: the filter authenticates, the backend acts in the caller's own folder."""

import uuid

import requests


def unique(prefix: str) -> str:
    return f"{prefix}/{uuid.uuid4().hex[:12]}"


def test_write_then_read_through_envoy(stack, api_keys, openbao):
    path = unique("configs")
    headers = {"X-API-Key": api_keys["agent_api"]}
    # As in the README: `curl -X PUT -d …` labels the body form-urlencoded; it is still JSON.
    put = requests.put(f"{stack.envoy_url}/secrets/{path}",
                       headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
                       data='{"data":{"foo":"bar"}}', timeout=10)
    assert put.status_code == 200, put.text
    assert put.json() == {"path": path, "version": 1}

    got = requests.get(f"{stack.envoy_url}/secrets/{path}", headers=headers, timeout=10)
    assert got.status_code == 200, got.text
    assert got.json() == {"path": path, "data": {"foo": "bar"}, "version": 1}

    # It really is in OpenBao, under the agent's prefix.
    stored = openbao(f"agents/agent_api/{path}")
    assert stored.status_code == 200
    assert stored.json()["data"]["data"] == {"foo": "bar"}


def test_versions_are_kept(stack, api_keys):
    path = unique("versions")
    url = f"{stack.envoy_url}/secrets/{path}"
    headers = {"X-API-Key": api_keys["agent_api"]}
    assert requests.put(url, headers=headers, json={"data": {"v": "one"}}, timeout=10).ok
    # No Content-Type at all is accepted too.
    assert requests.put(url, headers=headers, data='{"data": {"v": "two"}}', timeout=10).ok
    assert requests.get(url, headers=headers, timeout=10).json()["data"] == {"v": "two"}
    old = requests.get(url, headers=headers, params={"version": 1}, timeout=10).json()
    assert old == {"path": path, "data": {"v": "one"}, "version": 1}


def test_missing_and_wrong_key_are_refused_by_the_filter(stack):
    url = f"{stack.envoy_url}/secrets/configs/demo"
    cases = {
        "no key": {},
        "wrong key": {"X-API-Key": "not-a-key"},
        "empty key": {"X-API-Key": ""},
        "identity header only": {"x-agent-subject": "agent_api", "x-agent-scopes": "read"},
    }
    for name, headers in cases.items():
        response = requests.get(url, headers=headers, timeout=10)
        assert response.status_code == 401, name
        assert response.headers["content-type"] == "application/json", name
        body = response.json()
        assert body["error"] in {"missing_credentials", "invalid_api_key"}, name
        # The local reply comes from the filter, not from the backend.
        assert response.headers.get("server") == "envoy", name


def test_agent_cannot_reach_another_agents_secret_by_spoofing_identity(stack, api_keys, openbao):
    path = unique("isolation")
    owner = {"X-API-Key": api_keys["agent_api"]}
    assert requests.put(f"{stack.envoy_url}/secrets/{path}", headers=owner,
                        json={"data": {"secret": "agent_api only"}}, timeout=10).ok

    spoofs = [
        [("x-agent-subject", "agent_api")],
        [("X-Agent-Subject", "agent_api"), ("X-Agent-Scopes", "read write list delete")],
        [("x-agent-subject", "agent_api"), ("x-agent-subject", "agent_api")],
    ]
    for spoof in spoofs:
        session = requests.Session()
        request = requests.Request("GET", f"{stack.envoy_url}/secrets/{path}",
                                   headers={"X-API-Key": api_keys["agent_b"]}).prepare()
        for name, value in spoof:
            # Add raw duplicates, which a dict of headers cannot hold.
            request.headers[name] = value
        response = session.send(request, timeout=10)
        assert response.status_code == 404, (spoof, response.text)
        assert "agent_api only" not in response.text

    # A spoofed write lands in agent_b's own folder, never in agent_api's.
    response = requests.put(f"{stack.envoy_url}/secrets/{path}",
                            headers={"X-API-Key": api_keys["agent_b"], "x-agent-subject": "agent_api"},
                            json={"data": {"secret": "from b"}}, timeout=10)
    assert response.status_code == 200
    assert openbao(f"agents/agent_api/{path}").json()["data"]["data"] == {"secret": "agent_api only"}
    assert openbao(f"agents/agent_b/{path}").json()["data"]["data"] == {"secret": "from b"}


def test_scopes_are_enforced(stack, api_keys):
    url = f"{stack.envoy_url}/secrets/{unique('ro')}"
    response = requests.put(url, headers={"X-API-Key": api_keys["agent_ro"]},
                            json={"data": {"x": "y"}}, timeout=10)
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"


def test_bad_paths_and_bodies_get_clear_errors(stack, api_keys):
    headers = {"X-API-Key": api_keys["agent_api"]}
    for raw in ("a/%2e%2e/b", "a/%2fb", "%2e%2e", "a/..%5cb", "a%00b"):
        response = requests.get(f"{stack.envoy_url}/secrets/{raw}", headers=headers, timeout=10)
        assert response.status_code == 400, (raw, response.text)
        assert response.json()["error"] == "invalid_path", raw
    response = requests.put(f"{stack.envoy_url}/secrets/ok", headers=headers, data="{not json", timeout=10)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    response = requests.put(f"{stack.envoy_url}/secrets/ok", headers=headers,
                            json={"data": {"x": "y" * (2 * 1024 * 1024)}}, timeout=10)
    assert response.status_code == 413
    response = requests.get(f"{stack.envoy_url}/secrets/nothing-here", headers=headers, timeout=10)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"

"""The backend's own Vault login with an AppRole: short-lived tokens are renewed, and replaced by
a new login when they reach their maximum TTL, while requests keep being served."""

import time

import requests

import stack as stacks


def test_approle_tokens_are_renewed_and_replaced(built, tmp_path):
    running = stacks.Stack(run_dir=tmp_path, ports=stacks.Ports.free(), with_envoy=False,
                           backend_env={"STANDALONE": "true", "API_KEYS_JSON":
                                        '{"k": {"subject": "agent_api", "scopes": ["read", "write"]}}'})
    try:
        running.start_vault()
        root = requests.Session()
        root.headers["X-Vault-Token"] = stacks.ROOT_TOKEN
        bao = f"{running.openbao_url}/v1"
        assert root.post(f"{bao}/sys/auth/approle", json={"type": "approle"}, timeout=10).ok
        # The service's own policy, as provisioning wrote it (`gen-policy --service`).
        assert root.post(f"{bao}/auth/approle/role/bridge", timeout=10, json={
            "token_policies": ["vault-mcp-bridge"], "token_ttl": "4s", "token_max_ttl": "9s"}).ok
        role_id = root.get(f"{bao}/auth/approle/role/bridge/role-id", timeout=10).json()["data"]["role_id"]
        secret_id = root.post(f"{bao}/auth/approle/role/bridge/secret-id", timeout=10).json()["data"]["secret_id"]
        running.backend_env.update({"VAULT_TOKEN": None, "VAULT_ROLE_ID": role_id, "VAULT_SECRET_ID": secret_id})
        running.start_backend()

        url = f"{running.backend_url}/secrets/approle/probe"
        headers = {"X-API-Key": "k"}
        statuses = []
        deadline = time.monotonic() + 14  # past the 9 s maximum TTL of the first token
        version = 0
        while time.monotonic() < deadline:
            version += 1
            statuses.append(requests.put(url, json={"data": {"n": version}}, headers=headers, timeout=10).status_code)
            time.sleep(0.5)
        assert set(statuses) == {200}, statuses
        metrics = requests.get(f"{running.backend_url}/metrics", timeout=10).text
        logins = sum(int(float(line.rsplit(" ", 1)[1])) for line in metrics.splitlines()
                     if line.startswith('vault_requests_total{engine="auth",operation="login",outcome="ok"}'))
        renewals = sum(int(float(line.rsplit(" ", 1)[1])) for line in metrics.splitlines()
                       if line.startswith('vault_requests_total{engine="auth",operation="renew"'))
        assert logins >= 2 and renewals >= 1, (logins, renewals)
        # The secret id never reaches the logs.
        for log in running.logs.rglob("*.log"):
            assert secret_id not in log.read_text(errors="replace"), log
    finally:
        running.stop()

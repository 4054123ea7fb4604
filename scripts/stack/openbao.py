"""A persistent OpenBao for the fault tests: Raft storage, so data survives a restart, and a
real seal, so it can be sealed and unsealed. The dev server (local-vault/start-openbao) keeps
everything in memory and cannot be sealed usefully.

Stack(durable_vault=True) uses this; the root token is then aliased to the dev root token id,
so provisioning and the backend are configured exactly as with the dev server.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path


def config(port: int, cluster_port: int, data_dir: Path, audit_log: Path) -> str:
    """Integrated storage (Raft, one node): what a production OpenBao runs, on one machine."""
    return f'''
storage "raft" {{
  path    = "{data_dir}"
  node_id = "bridge-test"
}}
listener "tcp" {{
  address         = "127.0.0.1:{port}"
  cluster_address = "127.0.0.1:{cluster_port}"
  tls_disable     = true
}}
api_addr     = "http://127.0.0.1:{port}"
cluster_addr = "http://127.0.0.1:{cluster_port}"
audit "file" "bridge" {{
  options {{
    file_path = "{audit_log}"
  }}
}}
'''


def call(url: str, method: str, path: str, body: dict | None = None, token: str | None = None) -> dict:
    request = urllib.request.Request(f"{url}/v1/{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"X-Vault-Token": token} if token else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read()
    return json.loads(text) if text else {}


def initialize(url: str) -> tuple[str, str]:
    """One unseal key, threshold one: (unseal key, initial root token)."""
    answer = call(url, "PUT", "sys/init", {"secret_shares": 1, "secret_threshold": 1})
    return answer["keys_base64"][0], answer["root_token"]


def unseal(url: str, key: str) -> None:
    if call(url, "PUT", "sys/unseal", {"key": key})["sealed"]:
        raise RuntimeError("OpenBao is still sealed")


def seal(url: str, token: str) -> None:
    call(url, "PUT", "sys/seal", token=token)


def alias_root_token(url: str, root: str, token_id: str) -> None:
    """A root token with a chosen id (what the dev server's -dev-root-token-id gives)."""
    call(url, "POST", "auth/token/create-orphan", {"id": token_id, "policies": ["root"]}, token=root)

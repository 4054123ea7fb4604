"""Where things are, and the names the dev stack gives them: paths of the tree, dev
identities, the ports each service listens on, the dev agents, and the build."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
BACKEND_BIN = ROOT / "target" / "debug" / "vault-mcp-bridge"
#: What the dev stack runs by default: what production runs, and what a newcomer measures.
RELEASE_BACKEND_BIN = ROOT / "target" / "release" / "vault-mcp-bridge"
FILTER_WASM = ROOT / "target" / "wasm32-wasip1" / "wasm" / "vault_mcp_filter.wasm"
ENVOY_CONFIG = ROOT / "envoy" / "envoy.yaml"
AGENTS_FILE = ROOT / "local-vault" / "agents.json"
ROOT_TOKEN = "dev-root-token"
#: The backend's own Vault token: the policy `vault-mcp-bridge gen-policy --service` prints,
#: made by local-vault/provision.py. Operators (the CLI, the tests' checks) use ROOT_TOKEN.
SERVICE_TOKEN = "dev-bridge-service-token"
#: The backend settings the agents' Vault policy depends on: provisioning renders the policy
#: (`gen-policy --agents`) with the same values, or the backend refuses to start.
POLICY_SETTINGS = ("KV_MOUNT", "DEFAULT_PREFIX", "TRANSIT_MOUNT", "TRANSIT_NAMED_MOUNT", "DATABASE_MOUNT",
                   "SSH_MOUNT", "DATABASE_ROLES", "SSH_OTP_ROLES", "SSH_SIGN_ROLES", "PKI_MOUNT", "PKI_ROLES",
                   "MTLS_CN_PREFIX")
JWT_ISSUER = "vault-mcp-bridge-dev"
JWT_AUDIENCE = "vault-mcp-bridge"
HS256_KID = "dev-hs256"
RS256_KID = "dev-rs256-1"


@dataclass
class Ports:
    openbao: int
    backend: int
    envoy: int
    envoy_admin: int
    jwks: int
    envoy_tls: int
    envoy_mtls: int
    postgres: int
    #: The operator console (the first backend replica's CONSOLE_ADDR), loopback only.
    console: int
    #: The OAuth authorization server people sign in with (local-oauth/).
    oauth: int
    #: Redis holding the global rate-limit counts, and the rate-limit service Envoy asks (gRPC).
    redis: int
    ratelimit: int

    @classmethod
    def dev(cls) -> "Ports":
        return cls(openbao=8200, backend=8089, envoy=10000, envoy_admin=9901, jwks=8090,
                   envoy_tls=10443, envoy_mtls=10444, postgres=15432, console=8091, oauth=8092,
                   redis=16379, ratelimit=8093)

    @classmethod
    def free(cls) -> "Ports":
        from .processes import free_ports

        return cls(*free_ports(12))

    def oauth_issuer(self, tls: bool = False) -> str:
        """The authorization server's issuer, exactly as its metadata and the bridge's
        protected-resource metadata spell it (no trailing slash); https at the edge."""
        return f"{'https' if tls else 'http'}://127.0.0.1:{self.oauth}"


def build(release: bool = False, progress: bool = False) -> Path:
    """Builds the backend and the rate-limit service (debug, or release) and the filter (.wasm,
    wasm profile); returns the backend binary. Cargo skips what is fresh. `progress`: cargo's own progress on the terminal
    (the dev stack's first release build takes minutes); quiet otherwise."""
    quiet = [] if progress else ["--quiet"]
    profile = ["--release"] if release else []
    subprocess.run(["cargo", "build", *quiet, *profile, "-p", "vault-mcp-bridge", "-p", "vault-mcp-ratelimit"],
                   cwd=ROOT, check=True)
    subprocess.run(
        ["cargo", "build", *quiet, "-p", "vault-mcp-filter", "--target", "wasm32-wasip1", "--profile", "wasm"],
        cwd=ROOT, check=True,
    )
    return RELEASE_BACKEND_BIN if release else BACKEND_BIN


def load_agents() -> list[dict]:
    return json.loads(AGENTS_FILE.read_text())["agents"]


def load_users() -> list[dict]:
    """The dev people: `name` at the authorization server, `scopes` in the registry."""
    return json.loads(AGENTS_FILE.read_text())["users"]

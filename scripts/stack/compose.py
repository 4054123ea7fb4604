"""The compose stack's own setup (compose.yaml), run inside the `tools` image:

    python3 -m stack compose-setup       secrets and configurations, once per set of volumes
    python3 -m stack compose-provision   Vault as the dev stack provisions it

`compose-setup` makes what `scripts/dev-stack up` makes (stack.Stack): fresh secrets, the JWKS,
the authorization server's configuration, the filter's policy, Envoy's configuration for the
compose network, and `credentials.json` for the person at the keyboard, each into the volume of the service that
reads it. It writes them once: a second `up` keeps them (the running containers agree on them);
`down -v` removes the volumes.
Ports: the published ones (ENVOY_PORT, …) are what clients on the host see, so they go into the
URLs a token or a client names (issuer, resource); inside the network every service listens on
its fixed container port.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import asdict
from pathlib import Path

import yaml

from . import oauth
from .envoy import balance_backends, render_envoy_config
from .layout import ROOT, ROOT_TOKEN, Ports
from .services import Stack

#: Container ports inside the compose network (compose.yaml publishes them on 127.0.0.1).
CONTAINER = Ports(openbao=8200, backend=8089, envoy=10000, envoy_admin=9901, jwks=8090, envoy_tls=0,
                  envoy_mtls=0, postgres=5432, console=8091, oauth=8092, redis=6379, ratelimit=8093)
#: The service names of compose.yaml the configurations point at.
BACKENDS = ("backend-1", "backend-2")
#: The user every long-running service of compose.yaml runs as (nobody), and so owns the files.
RUNTIME_UID = 65534
#: One volume per consumer (compose.yaml mounts each only where it is needed), so a service
#: reads its own secrets and no other's: PostgreSQL its password, the authorization server its
#: signing key, and only the operator's volume holds everything (credentials.json).
VOLUMES = {name: Path(f"/run/{name}")
           for name in ("operator", "envoy", "backend", "oauth", "jwks", "postgres", "redis", "ratelimit")}
#: OpenBao's audit log (read by the console).
AUDIT = Path("/vault/audit")
SETUP = "setup.json"


def published() -> Ports:
    """The ports on the host, as compose.yaml passes them (defaults: the dev stack's)."""
    dev = Ports.dev()
    return Ports(openbao=int(os.environ.get("OPENBAO_PORT", dev.openbao)), backend=CONTAINER.backend,
                 envoy=int(os.environ.get("ENVOY_PORT", dev.envoy)),
                 envoy_admin=int(os.environ.get("ENVOY_ADMIN_PORT", dev.envoy_admin)), jwks=CONTAINER.jwks,
                 envoy_tls=0, envoy_mtls=0, postgres=int(os.environ.get("POSTGRES_PORT", dev.postgres)),
                 console=int(os.environ.get("CONSOLE_PORT", dev.console)),
                 oauth=int(os.environ.get("OAUTH_PORT", dev.oauth)), redis=CONTAINER.redis,
                 ratelimit=CONTAINER.ratelimit)


def render_compose_envoy(filter_json: dict) -> dict:
    """envoy/envoy.yaml for the compose network: listening on all the container's addresses,
    the two backend replicas (round robin, MCP sessions sticky), the JWKS and the authorization
    server by service name."""
    config = render_envoy_config(CONTAINER, filter_json, listen_host="0.0.0.0",
                                 cluster_hosts={"backend": BACKENDS[0], "jwks": "jwks", "oauth": "oauth",
                                                "ratelimit": "ratelimit"},
                                 wasm_path="/etc/envoy/vault_mcp_filter.wasm")
    balance_backends(config, [CONTAINER.backend] * len(BACKENDS))
    endpoints = next(c for c in config["static_resources"]["clusters"] if c["name"] == "backend")
    for host, endpoint in zip(BACKENDS, endpoints["load_assignment"]["endpoints"][0]["lb_endpoints"]):
        endpoint["endpoint"]["address"]["socket_address"]["address"] = host
    return config


def write(path: Path, text: str, mode: int = 0o600, owner: int | None = RUNTIME_UID) -> None:
    path.write_text(text)
    path.chmod(mode)
    if owner is not None:
        shutil.chown(path, owner, owner)


def env_file(values: dict) -> str:
    """`NAME='value'` lines for `sh`'s `.` (the values are hex or URL-safe: no quotes in them)."""
    assert all("'" not in value for value in values.values())
    return "".join(f"{name}='{value}'\n" for name, value in values.items())


def setup() -> None:
    """Secrets and configurations, once per set of volumes; a later `up` with other ports is
    refused (the URLs tokens name were made for the first ones)."""
    ports = published()
    for folder in [*VOLUMES.values(), AUDIT]:
        shutil.chown(folder, RUNTIME_UID, RUNTIME_UID)
    done = VOLUMES["operator"] / SETUP
    if done.exists():
        if json.loads(done.read_text())["ports"] != asdict(ports):
            raise SystemExit(f"compose-setup: the volumes were set up for other ports ({done.read_text().strip()}); "
                             "`down -v` first to change them")
        print("compose-setup: set up by an earlier `up`: kept (`down -v` starts afresh)")
        return
    stack = Stack(run_dir=VOLUMES["operator"], ports=ports)
    policy = stack.edge_policy()
    shared = {"AGENT_ASSERTION_KEY": stack.secrets.assertion_key, "JWT_HS256_SECRET": stack.secrets.hs256_secret}
    write(VOLUMES["envoy"] / "envoy.yaml", yaml.safe_dump(render_compose_envoy(policy)))
    write(VOLUMES["envoy"] / "envoy.env", env_file(shared))
    write(VOLUMES["backend"] / "edge-policy.json", json.dumps(policy))
    write(VOLUMES["backend"] / "backend.env", env_file(shared))
    write(VOLUMES["jwks"] / "jwks.json", json.dumps({"keys": [stack.secrets.jwk()]}), mode=0o644)
    # Read by the image's own `postgres` user, whose uid differs between images: readable by
    # all, in a volume only PostgreSQL mounts.
    write(VOLUMES["postgres"] / "password", stack.secrets.postgres_password, mode=0o644, owner=None)
    write(VOLUMES["operator"] / "postgres-password", stack.secrets.postgres_password)
    # Redis keeps the counts in memory only (they live for one window); the service reaches it
    # with the password, which only these two volumes hold.
    write(VOLUMES["redis"] / "redis.conf", f"port {CONTAINER.redis}\nrequirepass {stack.secrets.redis_password}\n"
          "save \"\"\nappendonly no\ndir /tmp\n")
    redis_url = f"redis://:{stack.secrets.redis_password}@redis:{CONTAINER.redis}"
    write(VOLUMES["ratelimit"] / "ratelimit.env", env_file({"RATELIMIT_REDIS_URL": redis_url}))
    config = oauth.config(stack.oauth_issuer, "0.0.0.0", CONTAINER.oauth, policy["resource_metadata"]["resource"],
                          ["read", "write", "list", "delete", "admin"], stack.oauth_passwords)
    oauth.write_config(VOLUMES["oauth"] / "oauth.json", config)
    shutil.chown(VOLUMES["oauth"] / "oauth.json", RUNTIME_UID, RUNTIME_UID)
    credentials = stack.credentials()
    # The backends are reached only through Envoy (the console through its own port).
    del credentials["endpoints"]["backend"]
    credentials["endpoints"]["postgres"] = f"postgresql://127.0.0.1:{ports.postgres}/postgres"
    credentials["jwt"]["jwks_url"] = "http://jwks:8090/jwks.json (inside the compose network)"
    write(VOLUMES["operator"] / "credentials.json", json.dumps(credentials, indent=2) + "\n")
    write(done, json.dumps({"ports": asdict(ports)}) + "\n")
    print("compose-setup: secrets and configurations written")


def provision() -> None:
    """local-vault/provision.py against the compose OpenBao and PostgreSQL, then the console's
    operator, whose sign-in link goes into credentials.json (never to the log): added, or its
    key rotated when it exists (an OpenBao that kept its data across `up`s)."""
    operator = VOLUMES["operator"]
    bridge = shutil.which("vault-mcp-bridge") or "/usr/local/bin/vault-mcp-bridge"
    env = {**os.environ, "VAULT_ADDR": f"http://openbao:{CONTAINER.openbao}", "VAULT_TOKEN": ROOT_TOKEN,
           "BRIDGE_BIN": bridge, "PG_HOST": "postgres", "PG_PORT": str(CONTAINER.postgres), "PG_USER": "vault",
           "PG_PASSWORD": (operator / "postgres-password").read_text()}
    subprocess.run([str(ROOT / "local-vault" / "provision.py")], check=True, env=env)
    added = subprocess.run([bridge, "agents", "add", "console_operator", "--scopes", "admin", "--json"],
                           env=env, capture_output=True, text=True)
    if added.returncode != 0 and "exists already" in added.stderr:
        added = subprocess.run([bridge, "agents", "rotate-key", "console_operator", "--json"],
                               env=env, capture_output=True, text=True)
    if added.returncode != 0:
        raise SystemExit(f"compose-provision: the console's operator: {added.stderr.strip()}")
    credentials = json.loads((operator / "credentials.json").read_text())
    credentials["console_url"] = f"{credentials['endpoints']['console']}/login#key={json.loads(added.stdout)['api_key']}"
    write(operator / "credentials.json", json.dumps(credentials, indent=2) + "\n", owner=None)
    print("compose-provision: OpenBao provisioned; the console's sign-in link is in credentials.json")

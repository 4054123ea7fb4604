"""The stack as processes: JWKS server, the OAuth authorization server, PostgreSQL, OpenBao
(provisioned), the backend, Redis with the rate-limit service, and Envoy with the filter,
started on given ports with logs and state under one folder."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import oauth, openbao
from .cluster import VaultCluster
from .credentials import Secrets
from .envoy import (balance_backends, delegate_to_envoy_jwt_authn, filter_config, merged,
                    render_edge_config, render_envoy_config, write_client_cas)
from .layout import (BACKEND_BIN, HS256_KID, JWT_AUDIENCE, JWT_ISSUER, POLICY_SETTINGS, RS256_KID, ROOT,
                     ROOT_TOKEN, SERVICE_TOKEN, VENV_BIN, Ports, load_agents, load_users)
from .processes import free_ports, http_status, stop_process, wait_until


@dataclass
class Stack:
    """OpenBao + backend + Envoy on `ports`, with logs and state under `run_dir`."""

    run_dir: Path
    ports: Ports
    #: Envoy's worker threads. One, as shipped: on a host where the backend and Vault share the
    #: cores, a second worker costs CPU per request (its own connections upstream, wakeups across
    #: threads: docs/PERFORMANCE.md) and buys nothing. The tests of what crosses workers ask for 2.
    envoy_concurrency: int = 1
    agents: list[dict] = field(default_factory=load_agents)
    #: People at the authorization server (`name`, `scopes`); `"registered": false` leaves one
    #: out of the registry (a stranger the bridge must refuse).
    users: list[dict] = field(default_factory=load_users)
    backend_env: dict = field(default_factory=dict)
    #: Merged into the filter configuration (e.g. tighter rate limits for a test).
    filter_overrides: dict = field(default_factory=dict)
    secrets: Secrets = field(default_factory=Secrets.generate)
    #: Run the edge configuration (TLS and mTLS listeners) instead of the plaintext one.
    edge: bool = False
    #: Start Envoy (False for the backend's standalone mode).
    with_envoy: bool = True
    #: Tests only: headers Envoy adds before the filter (see render_envoy_config).
    envoy_add_request_headers: dict = field(default_factory=dict)
    #: The backend binary (the benchmarks run a release build).
    backend_bin: Path = BACKEND_BIN
    #: Limits counted across Envoys by the rate-limit service on Redis, both started beside
    #: Envoy (False: each Envoy counts alone, with its local buckets).
    global_limits: bool = True
    #: By default the one built beside the backend binary (same profile).
    ratelimit_bin: Path | None = None
    #: Backend processes behind Envoy, round robin. Replica 1 listens on ports.backend.
    backend_replicas: int = 1
    #: With several replicas, keep each MCP session on its replica (stateful_session_filter).
    sticky_sessions: bool = True
    #: RS256 verified by Envoy's jwt_authn in front of the filter (delegate_to_envoy_jwt_authn).
    envoy_jwt_authn: bool = False
    #: OpenBao with Raft storage and a real seal (openbao.py) instead of the dev server.
    durable_vault: bool = False
    #: More than one: that many OpenBao nodes in a Raft cluster behind a health-checking Envoy
    #: on ports.openbao (cluster.py), the active node found by `/v1/sys/health`.
    vault_nodes: int = 1
    #: OpenBao's audit log: rotated past this size, this many old files kept (rotate.py).
    audit_max_mb: float = 100
    audit_keep: int = 3
    #: Wait until Envoy serves registry agents (False: a test starts it with the registry down).
    wait_for_registry: bool = True
    #: Process name -> CPU list for `taskset -c` (the benchmarks pin the servers to one core).
    cpus: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    #: Replica 1 on ports.backend, the others on ports free when the stack was made.
    backend_ports: list[int] = field(init=False)
    #: Each person's password at the authorization server, made with the stack.
    oauth_passwords: dict[str, str] = field(init=False)
    certs_made: bool = field(default=False, init=False)
    #: PostgreSQL's folder (outside run_dir, which the postgres user may not reach).
    pg_dir: Path | None = field(default=None, init=False)
    #: The durable OpenBao's cluster port and unseal key, kept across its restarts.
    openbao_cluster_port: int | None = field(default=None, init=False)
    unseal_key: str | None = field(default=None, init=False)
    vault_cluster: VaultCluster | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.backend_ports = [self.ports.backend, *free_ports(self.backend_replicas - 1)]
        self.ratelimit_bin = self.ratelimit_bin or self.backend_bin.parent / "vault-mcp-ratelimit"
        # One each: holding one person's password is not holding everyone's.
        self.oauth_passwords = {user["name"]: secrets.token_urlsafe(12) for user in self.users}

    @property
    def logs(self) -> Path:
        return self.run_dir / "logs"

    @property
    def envoy_url(self) -> str:
        if self.edge:
            return f"https://127.0.0.1:{self.ports.envoy_tls}"
        return f"http://127.0.0.1:{self.ports.envoy}"

    @property
    def mtls_url(self) -> str:
        return f"https://127.0.0.1:{self.ports.envoy_mtls}"

    @property
    def certs(self) -> Path:
        return self.run_dir / "certs"

    def tls_options(self) -> dict:
        return {"cafile": str(self.certs / "ca.crt")} if self.edge else {}

    @property
    def backend_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.backend}"

    @property
    def openbao_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.openbao}"

    def _spawn(self, name: str, argv: list[str], env: dict | None = None,
               remove: list[str] = ()) -> subprocess.Popen:
        self.logs.mkdir(parents=True, exist_ok=True)
        if name in self.cpus:
            argv = ["taskset", "-c", self.cpus[name], *argv]
        log = open(self.logs / f"{name}.log", "ab")
        # A session of its own: the process outlives `dev-stack up` and is stopped by pid.
        process = subprocess.Popen(
            argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env={k: v for k, v in {**os.environ, **(env or {})}.items() if k not in remove},
            start_new_session=True,
        )
        log.close()
        self.processes[name] = process
        return process

    @property
    def audit_log(self) -> Path:
        return self.logs / "openbao-audit.log"

    @property
    def jwks_dir(self) -> Path:
        return self.run_dir / "jwks"

    def publish_jwks(self, keys: list[dict]) -> None:
        """Replaces the document the JWKS server serves (atomically)."""
        self.jwks_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.jwks_dir / ".jwks.json.tmp"
        tmp.write_text(json.dumps({"keys": keys}))
        tmp.replace(self.jwks_dir / "jwks.json")

    def start_vault(self) -> None:
        """The JWKS server, PostgreSQL and a provisioned OpenBao: everything before the bridge.
        The JWKS published is this stack's key, whatever an earlier stack in the same folder
        left there (the dev stack reuses .dev/ across `up`s, with new keys each time)."""
        self.publish_jwks([self.secrets.jwk()])
        self.start_jwks()
        self.start_oauth()
        self.start_postgres()
        self.start_openbao()

    def start(self) -> None:
        try:
            self.start_vault()
            self.start_backend()
            if self.with_envoy:
                if self.global_limits:
                    self.start_redis()
                    self.start_ratelimit()
                self.start_envoy()
        except BaseException:
            self.stop()
            raise

    def start_jwks(self) -> None:
        """A plain static file server for the JWKS, as an identity provider would publish it.
        A restart serves what was last published (a rotation survives it)."""
        process = self._spawn("jwks", [
            sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
            "--directory", str(self.jwks_dir), str(self.ports.jwks),
        ])
        wait_until("JWKS server", lambda: http_status(f"http://127.0.0.1:{self.ports.jwks}/jwks.json") == 200,
                   process, self.logs / "jwks.log")

    @property
    def oauth_issuer(self) -> str:
        return self.ports.oauth_issuer(tls=self.edge)

    def ensure_certs(self) -> None:
        """The edge's dev certificates (envoy/gen-dev-certs), made once per stack (a new `up`
        makes new ones): the authorization server and Envoy serve them, restarts included."""
        if not self.certs_made:
            subprocess.run([str(ROOT / "envoy" / "gen-dev-certs"), str(self.certs)], check=True)
            self.certs_made = True

    def start_oauth(self) -> None:
        """The OAuth authorization server people sign in with (local-oauth/server.mjs, npm
        `oidc-provider`): tokens for this stack's MCP resource, a signing key made now, the dev
        people with this stack's password."""
        resource = self.edge_policy()["resource_metadata"]["resource"]
        tls = None
        if self.edge:
            self.ensure_certs()
            tls = {"cert": self.certs / "server.crt", "key": self.certs / "server.key"}
        # `admin` too: operators sign in to the console through it (MCP clients ask for the
        # four scopes the bridge's metadata lists).
        config = oauth.config(self.oauth_issuer, "127.0.0.1", self.ports.oauth, resource,
                              ["read", "write", "list", "delete", "admin"],
                              self.oauth_passwords, tls=tls)
        path = oauth.write_config(self.run_dir / "oauth.json", config)
        process = self._spawn("oauth", oauth.argv(path))
        wait_until("OAuth authorization server",
                   lambda: http_status(f"{self.oauth_issuer}/.well-known/openid-configuration",
                                       **self.tls_options()) == 200,
                   process, self.logs / "oauth.log")

    def start_postgres(self) -> None:
        """A private PostgreSQL cluster for the database engine, as the `postgres` user when run
        as root (PostgreSQL refuses root). Its folder lives outside `run_dir`, which may not be
        reachable for that user."""
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
        if not bins:
            raise RuntimeError("PostgreSQL server binaries not found: run scripts/bootstrap")
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.pg_dir:
            shutil.rmtree(self.pg_dir, ignore_errors=True)  # a restart starts a fresh cluster
        self.pg_dir = Path(tempfile.mkdtemp(prefix="vault-mcp-bridge-pg-"))
        os.chmod(self.pg_dir, 0o755)
        data, password_file = self.pg_dir / "data", self.pg_dir / "password"
        password_file.write_text(self.secrets.postgres_password)
        if as_postgres:
            shutil.chown(self.pg_dir, "postgres")
            shutil.chown(password_file, "postgres")
        subprocess.run([*as_postgres, str(bins[-1] / "initdb"), "-D", str(data), "-U", "vault",
                        f"--pwfile={password_file}", "--auth-local=trust", "--auth-host=scram-sha-256",
                        "-E", "UTF8"], check=True, capture_output=True)
        process = self._spawn("postgres", [
            *as_postgres, str(bins[-1] / "postgres"), "-D", str(data), "-p", str(self.ports.postgres),
            "-k", str(self.pg_dir), "-c", "listen_addresses=127.0.0.1",
        ])
        self._wait_for_port("postgres", self.ports.postgres, process)

    def _wait_for_port(self, name: str, port: int, process: subprocess.Popen) -> None:
        def accepting() -> bool:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0

        wait_until(name, accepting, process, self.logs / f"{name}.log")

    def start_redis(self) -> None:
        """Debian's redis-server for the global rate-limit counts: loopback, a password (from a
        file only it reads, never argv), nothing written to disk (counts live for a window)."""
        folder = self.run_dir / "redis"
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "redis.conf"
        # Created readable by its owner only, before the password is in it.
        config.unlink(missing_ok=True)
        with open(os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            out.write(f"port {self.ports.redis}\nbind 127.0.0.1\nrequirepass {self.secrets.redis_password}\n"
                      f"save \"\"\nappendonly no\ndir {folder}\n")
        process = self._spawn("redis", ["redis-server", str(config)])
        self._wait_for_port("redis", self.ports.redis, process)

    @property
    def redis_url(self) -> str:
        return f"redis://:{self.secrets.redis_password}@127.0.0.1:{self.ports.redis}"

    def start_ratelimit(self) -> None:
        """vault-mcp-ratelimit: Envoy's RateLimitService on this stack's Redis."""
        process = self._spawn("ratelimit", [str(self.ratelimit_bin)], {
            "RATELIMIT_LISTEN": f"127.0.0.1:{self.ports.ratelimit}", "RATELIMIT_REDIS_URL": self.redis_url,
        })
        self._wait_for_port("ratelimit", self.ports.ratelimit, process)

    def start_openbao(self) -> None:
        if self.vault_nodes > 1:
            self.vault_cluster = VaultCluster(self.run_dir, self.logs, self.audit_log, self.ports.openbao,
                                              self._spawn, self.processes, self.vault_nodes)
            self.vault_cluster.start(ROOT_TOKEN)
        elif self.durable_vault:
            self.start_durable_openbao()
        else:
            process = self._spawn(
                "openbao", [str(ROOT / "local-vault" / "start-openbao"), str(self.ports.openbao)],
                # Vault's audit log, which records the bridge's X-Request-Id beside its own.
                {"BAO_DEV_ROOT_TOKEN": ROOT_TOKEN, "BAO_AUDIT_LOG": str(self.audit_log)},
            )
            wait_until("OpenBao", lambda: http_status(f"{self.openbao_url}/v1/sys/health") == 200,
                       process, self.logs / "openbao.log")
            self.bound_audit_log(process)
        self.provision()

    def bound_audit_log(self, openbao_process: subprocess.Popen) -> None:
        """OpenBao's audit log grows with every request: a watcher rotates it by size (it ends
        with the OpenBao process it watches)."""
        self._spawn("audit-rotate", [sys.executable, "-m", "stack", "rotate", str(self.audit_log),
                                     str(openbao_process.pid), str(self.audit_max_mb), str(self.audit_keep)],
                    {"PYTHONPATH": str(ROOT / "scripts")})

    def start_durable_openbao(self) -> None:
        """Starts (or restarts) the file-backed OpenBao and unseals it; initializes it the
        first time, aliasing its root token to ROOT_TOKEN."""
        data = self.run_dir / "openbao-data"
        first = not data.exists()
        data.mkdir(parents=True, exist_ok=True)
        config = self.run_dir / "openbao.hcl"
        if self.openbao_cluster_port is None:
            self.openbao_cluster_port = free_ports(1)[0]
        config.write_text(openbao.config(self.ports.openbao, self.openbao_cluster_port, data, self.audit_log))
        process = self._spawn("openbao", [str(VENV_BIN / "bao"), "server", f"-config={config}"])
        # 501: not initialized, 503: sealed; both mean it answers.
        wait_until("OpenBao", lambda: http_status(f"{self.openbao_url}/v1/sys/health") in (200, 501, 503),
                   process, self.logs / "openbao.log")
        if first:
            self.unseal_key, root = openbao.initialize(self.openbao_url)
            openbao.unseal(self.openbao_url, self.unseal_key)
            wait_until("OpenBao active", lambda: http_status(f"{self.openbao_url}/v1/sys/health") == 200,
                       process, self.logs / "openbao.log")
            openbao.alias_root_token(self.openbao_url, root, ROOT_TOKEN)
        else:
            openbao.unseal(self.openbao_url, self.unseal_key)
            wait_until("OpenBao active", lambda: http_status(f"{self.openbao_url}/v1/sys/health") == 200,
                       process, self.logs / "openbao.log")
        self.bound_audit_log(process)

    def provision(self) -> None:
        """Vault as local-vault/provision.py sets it up, for this stack's backend settings."""
        agents_file = self.run_dir / "agents.json"
        agents_file.write_text(json.dumps({"agents": self.agents, "users": self.users}))
        subprocess.run(
            [str(ROOT / "local-vault" / "provision.py")], check=True, cwd=ROOT,
            env={**os.environ, "VAULT_ADDR": self.openbao_url, "VAULT_TOKEN": ROOT_TOKEN,
                 "AGENTS_FILE": str(agents_file), "BRIDGE_BIN": str(self.backend_bin),
                 "PG_PORT": str(self.ports.postgres), "PG_USER": "vault",
                 "PG_PASSWORD": self.secrets.postgres_password,
                 # The agents' policy names the roles this backend is configured with.
                 **{name: value for name, value in self.backend_env.items() if name in POLICY_SETTINGS}},
        )

    def start_backend(self) -> None:
        # The console signs operators in with the edge's own policy: the filter's JSON, whose
        # secrets are named by environment variable, as Envoy's VM reads them.
        self.edge_policy_file.write_text(json.dumps(self.edge_policy()))
        for replica, port in enumerate(self.backend_ports, start=1):
            name = "backend" if replica == 1 else f"backend-{replica}"
            env = {
                "VAULT_ADDR": self.openbao_url,
                "VAULT_TOKEN": SERVICE_TOKEN,
                "HOST": "127.0.0.1",
                "PORT": str(port),
                "AGENT_ASSERTION_KEY": self.secrets.assertion_key,
                # requests.log, responses.log and server.log (JSON, metadata only).
                "LOG_DIR": str(self.logs / name),
                # The console on the first replica (a standalone backend has a policy of its own).
                **({"CONSOLE_ADDR": f"127.0.0.1:{self.ports.console}", "EDGE_POLICY_FILE": str(self.edge_policy_file),
                    "JWT_HS256_SECRET": self.secrets.hs256_secret,
                    "CONSOLE_ENVOY_ADMIN_URL": f"http://127.0.0.1:{self.ports.envoy_admin}",
                    **({"CONSOLE_RATELIMIT_URL": f"http://127.0.0.1:{self.ports.ratelimit}"}
                       if self.global_limits else {}),
                    "CONSOLE_VAULT_AUDIT_LOG": str(self.audit_log),
                    **({"CONSOLE_OAUTH_CA_FILE": str(self.certs / "ca.crt")} if self.edge else {})}
                   if replica == 1 and not self.backend_env.get("STANDALONE") else {}),
                # The registry as often as the dev Envoy reads it (filter_config: 2 s).
                "REGISTRY_REFRESH_SECONDS": "2",
                **self.backend_env,
            }
            # A value of None removes the variable (e.g. VAULT_TOKEN when logging in with AppRole).
            process = self._spawn(name, [str(self.backend_bin), "serve"],
                                  {k: v for k, v in env.items() if v is not None},
                                  remove=[k for k, v in env.items() if v is None])
            wait_until(name, lambda p=port: http_status(f"http://127.0.0.1:{p}/healthz") == 200,
                       process, self.logs / f"{name}.log")

    @property
    def edge_policy_file(self) -> Path:
        return self.run_dir / "edge-policy.json"

    def edge_policy(self) -> dict:
        """The filter's configuration, as Envoy runs it and the console checks sign-ins with."""
        policy = merged(filter_config(self.ports, edge=self.edge), self.filter_overrides)
        if not self.global_limits:
            policy.get("rate_limit", {}).pop("global", None)
        return policy

    @property
    def console_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.console}"

    def pki_chain(self) -> list[str]:
        """The CA chain of the certificates `pki.issue` makes (PKI_MOUNT), as OpenBao serves it
        to anyone; what the edge's mTLS listener trusts beside the dev CA."""
        mount = self.backend_env.get("PKI_MOUNT", "pki_int")
        with urllib.request.urlopen(f"{self.openbao_url}/v1/{mount}/cert/ca_chain", timeout=10) as answer:
            text = json.load(answer)["data"]["ca_chain"]
        return re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", text, re.S)

    def start_envoy(self, name: str = "envoy", ports: Ports | None = None) -> None:
        """Envoy with the filter; `name` and `ports` (its listener and admin port) for another
        Envoy beside the first, on the same backends and rate-limit service (plaintext only)."""
        assert ports is None or not self.edge, "a second Envoy is plaintext only"
        ports = ports or self.ports
        config_path = self.run_dir / f"{name}.yaml"
        config = self.edge_policy()
        if self.edge:
            self.ensure_certs()
            write_client_cas(self.certs, self.pki_chain())
            rendered = render_edge_config(self.ports, config, certs=self.certs)
        else:
            rendered = render_envoy_config(ports, config,
                                           add_request_headers=self.envoy_add_request_headers)
            if self.envoy_jwt_authn:
                delegate_to_envoy_jwt_authn(rendered, config, self.ports)
            if self.backend_replicas > 1:
                balance_backends(rendered, self.backend_ports, sticky=self.sticky_sessions)
        config_path.write_text(yaml.safe_dump(rendered))
        # Envoy stops itself (SIGTERM) when its parent process exits, which would end it as soon
        # as `dev-stack up` returns: a shell stays behind as its parent. Both share a process
        # group, which is what `stop_process` signals.
        process = self._spawn(name, [
            "bash", "-c", '"$@" & wait $!', "envoy",
            str(VENV_BIN / "envoy"), "-c", str(config_path),
            "--concurrency", str(self.envoy_concurrency),
            # Several Envoys (dev stack, tests) may run on one machine.
            "--use-dynamic-base-id",
            "--log-level", "warn", "--component-log-level", "wasm:info",
        ], {
            # Read by the filter through vm_config.environment_variables.host_env_keys.
            "JWT_HS256_SECRET": self.secrets.hs256_secret,
            "AGENT_ASSERTION_KEY": self.secrets.assertion_key,
        })
        # Ready when the filter answers: 401 without credentials (200 when headers are added).
        expected = 200 if self.envoy_add_request_headers else 401
        url = self.envoy_url if ports is self.ports else f"http://127.0.0.1:{ports.envoy}"
        log = self.logs / f"{name}.log"
        wait_until(name, lambda: http_status(f"{url}/healthz", **self.tls_options()) == expected, process, log)
        if "registry" in config and self.agents and self.wait_for_registry and not self.envoy_add_request_headers:
            # ... and serves registry agents once its first snapshot arrived (503 until then).
            key = {"x-api-key": self.agents[0]["api_key"]}
            wait_until(f"{name}'s registry snapshot",
                       lambda: http_status(f"{url}/healthz", headers=key, **self.tls_options()) == 200,
                       process, log)

    def stop_process(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is not None:
            # PostgreSQL's SIGTERM waits for clients to leave; SIGINT is its fast shutdown.
            stop_process(process.pid, process, signal.SIGINT if name == "postgres" else signal.SIGTERM)

    def stop(self) -> None:
        backends = sorted(name for name in self.processes if name.startswith("backend"))
        envoys = sorted(name for name in self.processes if name.startswith("envoy"))
        for name in (*envoys, *backends, "ratelimit", "redis", "vault-balancer", "openbao", "audit-rotate", "postgres",
                     "oauth", "jwks"):
            self.stop_process(name)
        for name in reversed(list(self.processes)):  # the rest (a cluster's nodes), newest first
            self.stop_process(name)
        if self.pg_dir:
            shutil.rmtree(self.pg_dir, ignore_errors=True)

    def credentials(self) -> dict:
        return {
            "endpoints": {
                "envoy": self.envoy_url,
                "mcp": f"{self.envoy_url}/mcp",
                **({"envoy_mtls": self.mtls_url, "ca_certificate": str(self.certs / "ca.crt"),
                    "client_certificates": str(self.certs)} if self.edge else {}),
                "backend": self.backend_url,
                "openbao": self.openbao_url,
                "envoy_admin": f"http://127.0.0.1:{self.ports.envoy_admin}",
                "console": self.console_url,
                "oauth_issuer": self.oauth_issuer,
            },
            "openbao_root_token": ROOT_TOKEN,
            "api_keys": {a["api_key"]: {"subject": a["subject"], "scopes": a["scopes"]} for a in self.agents},
            # People sign in at the issuer's own pages (MCP clients with OAuth find it from the
            # bridge's /.well-known/oauth-protected-resource).
            "oauth": {"issuer": self.oauth_issuer,
                      # The first person (the dev stack's `dev`) as a client's sign-in asks.
                      **({"username": self.users[0]["name"],
                          "password": self.oauth_passwords[self.users[0]["name"]]} if self.users else {}),
                      "users": self.oauth_passwords},
            "jwt": {
                "issuer": JWT_ISSUER,
                "audience": JWT_AUDIENCE,
                "hs256_secret": self.secrets.hs256_secret,
                "hs256_kid": HS256_KID,
                "rs256_kid": RS256_KID,
                "rs256_private_key_pem": self.secrets.rsa_private_pem.decode(),
                "jwks_url": f"http://127.0.0.1:{self.ports.jwks}/jwks.json",
                "example_token_agent_api_hs256": self.secrets.token("agent_api", "read write list delete"),
            },
        }

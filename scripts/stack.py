"""The bridge's stack as processes: OpenBao (provisioned), the backend and Envoy with the filter.

One implementation for `scripts/dev-stack` (fixed dev ports, detached, state under `.dev/`)
and for the end-to-end tests (free ports, a temporary folder, stopped when the tests end).
Uses only the standard library and PyYAML.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import jwt as pyjwt
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
BACKEND_BIN = ROOT / "target" / "debug" / "vault-mcp-bridge"
FILTER_WASM = ROOT / "target" / "wasm32-wasip1" / "wasm" / "vault_mcp_filter.wasm"
ENVOY_CONFIG = ROOT / "envoy" / "envoy.yaml"
AGENTS_FILE = ROOT / "local-vault" / "agents.json"
ROOT_TOKEN = "dev-root-token"
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

    @classmethod
    def dev(cls) -> "Ports":
        return cls(openbao=8200, backend=8089, envoy=10000, envoy_admin=9901, jwks=8090,
                   envoy_tls=10443, envoy_mtls=10444, postgres=15432)

    @classmethod
    def free(cls) -> "Ports":
        return cls(*free_ports(8))


@dataclass
class Secrets:
    """Dev secrets, fresh for every stack: the edge/backend assertion key, the HS256 secret and
    an RS256 key pair whose public half the JWKS server publishes."""

    assertion_key: str
    hs256_secret: str
    rsa_private_pem: bytes
    postgres_password: str

    @classmethod
    def generate(cls) -> "Secrets":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        return cls(secrets.token_hex(32), secrets.token_hex(32), pem, secrets.token_hex(16))

    def jwk(self, kid: str = RS256_KID, pem: bytes | None = None) -> dict:
        private = serialization.load_pem_private_key(pem or self.rsa_private_pem, None)
        jwk = json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
        return {**jwk, "kid": kid, "alg": "RS256", "use": "sig"}

    def token(self, subject: str, scopes: str, *, alg: str = "HS256", ttl: int = 3600, **claims) -> str:
        now = int(time.time())
        payload = {"sub": subject, "scope": scopes, "iss": JWT_ISSUER, "aud": JWT_AUDIENCE,
                   "iat": now, "exp": now + ttl, **claims}
        if alg == "HS256":
            return pyjwt.encode(payload, self.hs256_secret, algorithm="HS256", headers={"kid": HS256_KID})
        return pyjwt.encode(payload, self.rsa_private_pem, algorithm="RS256", headers={"kid": RS256_KID})


def free_ports(count: int) -> list[int]:
    """Ports the kernel hands out as free right now (all held open together, so distinct)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def build() -> None:
    """Builds the backend (debug) and the filter (.wasm, wasm profile). Cargo skips what is fresh."""
    subprocess.run(["cargo", "build", "--quiet", "-p", "vault-mcp-bridge"], cwd=ROOT, check=True)
    subprocess.run(
        ["cargo", "build", "--quiet", "-p", "vault-mcp-filter", "--target", "wasm32-wasip1", "--profile", "wasm"],
        cwd=ROOT, check=True,
    )


def load_agents() -> list[dict]:
    return json.loads(AGENTS_FILE.read_text())["agents"]


def filter_config(agents: list[dict], ports: Ports, *, edge: bool = False) -> dict:
    """The wasm filter's configuration for these agents and ports: API keys by SHA-256 only,
    secrets by the name of the environment variable Envoy passes to the VM."""
    return {
        "api_key_header": "x-api-key",
        "api_keys": [
            {
                "sha256": hashlib.sha256(a["api_key"].encode()).hexdigest(),
                "subject": a["subject"],
                "scopes": a["scopes"],
            }
            for a in agents
        ],
        "jwt": {
            "issuer": JWT_ISSUER,
            "audience": JWT_AUDIENCE,
            "hs256_secret": {"env": "JWT_HS256_SECRET"},
            "hs256_kid": HS256_KID,
            "jwks_remote": {
                "cluster": "jwks",
                "authority": f"127.0.0.1:{ports.jwks}",
                "path": "/jwks.json",
                "cache_seconds": 300,
                "cooldown_seconds": 30,
            },
        },
        "assertion_key": {"env": "AGENT_ASSERTION_KEY"},
        "rate_limit": {"requests": 60, "per_seconds": 60, "subjects": {
            a["subject"]: a["rate_limit"] for a in agents if "rate_limit" in a
        }},
        "resource_metadata": {"resource": f"https://127.0.0.1:{ports.envoy_tls}/mcp" if edge
                              else f"http://127.0.0.1:{ports.envoy}/mcp"},
    }


def merged(base: dict, overrides: dict) -> dict:
    """`base` with `overrides` applied recursively (dicts merge, anything else replaces)."""
    out = dict(base)
    for key, value in overrides.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def http_filters(config: dict) -> list[dict]:
    """The HTTP filter chain of the `agents` listener of an Envoy configuration (modifiable)."""
    listener = next(l for l in config["static_resources"]["listeners"] if l["name"] == "agents")
    return listener["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"]


def _wasm_filter(config: dict) -> dict:
    return next(f for f in http_filters(config) if f["name"] == "vault_mcp_filter")["typed_config"]["config"]


def committed_filter_config() -> dict:
    """The filter configuration written in envoy/envoy.yaml."""
    config = yaml.safe_load(ENVOY_CONFIG.read_text())
    return json.loads(_wasm_filter(config)["configuration"]["value"])


def render_envoy_config(ports: Ports, filter_json: dict, *, listen_host: str = "127.0.0.1",
                        backend_host: str = "127.0.0.1", wasm_path: Path | str = FILTER_WASM,
                        add_request_headers: dict | None = None) -> dict:
    """envoy/envoy.yaml with other ports, addresses, .wasm path and filter configuration.
    `add_request_headers` (tests only) puts a header mutation in front of the filter, for
    clients that cannot send credentials themselves."""
    config = yaml.safe_load(ENVOY_CONFIG.read_text())
    if add_request_headers:
        http_filters(config).insert(0, {
            "name": "envoy.filters.http.header_mutation",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
                "mutations": {"request_mutations": [
                    {"append": {"header": {"key": k, "value": v}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}}
                    for k, v in add_request_headers.items()
                ]},
            },
        })
    config["admin"]["address"]["socket_address"].update(address=listen_host, port_value=ports.envoy_admin)
    for listener in config["static_resources"]["listeners"]:
        if listener["name"] == "agents":
            listener["address"]["socket_address"].update(address=listen_host, port_value=ports.envoy)
    for cluster in config["static_resources"]["clusters"]:
        endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
        if cluster["name"] == "backend":
            if backend_host != "127.0.0.1":
                cluster["type"] = "STRICT_DNS"
            endpoint["address"]["socket_address"].update(address=backend_host, port_value=ports.backend)
        if cluster["name"] == "jwks":
            endpoint["address"]["socket_address"]["port_value"] = ports.jwks
    wasm = _wasm_filter(config)
    wasm["vm_config"]["code"]["local"]["filename"] = str(wasm_path)
    wasm["configuration"]["value"] = json.dumps(filter_json)
    return config


#: Where Envoy's jwt_authn leaves verified payloads for the filter (see filter/src/jwt/envoy.rs).
ENVOY_JWT_PAYLOAD_KEY = "verified_jwt"


def envoy_jwt_authn_filter(jwks_source: dict, *, cache_size: int | None = 1024) -> dict:
    """Envoy's jwt_authn, verifying RS256/ES256 tokens from the JWKS for the wasm filter behind
    it: the token only from the Authorization header (never the query string), consumed on
    success (forward: false), its payload left in the dynamic metadata. Tokens it cannot verify
    pass on untouched (requires_any: the provider, or allow_missing_or_failed), so the filter
    refuses them with its own answer (or verifies HS256). `jwks_source` is the provider's
    `remote_jwks` or `local_jwks` entry."""
    provider = {
        "issuer": JWT_ISSUER,
        "audiences": [JWT_AUDIENCE],
        **jwks_source,
        "from_headers": [{"name": "authorization", "value_prefix": "Bearer "}],
        "forward": False,
        "payload_in_metadata": ENVOY_JWT_PAYLOAD_KEY,
    }
    if cache_size:
        provider["jwt_cache_config"] = {"jwt_cache_size": cache_size}
    return {
        "name": "envoy.filters.http.jwt_authn",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": {"agents": provider},
            # Naming the provider first matters: a bare allow_missing_or_failed rule verifies
            # without the provider's jwt_cache (measured: 37 µs instead of 17 µs per request).
            "rules": [{"match": {"prefix": "/"}, "requires": {"requires_any": {"requirements": [
                {"provider_name": "agents"}, {"allow_missing_or_failed": {}}]}}}],
        },
    }


def delegate_to_envoy_jwt_authn(envoy: dict, filter_json: dict, ports: Ports) -> None:
    """Puts jwt_authn in front of the wasm filter (in place) and tells the filter to read its
    payloads; the filter keeps only the HS256 secret."""
    chain = http_filters(envoy)
    position = next(i for i, f in enumerate(chain) if f["name"] == "vault_mcp_filter")
    jwks = {"http_uri": {"uri": f"http://127.0.0.1:{ports.jwks}/jwks.json", "cluster": "jwks", "timeout": "2s"},
            "cache_duration": "300s"}
    chain.insert(position, envoy_jwt_authn_filter({"remote_jwks": jwks}))
    jwt = {k: v for k, v in filter_json["jwt"].items() if k not in ("jwks", "jwks_remote")}
    jwt["envoy_jwt_authn"] = {"payload_in_metadata": ENVOY_JWT_PAYLOAD_KEY}
    _wasm_filter(envoy)["configuration"]["value"] = json.dumps({**filter_json, "jwt": jwt})


def stateful_session_filter() -> dict:
    """Keeps an MCP session on the replica that created it. The envelope session state appends
    the chosen upstream to the `Mcp-Session-Id` the backend sets (the client keeps it as an
    opaque id) and strips it again before forwarding, so the backend sees its own id."""
    return {
        "name": "envoy.filters.http.stateful_session",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.stateful_session.v3.StatefulSession",
            "session_state": {
                "name": "envoy.http.stateful_session.envelope",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.http.stateful_session.envelope.v3.EnvelopeSessionState",
                    "header": {"name": "mcp-session-id"},
                },
            },
        },
    }


def balance_backends(envoy: dict, ports: list[int], *, sticky: bool = True) -> None:
    """Several backend replicas behind the `backend` cluster, round robin, sessions sticky."""
    cluster = next(c for c in envoy["static_resources"]["clusters"] if c["name"] == "backend")
    endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]
    address = endpoint["endpoint"]["address"]["socket_address"]["address"]
    cluster["lb_policy"] = "ROUND_ROBIN"
    cluster["load_assignment"]["endpoints"][0]["lb_endpoints"] = [
        {"endpoint": {"address": {"socket_address": {"address": address, "port_value": port}}}} for port in ports
    ]
    if sticky:
        http_filters(envoy).insert(0, stateful_session_filter())


COMPOSE_ENVOY_CONFIG = ROOT / "local-vault" / "envoy.compose.yaml"
EDGE_ENVOY_CONFIG = ROOT / "envoy" / "envoy.edge.yaml"
DEV_CERTS = ".dev/certs"


def mtls_filter_config(filter_json: dict, agents: list[dict]) -> dict:
    """The filter configuration of the mTLS listener: the same, plus certificate identities."""
    return {**filter_json, "mtls": {
        "source": "connection",
        "identities": {a["subject"]: a["scopes"] for a in agents},
    }}


def render_edge_config(ports: Ports, filter_json: dict, agents: list[dict], *,
                       certs: Path | str = DEV_CERTS, wasm_path: Path | str = FILTER_WASM) -> dict:
    """envoy/envoy.yaml turned into the edge: a TLS listener (API keys, JWTs) and an mTLS
    listener that requires a client certificate from the dev CA, both with the filter."""
    config = render_envoy_config(ports, filter_json, wasm_path=wasm_path)
    plain = config["static_resources"]["listeners"][0]

    def tls_listener(name: str, port: int, mutual: bool) -> dict:
        listener = json.loads(json.dumps(plain))
        listener["name"] = name
        listener["address"]["socket_address"]["port_value"] = port
        chain = listener["filter_chains"][0]
        hcm = chain["filters"][0]["typed_config"]
        hcm["stat_prefix"] = name
        context = {
            "common_tls_context": {
                "tls_certificates": [{
                    "certificate_chain": {"filename": f"{certs}/server.crt"},
                    "private_key": {"filename": f"{certs}/server.key"},
                }],
            },
        }
        if mutual:
            context["require_client_certificate"] = True
            context["common_tls_context"]["validation_context"] = {
                "trusted_ca": {"filename": f"{certs}/ca.crt"}}
            # Client-sent XFCC is replaced by what this connection's certificate says.
            hcm["forward_client_cert_details"] = "SANITIZE_SET"
            hcm["set_current_client_cert_details"] = {"subject": True, "uri": True}
            wasm = next(f for f in hcm["http_filters"] if f["name"] == "vault_mcp_filter")
            wasm["typed_config"]["config"]["configuration"]["value"] = json.dumps(
                mtls_filter_config(filter_json, agents))
        chain["transport_socket"] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                **context,
            },
        }
        return listener

    config["static_resources"]["listeners"] = [
        tls_listener("agents_tls", ports.envoy_tls, mutual=False),
        tls_listener("agents_mtls", ports.envoy_mtls, mutual=True),
    ]
    return config


def render_committed_edge_config() -> str:
    config = render_edge_config(Ports.dev(), filter_config(load_agents(), Ports.dev(), edge=True), load_agents(),
                                wasm_path="target/wasm32-wasip1/wasm/vault_mcp_filter.wasm")
    header = ("# The edge: TLS on 127.0.0.1:10443 and mTLS (client certificate from the dev CA required)\n"
              "# on 127.0.0.1:10444, both with the filter; `scripts/dev-stack up --edge` runs it, with\n"
              "# certificates from envoy/gen-dev-certs in .dev/certs. The wasm filter fails closed.\n"
              "# Generated from envoy/envoy.yaml by `.venv/bin/python scripts/stack.py edge-envoy`.\n")
    return header + yaml.safe_dump(config, sort_keys=False)


def render_compose_envoy_config() -> str:
    """The Envoy config of local-vault/docker-compose.yml: envoy/envoy.yaml with container
    addresses. Committed as generated; a test checks it is current."""
    config = render_envoy_config(
        Ports.dev(), filter_config(load_agents(), Ports.dev()), listen_host="0.0.0.0",
        backend_host="backend", wasm_path="/etc/envoy/vault_mcp_filter.wasm",
    )
    header = ("# Generated from envoy/envoy.yaml by `.venv/bin/python scripts/stack.py compose-envoy`;\n"
              "# edit that file instead. Used by local-vault/docker-compose.yml.\n")
    return header + yaml.safe_dump(config, sort_keys=False)


def http_status(url: str, headers: dict | None = None, timeout: float = 2,
                cafile: str | None = None) -> int | None:
    request = urllib.request.Request(url, headers=headers or {})
    context = ssl.create_default_context(cafile=cafile) if cafile else None
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def wait_until(what: str, check, process: subprocess.Popen | None, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}; log:\n{tail(log)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready after {seconds}s; log:\n{tail(log)}")
        time.sleep(0.1)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Stack:
    """OpenBao + backend + Envoy on `ports`, with logs and state under `run_dir`."""

    run_dir: Path
    ports: Ports
    envoy_concurrency: int = 2
    agents: list[dict] = field(default_factory=load_agents)
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
    #: Backend processes behind Envoy, round robin. Replica 1 listens on ports.backend.
    backend_replicas: int = 1
    #: With several replicas, keep each MCP session on its replica (stateful_session_filter).
    sticky_sessions: bool = True
    #: RS256 verified by Envoy's jwt_authn in front of the filter (delegate_to_envoy_jwt_authn).
    envoy_jwt_authn: bool = False
    #: OpenBao with Raft storage and a real seal (openbao_server.py) instead of the dev server.
    durable_vault: bool = False
    #: Process name -> CPU list for `taskset -c` (the benchmarks pin the servers to one core).
    cpus: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

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
        """The JWKS server, PostgreSQL and a provisioned OpenBao: everything before the bridge."""
        self.start_jwks()
        self.start_postgres()
        self.start_openbao()

    def start(self) -> None:
        try:
            self.start_vault()
            self.start_backend()
            if self.with_envoy:
                self.start_envoy()
        except BaseException:
            self.stop()
            raise

    def start_jwks(self) -> None:
        """A plain static file server for the JWKS, as an identity provider would publish it."""
        if not (self.jwks_dir / "jwks.json").exists():
            self.publish_jwks([self.secrets.jwk()])
        process = self._spawn("jwks", [
            sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
            "--directory", str(self.jwks_dir), str(self.ports.jwks),
        ])
        wait_until("JWKS server", lambda: http_status(f"http://127.0.0.1:{self.ports.jwks}/jwks.json") == 200,
                   process, self.logs / "jwks.log")

    def start_postgres(self) -> None:
        """A private PostgreSQL cluster for the database engine, as the `postgres` user when run
        as root (PostgreSQL refuses root). Its folder lives outside `run_dir`, which may not be
        reachable for that user."""
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
        if not bins:
            raise RuntimeError("PostgreSQL server binaries not found: run scripts/bootstrap")
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if getattr(self, "pg_dir", None):
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

        def accepting() -> bool:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.ports.postgres)) == 0

        wait_until("PostgreSQL", accepting, process, self.logs / "postgres.log")

    def start_openbao(self) -> None:
        if self.durable_vault:
            self.start_durable_openbao()
        else:
            process = self._spawn(
                "openbao", [str(ROOT / "local-vault" / "start-openbao"), str(self.ports.openbao)],
                # Vault's audit log, which records the bridge's X-Request-Id beside its own.
                {"BAO_DEV_ROOT_TOKEN": ROOT_TOKEN, "BAO_AUDIT_LOG": str(self.audit_log)},
            )
            wait_until("OpenBao", lambda: http_status(f"{self.openbao_url}/v1/sys/health") == 200,
                       process, self.logs / "openbao.log")
        self.provision()

    def start_durable_openbao(self) -> None:
        """Starts (or restarts) the file-backed OpenBao and unseals it; initializes it the
        first time, aliasing its root token to ROOT_TOKEN."""
        import openbao_server

        data = self.run_dir / "openbao-data"
        first = not data.exists()
        data.mkdir(parents=True, exist_ok=True)
        config = self.run_dir / "openbao.hcl"
        if not hasattr(self, "openbao_cluster_port"):
            self.openbao_cluster_port = free_ports(1)[0]
        config.write_text(openbao_server.config(self.ports.openbao, self.openbao_cluster_port, data, self.audit_log))
        process = self._spawn("openbao", [str(VENV_BIN / "bao"), "server", f"-config={config}"])
        # 501: not initialized, 503: sealed; both mean it answers.
        wait_until("OpenBao", lambda: http_status(f"{self.openbao_url}/v1/sys/health") in (200, 501, 503),
                   process, self.logs / "openbao.log")
        if first:
            self.unseal_key, root = openbao_server.initialize(self.openbao_url)
            openbao_server.unseal(self.openbao_url, self.unseal_key)
            wait_until("OpenBao active", lambda: http_status(f"{self.openbao_url}/v1/sys/health") == 200,
                       process, self.logs / "openbao.log")
            openbao_server.alias_root_token(self.openbao_url, root, ROOT_TOKEN)
        else:
            openbao_server.unseal(self.openbao_url, self.unseal_key)
            wait_until("OpenBao active", lambda: http_status(f"{self.openbao_url}/v1/sys/health") == 200,
                       process, self.logs / "openbao.log")

    def provision(self) -> None:
        agents_file = self.run_dir / "agents.json"
        agents_file.write_text(json.dumps({"agents": self.agents}))
        subprocess.run(
            [str(ROOT / "local-vault" / "provision.py")], check=True, cwd=ROOT,
            env={**os.environ, "VAULT_ADDR": self.openbao_url, "VAULT_TOKEN": ROOT_TOKEN,
                 "AGENTS_FILE": str(agents_file), "BRIDGE_BIN": str(BACKEND_BIN),
                 "PG_PORT": str(self.ports.postgres), "PG_USER": "vault",
                 "PG_PASSWORD": self.secrets.postgres_password},
        )

    @property
    def backend_ports(self) -> list[int]:
        if not hasattr(self, "_backend_ports"):
            self._backend_ports = [self.ports.backend, *free_ports(self.backend_replicas - 1)]
        return self._backend_ports

    def start_backend(self) -> None:
        for replica, port in enumerate(self.backend_ports, start=1):
            name = "backend" if replica == 1 else f"backend-{replica}"
            env = {
                "VAULT_ADDR": self.openbao_url,
                "VAULT_TOKEN": ROOT_TOKEN,
                "HOST": "127.0.0.1",
                "PORT": str(port),
                "AGENT_ASSERTION_KEY": self.secrets.assertion_key,
                # requests.log, responses.log and server.log (JSON, metadata only).
                "LOG_DIR": str(self.logs / name),
                **self.backend_env,
            }
            # A value of None removes the variable (e.g. VAULT_TOKEN when logging in with AppRole).
            process = self._spawn(name, [str(self.backend_bin), "serve"],
                                  {k: v for k, v in env.items() if v is not None},
                                  remove=[k for k, v in env.items() if v is None])
            wait_until(name, lambda p=port: http_status(f"http://127.0.0.1:{p}/healthz") == 200,
                       process, self.logs / f"{name}.log")

    def start_envoy(self) -> None:
        config_path = self.run_dir / "envoy.yaml"
        config = merged(filter_config(self.agents, self.ports, edge=self.edge), self.filter_overrides)
        if self.edge:
            subprocess.run([str(ROOT / "envoy" / "gen-dev-certs"), str(self.certs)], check=True)
            rendered = render_edge_config(self.ports, config, self.agents, certs=self.certs)
        else:
            rendered = render_envoy_config(self.ports, config,
                                           add_request_headers=self.envoy_add_request_headers)
            if self.envoy_jwt_authn:
                delegate_to_envoy_jwt_authn(rendered, config, self.ports)
            if self.backend_replicas > 1:
                balance_backends(rendered, self.backend_ports, sticky=self.sticky_sessions)
        config_path.write_text(yaml.safe_dump(rendered))
        # Envoy stops itself (SIGTERM) when its parent process exits, which would end it as soon
        # as `dev-stack up` returns: a shell stays behind as its parent. Both share a process
        # group, which is what `stop_process` signals.
        process = self._spawn("envoy", [
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
        wait_until("Envoy", lambda: http_status(f"{self.envoy_url}/healthz", **self.tls_options()) == expected,
                   process, self.logs / "envoy.log")

    def stop_process(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is not None:
            # PostgreSQL's SIGTERM waits for clients to leave; SIGINT is its fast shutdown.
            stop_process(process.pid, process, signal.SIGINT if name == "postgres" else signal.SIGTERM)

    def stop(self) -> None:
        backends = sorted(name for name in self.processes if name.startswith("backend"))
        for name in ("envoy", *backends, "openbao", "postgres", "jwks"):
            self.stop_process(name)
        if getattr(self, "pg_dir", None):
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
            },
            "openbao_root_token": ROOT_TOKEN,
            "api_keys": {a["api_key"]: {"subject": a["subject"], "scopes": a["scopes"]} for a in self.agents},
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


def stop_process(pid: int, process: subprocess.Popen | None = None, sig: int = signal.SIGTERM,
                 grace: float = 10) -> None:
    """Signals the process group, then SIGKILLs what is left after `grace` seconds."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if process is not None:
            if process.poll() is not None:
                break
        elif not pid_alive(pid):
            break
        time.sleep(0.05)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if process is not None:
        process.wait()


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


if __name__ == "__main__":
    if sys.argv[1:] == ["compose-envoy"]:
        COMPOSE_ENVOY_CONFIG.write_text(render_compose_envoy_config())
    elif sys.argv[1:] == ["edge-envoy"]:
        EDGE_ENVOY_CONFIG.write_text(render_committed_edge_config())
    else:
        sys.exit("usage: stack.py compose-envoy | edge-envoy")

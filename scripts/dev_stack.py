"""`scripts/dev-stack up|down|status`: the stack of scripts/stack/ on the fixed dev ports."""

import argparse
import os
import signal
import json
import subprocess
import shutil
import socket
import sys
from pathlib import Path

from stack import ROOT, ROOT_TOKEN, Ports, Stack, build, pid_alive, stop_process, summary

DEV = ROOT / ".dev"
PIDS = DEV / "pids.json"
CREDENTIALS = DEV / "credentials.json"
# PostgreSQL's data lives outside .dev (the postgres user must reach it); removed by `down`.
PG_DIR = DEV / "pg_dir"
# What each started process must still be, so `down` never signals a recycled pid.
EXECUTABLES = {"jwks": "http.server", "oauth": "server.mjs", "postgres": "postgres", "openbao": "bao",
               "audit-rotate": "rotate", "backend": "vault-mcp-bridge", "envoy": "envoy", "redis": "redis-server",
               "ratelimit": "vault-mcp-ratelimit"}


def running() -> dict:
    if not PIDS.exists():
        return {}
    alive = {}
    for name, pid in json.loads(PIDS.read_text()).items():
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if pid_alive(pid) and EXECUTABLES[name] in {Path(arg).name for arg in argv} | set(argv):
            alive[name] = pid
    return alive


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def up(edge: bool, debug: bool) -> int:
    if running():
        print("dev stack already running:", file=sys.stderr)
        return status()
    ports = Ports.dev()
    wanted = [ports.openbao, ports.backend, ports.envoy_admin, ports.jwks, ports.postgres, ports.console,
              ports.oauth, ports.redis, ports.ratelimit] + (
        [ports.envoy_tls, ports.envoy_mtls] if edge else [ports.envoy])
    busy = [p for p in wanted if port_in_use(p)]
    if busy:
        print(f"ports already in use: {busy}; stop what holds them first", file=sys.stderr)
        return 1
    # Release by default: what production runs (the first build takes a few minutes).
    print(f"building the backend ({'debug' if debug else 'release'}) and the filter (.wasm): the first "
          "build takes several minutes; cargo shows its progress", flush=True)
    backend = build(release=not debug, progress=True)
    print("starting the JWKS server, the authorization server, PostgreSQL, OpenBao (provisioned), "
          "the backend, Redis with the rate-limit service, and Envoy", flush=True)
    stack = Stack(run_dir=DEV, ports=ports, edge=edge, backend_bin=backend)
    stack.start()
    PIDS.write_text(json.dumps({name: p.pid for name, p in stack.processes.items()}))
    PG_DIR.write_text(str(stack.pg_dir))
    credentials = stack.credentials()
    credentials["console_url"] = console_sign_in(stack)
    # Secrets (the RSA private key, the HS256 secret) stay in the file, readable by its owner.
    CREDENTIALS.touch(mode=0o600)
    CREDENTIALS.chmod(0o600)
    CREDENTIALS.write_text(json.dumps(credentials, indent=2) + "\n")
    print(summary(credentials, "dev stack up:"))
    print(f"\noperator console (signs in as console_operator, scope admin): {credentials['console_url']}")
    people = ", ".join(credentials["oauth"]["users"])
    print(f"OAuth sign-in for MCP clients: authorization server {credentials['oauth']['issuer']}, "
          f"people {people} (passwords in the credentials file)")
    print(f"\nall credentials (JWT keys, example tokens): {CREDENTIALS.relative_to(ROOT)}, "
          f"logs: {stack.logs.relative_to(ROOT)}/")
    print(f"\nthe CLI (`vault-mcp-bridge agents …`, docs/OPERATING-AGENTS.md) is {backend}:\n"
          f"  export PATH=\"{backend.parent}:$PATH\" VAULT_ADDR={stack.openbao_url} VAULT_TOKEN={ROOT_TOKEN}")
    tls = f"--cacert {stack.certs}/ca.crt " if edge else ""
    print(f"try: curl {tls}-H 'X-API-Key: dev-key' -X PUT "
          f"-d '{{\"data\":{{\"foo\":\"bar\"}}}}' {stack.envoy_url}/secrets/configs/demo")
    if edge:
        print(f"     curl --cacert {stack.certs}/ca.crt --cert {stack.certs}/client-agent_api.crt "
              f"--key {stack.certs}/client-agent_api.key {stack.mtls_url}/secrets/configs/demo")
    return 0


def console_sign_in(stack: Stack) -> str:
    """A console operator (scope `admin`), added like any agent, and a link that signs it in:
    the key rides in the URL fragment, which the browser never sends to a server."""
    done = subprocess.run([str(stack.backend_bin), "agents", "add", "console_operator", "--scopes", "admin", "--json"],
                          env={**os.environ, "VAULT_ADDR": stack.openbao_url, "VAULT_TOKEN": ROOT_TOKEN},
                          capture_output=True, text=True, check=True)
    return f"{stack.console_url}/login#key={json.loads(done.stdout)['api_key']}"


def down() -> int:
    alive = running()
    for name in ("envoy", "backend", "ratelimit", "redis", "openbao", "audit-rotate", "postgres", "oauth", "jwks"):
        if name not in alive:
            continue
        pid = alive[name]
        stop_process(pid, sig=signal.SIGINT if name == "postgres" else signal.SIGTERM)
        print(f"stopped {name} (pid {pid})")
    PIDS.unlink(missing_ok=True)
    if PG_DIR.exists():
        shutil.rmtree(PG_DIR.read_text().strip(), ignore_errors=True)
        PG_DIR.unlink()
    return 0


def status() -> int:
    alive = running()
    for name in EXECUTABLES:
        print(f"{name:8} {'running, pid ' + str(alive[name]) if name in alive else 'stopped'}")
    if alive and CREDENTIALS.exists():
        endpoints = json.loads(CREDENTIALS.read_text())["endpoints"]
        for name, url in endpoints.items():
            print(f"  {name:12} {url}")
    return 0 if len(alive) in (0, len(EXECUTABLES)) else 1


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/dev-stack", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--edge", action="store_true",
                        help="with up: TLS on 10443 and mTLS on 10444 (envoy/envoy.edge.yaml) instead of 10000")
    parser.add_argument("--debug", action="store_true",
                        help="with up: a debug backend (quick to rebuild while editing) instead of release")
    args = parser.parse_args()
    if args.command == "up":
        return up(args.edge, args.debug)
    return {"down": down, "status": status}[args.command]()


if __name__ == "__main__":
    sys.exit(main())

"""`scripts/compose-stack up|down|status`: compose.yaml run with checks that say what is wrong
before Docker does (no daemon, a port taken, an image neither here nor pullable), then waiting
until Envoy serves and printing what a newcomer needs. The tests drive the same functions.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from stack import http_status, summary

from .docker import ROOT, Refused, cli, docker_env, image_exists

COMPOSE_FILE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
PROJECT = "vault-mcp-bridge"
#: The published ports compose.yaml reads from the environment, with its defaults.
PORTS = {"ENVOY_PORT": 10000, "ENVOY_ADMIN_PORT": 9901, "CONSOLE_PORT": 8091, "OAUTH_PORT": 8092,
         "OPENBAO_PORT": 8200, "POSTGRES_PORT": 15432}
#: How much of a failed build's output its error repeats.
BUILD_TAIL_LINES = 40


def compose_command() -> list[str]:
    """Compose v2 (`docker compose`) when the CLI has it, else v1 (`docker-compose`)."""
    if subprocess.run([cli(), "compose", "version"], capture_output=True).returncode == 0:
        return [cli(), "compose"]
    if subprocess.run(["docker-compose", "version"], capture_output=True).returncode == 0:
        return ["docker-compose"]
    raise Refused("neither `docker compose` nor `docker-compose` is installed "
                  "(Debian: apt-get install docker.io docker-compose)")


def base_images() -> list[str]:
    """The images compose.yaml and the Dockerfile start from (not the ones they build)."""
    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    images = [s["image"] for s in services.values() if "build" not in s]
    stages = set()
    for line in DOCKERFILE.read_text().splitlines():
        parts = line.split()
        if parts[:1] == ["FROM"]:
            if parts[1] not in stages:
                images.append(parts[1])
            if len(parts) == 4 and parts[2].upper() == "AS":
                stages.add(parts[3])
    return sorted(set(images))


@dataclass
class ComposeStack:
    project: str = PROJECT
    ports: dict[str, int] = field(default_factory=lambda: dict(PORTS))

    def env(self) -> dict:
        return {**docker_env(), **{name: str(port) for name, port in self.ports.items()}}

    def compose(self, *args: str, check: bool = True, capture: bool = False, timeout: float | None = None,
                env: dict | None = None) -> subprocess.CompletedProcess:
        argv = [*compose_command(), "--project-name", self.project, "--file", str(COMPOSE_FILE), *args]
        done = subprocess.run(argv, cwd=ROOT, env=env or self.env(), text=True, timeout=timeout,
                              capture_output=capture)
        if check and done.returncode != 0:
            raise Refused(f"{' '.join(args[:1])} failed (exit {done.returncode})"
                          + (f":\n{done.stdout}{done.stderr}" if capture else ""))
        return done

    def build(self) -> None:
        """The images compose.yaml builds, the output shown as it comes. A failed step's container is
        removed (`--force-rm`: the classic builder keeps it otherwise, and `down` does not know it),
        and the error carries the output's end, where the reason is, and the free disk."""
        argv = [*compose_command(), "--project-name", self.project, "--file", str(COMPOSE_FILE),
                "build", "--force-rm"]
        tail: deque[str] = deque(maxlen=BUILD_TAIL_LINES)
        with subprocess.Popen(argv, cwd=ROOT, env=self.env(), text=True, errors="replace",
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as build:
            for line in build.stdout:
                sys.stdout.write(line)
                tail.append(line)
        if build.returncode != 0:
            free = shutil.disk_usage(ROOT).free / 2**30
            raise Refused(f"build failed (exit {build.returncode}; {free:.1f} GiB free on this disk); "
                          "its last lines:\n" + "".join(tail))

    def check_ports(self) -> None:
        taken = []
        for name, port in self.ports.items():
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    taken.append(f"{name}={port}")
        if taken:
            raise Refused(f"ports already in use on 127.0.0.1: {', '.join(taken)}; stop what holds them "
                          "(`scripts/dev-stack down`?) or choose others, e.g. ENVOY_PORT=20000 scripts/compose-stack up")

    def check_images(self) -> None:
        """Each base image is here, or pulled now; one that is neither gets a clear word."""
        for image in base_images():
            if image_exists(image):
                continue
            print(f"compose-stack: pulling {image}", flush=True)
            pulled = subprocess.run([cli(), "pull", "--quiet", image], env=self.env(), capture_output=True,
                                    text=True)
            if pulled.returncode != 0:
                raise Refused(f"image {image} is not on this machine and cannot be pulled "
                              f"({pulled.stderr.strip().splitlines()[-1] if pulled.stderr.strip() else 'no answer'}); "
                              "without an image registry, make the stand-ins first: scripts/compose-standins")

    def container(self, service: str) -> str:
        return self.compose("ps", "-q", service, capture=True).stdout.strip()

    def health(self, service: str) -> str:
        container = self.container(service)
        if not container:
            return "absent"
        done = subprocess.run([cli(), "inspect", "--format", "{{.State.Status}} {{if .State.Health}}"
                               "{{.State.Health.Status}}{{end}}", container], env=self.env(),
                              capture_output=True, text=True)
        return done.stdout.strip()

    def wait_serving(self, timeout: float = 300) -> None:
        """Until Envoy's healthcheck passes: it serves registry agents."""
        deadline = time.monotonic() + timeout
        while (state := self.health("envoy")) != "running healthy":
            if time.monotonic() > deadline or state.startswith("exited"):
                self.compose("ps", check=False)
                raise Refused(f"Envoy is not serving after {timeout:.0f} s ({state}): "
                              f"see `docker-compose --project-name {self.project} logs`")
            time.sleep(2)

    def up(self) -> None:
        self.check_ports()
        self.check_images()
        self.build()
        # v1 has no --wait: wait_serving waits for Envoy's healthcheck either way.
        self.compose("up", "--detach", "--no-build")
        self.wait_serving()
        # The healthcheck sees one worker's registry; every worker serves within its next tick.
        deadline = time.monotonic() + 30
        while http_status(f"http://127.0.0.1:{self.ports['ENVOY_PORT']}/healthz", {"x-api-key": "dev-key"}) != 200:
            if time.monotonic() > deadline:
                raise Refused("Envoy is healthy but does not serve the dev agents")
            time.sleep(0.5)

    def credentials(self) -> dict:
        done = self.compose("run", "--rm", "-T", "setup", "cat", "/run/operator/credentials.json", capture=True)
        return json.loads(done.stdout)

    def leftovers(self) -> dict[str, list[str]]:
        """The project's containers, networks and volumes that still exist."""
        label = f"label=com.docker.compose.project={self.project}"
        found = {}
        for kind, args in (("containers", ["ps", "-aq"]), ("networks", ["network", "ls", "-q"]),
                           ("volumes", ["volume", "ls", "-q"])):
            out = subprocess.run([cli(), *args, "--filter", label], env=self.env(), capture_output=True,
                                 text=True, check=True).stdout.split()
            if out:
                found[kind] = out
        return found

    def down(self) -> None:
        self.compose("down", "--volumes", "--remove-orphans")
        left = self.leftovers()
        if left:
            raise Refused(f"left behind after down: {left}")


def compose_summary(credentials: dict) -> str:
    return "\n".join([
        summary(credentials, "compose stack up:"),
        f"operator console: {credentials['console_url']}",
        "all credentials (JWT keys, passwords, tokens): scripts/compose-stack credentials",
    ])


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/compose-stack", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "credentials"])
    args = parser.parse_args()
    stack = ComposeStack(ports={name: int(os.environ.get(name, port)) for name, port in PORTS.items()})
    try:
        if args.command == "up":
            stack.up()
            print(compose_summary(stack.credentials()))
        elif args.command == "down":
            stack.down()
            print("compose stack down: no container, network or volume of it is left")
        elif args.command == "credentials":
            print(json.dumps(stack.credentials(), indent=2))
        else:
            stack.compose("ps")
    except Refused as refused:
        print(f"compose-stack: {refused.code}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The compose stack (compose.yaml) under a Docker daemon of the tests' own.

The daemon gets its own data root, exec root and socket in a temporary folder, and a proxy that
refuses at once for its pulls: every image is a stand-in (scripts/compose-standins) or built
from this tree, and nothing is fetched from an image registry. It is stopped, and what it added
to the host removed, when the session ends. `COMPOSE_TEST_DOCKER_HOST` reuses a running daemon
instead (quicker while editing: its images stay).
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# The e2e tests' helpers (the SDK's OAuth client with Chromium, support.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from containers.docker import ROOT, PrivateDaemon, cli, install_docker
from containers.stack import PORTS, ComposeStack
from stack import free_ports


@pytest.fixture(scope="session")
def docker_host():
    reuse = os.environ.get("COMPOSE_TEST_DOCKER_HOST")
    if reuse:
        os.environ["DOCKER_HOST"] = reuse
        yield reuse
        return
    install_docker()
    # Short: a unix socket's path has at most 107 bytes.
    daemon = PrivateDaemon(Path(tempfile.mkdtemp(prefix="vmb-docker-")))
    try:
        os.environ["DOCKER_HOST"] = daemon.start(no_registry=True)
        subprocess.run([str(ROOT / "scripts" / "compose-standins")], check=True, timeout=900)
        yield os.environ["DOCKER_HOST"]
    finally:
        daemon.stop()
        os.environ.pop("DOCKER_HOST", None)
        left = daemon.leftovers()
        shutil.rmtree(daemon.folder, ignore_errors=True)
        assert not left, f"the test's Docker daemon left behind: {left}"


@pytest.fixture(scope="session")
def compose(docker_host):
    """compose.yaml up (built from this tree) on free ports; down, volumes and all, at the end."""
    stack = ComposeStack(project="vmbtest", ports=dict(zip(PORTS, free_ports(len(PORTS)))))
    before = everything()
    try:
        stack.up()
        yield stack
    finally:
        stack.down()
        # Anonymous volumes too (the images' own VOLUMEs), which carry no project label.
        assert everything() == before, "down left containers, networks or volumes behind"


def everything() -> dict[str, set[str]]:
    """Every container, network and volume the daemon has."""
    listed = {}
    for kind, args in (("containers", ["ps", "-aq"]), ("networks", ["network", "ls", "-q"]),
                       ("volumes", ["volume", "ls", "-q"])):
        listed[kind] = set(subprocess.run([cli(), *args], capture_output=True, text=True, check=True).stdout.split())
    return listed


@pytest.fixture(scope="session")
def credentials(compose):
    return compose.credentials()

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
import tempfile
from pathlib import Path

import pytest

from containers.docker import ROOT, host_leftovers, install_docker, start_daemon, stop_daemon
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
    folder = Path(tempfile.mkdtemp(prefix="vmb-docker-"))
    try:
        os.environ["DOCKER_HOST"] = start_daemon(folder, no_registry=True)
        subprocess.run([str(ROOT / "scripts" / "compose-standins")], check=True, timeout=900)
        yield os.environ["DOCKER_HOST"]
    finally:
        stop_daemon(folder)
        os.environ.pop("DOCKER_HOST", None)
        left = host_leftovers(folder)
        shutil.rmtree(folder, ignore_errors=True)
        assert not left, f"the test's Docker daemon left behind: {left}"


@pytest.fixture(scope="session")
def compose(docker_host):
    """compose.yaml up (built from this tree) on free ports; down, volumes and all, at the end."""
    stack = ComposeStack(project="vmbtest", ports=dict(zip(PORTS, free_ports(len(PORTS)))))
    try:
        stack.up()
        yield stack
    finally:
        stack.down()


@pytest.fixture(scope="session")
def credentials(compose):
    return compose.credentials()

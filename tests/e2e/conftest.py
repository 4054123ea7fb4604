"""End-to-end fixtures: the real OpenBao, backend and Envoy (with the .wasm filter) on free ports.

The stack is the same code `scripts/dev-stack` runs (scripts/stack.py); here it gets ports the
kernel reports free and a temporary folder, and is stopped when the session ends.
"""

import sys
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import stack as stacks  # noqa: E402


@pytest.fixture(scope="session")
def built():
    """The backend binary and the filter's .wasm, built from this tree."""
    stacks.build()


# Functional tests send many requests per agent; the rate limit itself is tested on its own.
UNLIMITED = {"rate_limit": {"requests": 1_000_000, "per_seconds": 60}}


#: Every stack this session started, for the leak check that runs last (test_zz_leaks.py).
STARTED: list[stacks.Stack] = []


def start_stack(tmp_path_factory, name: str, **options) -> stacks.Stack:
    running = stacks.Stack(run_dir=tmp_path_factory.mktemp(name), ports=stacks.Ports.free(), **options)
    STARTED.append(running)
    running.start()
    return running


@pytest.fixture(scope="session")
def stack(built, tmp_path_factory):
    running = start_stack(tmp_path_factory, "stack", filter_overrides=UNLIMITED)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def api_keys(stack):
    """Subject -> API key of the dev agents."""
    return {a["subject"]: a["api_key"] for a in stack.agents}


def wait_for(check, seconds: float = 15, interval: float = 0.2):
    """Polls `check` until it returns something truthy; returns it, or fails after `seconds`."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {seconds}s")
        time.sleep(interval)


@pytest.fixture
def openbao(stack):
    """Direct access to OpenBao with the root token, to check what really landed where."""
    session = requests.Session()
    session.headers["X-Vault-Token"] = stacks.ROOT_TOKEN

    def kv_get(vault_path: str):
        return session.get(f"{stack.openbao_url}/v1/secret/data/{vault_path}", timeout=10)

    return kv_get

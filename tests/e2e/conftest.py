"""End-to-end fixtures: the real OpenBao, backend and Envoy (with the .wasm filter) on free ports.

The stack is the same code `scripts/dev-stack` runs (the `stack` package in scripts/, on the
path through pytest.ini); here it gets ports the kernel reports free and a temporary folder,
and is stopped when the session ends. Helpers shared by test files are in support.py.
"""

import pytest
import requests

import stack as stacks
from support import UNLIMITED, start_stack


def pytest_collection_modifyitems(items):
    """Tests marked `session_end` run after all others, whatever their file is called (the
    leak check reads the logs every other test left)."""
    items.sort(key=lambda item: item.get_closest_marker("session_end") is not None)


@pytest.fixture(scope="session")
def built():
    """The backend binary and the filter's .wasm, built from this tree."""
    stacks.build()


@pytest.fixture(scope="session")
def stack(built, tmp_path_factory):
    running = start_stack(tmp_path_factory, "stack", filter_overrides=UNLIMITED)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def api_keys(stack):
    """Subject -> API key of the dev agents."""
    return {a["subject"]: a["api_key"] for a in stack.agents}


@pytest.fixture
def openbao(stack):
    """Direct access to OpenBao with the root token, to check what really landed where."""
    session = requests.Session()
    session.headers["X-Vault-Token"] = stacks.ROOT_TOKEN

    def kv_get(vault_path: str):
        return session.get(f"{stack.openbao_url}/v1/secret/data/{vault_path}", timeout=10)

    return kv_get

"""The committed configuration agrees with the one list of dev agents."""

from pathlib import Path

import stack as stacks


def test_envoy_yaml_holds_the_dev_agents_of_agents_json():
    assert stacks.committed_filter_config() == stacks.filter_config(stacks.load_agents())


def test_filter_is_a_wasi_module():
    wasm = stacks.FILTER_WASM.read_bytes()
    assert wasm[:4] == b"\0asm"
    # Built for wasm32-wasip1: it imports WASI next to the proxy-wasm ABI.
    assert b"wasi_snapshot_preview1" in wasm
    assert b"proxy_on_request_headers" in wasm
    assert stacks.FILTER_WASM.parent.parent.name == "wasm32-wasip1"
    assert Path(stacks.FILTER_WASM).stat().st_size < 1024 * 1024

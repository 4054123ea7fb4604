"""The committed configuration agrees with the one list of dev agents."""

import os

import yaml

import stack as stacks
from stack.compose import render_compose_envoy


def test_envoy_yaml_is_the_dev_stacks_filter_configuration():
    assert stacks.committed_filter_config() == stacks.filter_config(stacks.Ports.dev())


def test_filter_is_a_wasi_module(built):
    wasm = stacks.FILTER_WASM.read_bytes()
    assert wasm[:4] == b"\0asm"
    # Built for wasm32-wasip1: it imports WASI next to the proxy-wasm ABI.
    assert b"wasi_snapshot_preview1" in wasm
    assert b"proxy_on_request_headers" in wasm
    assert stacks.FILTER_WASM.parent.parent.name == "wasm32-wasip1"


def test_committed_envoy_configs_validate(built, tmp_path):
    import subprocess

    certs = tmp_path / "certs"
    subprocess.run([str(stacks.ROOT / "envoy" / "gen-dev-certs"), str(certs)], check=True, capture_output=True)
    for name, text in {
        "envoy.yaml": stacks.ENVOY_CONFIG.read_text(),
        "edge.yaml": stacks.EDGE_ENVOY_CONFIG.read_text().replace(stacks.DEV_CERTS, str(certs)),
        # What the compose stack's setup renders; the container path of the .wasm does not
        # exist here: pointed at the build output.
        "compose.yaml": yaml.safe_dump(render_compose_envoy(stacks.filter_config(stacks.Ports.dev()))).replace(
            "/etc/envoy/vault_mcp_filter.wasm", str(stacks.FILTER_WASM)),
    }.items():
        path = tmp_path / name
        path.write_text(text)
        # Validation loads the filter and runs its configuration, which needs the secrets.
        secrets = stacks.Secrets.generate()
        env = {**os.environ, "JWT_HS256_SECRET": secrets.hs256_secret,
               "AGENT_ASSERTION_KEY": secrets.assertion_key}
        result = subprocess.run(
            [str(stacks.VENV_BIN / "envoy"), "--mode", "validate", "-c", str(path)],
            cwd=stacks.ROOT, capture_output=True, text=True, timeout=120, env=env,
        )
        assert result.returncode == 0, result.stdout + result.stderr

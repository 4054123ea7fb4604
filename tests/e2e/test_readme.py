"""The shell examples of README.md and of the docs pages it leads to (docs/OPERATING-AGENTS.md,
docs/ROUTES.md) run as written, against a stack of the tests' own: each command in
one bash session (variables carry over), every `curl` must get a 2xx (`--fail-with-body`), and
a `# {…}` line under a command is the JSON it must answer. The dev ports, `.dev/` paths and the
release binary's folder are replaced by this stack's; nothing else is changed."""

import json
import os
import re
import subprocess

import pytest
import requests

import stack as stacks
from support import UNLIMITED, start_stack

README = stacks.ROOT / "README.md"
#: The reference pages README leads to, whose examples run here as README's do.
OPERATING_AGENTS = stacks.ROOT / "docs" / "OPERATING-AGENTS.md"
ROUTES = stacks.ROOT / "docs" / "ROUTES.md"


def block_after(heading: str, index: int = 0, page=README) -> str:
    """The `index`-th ```sh block after `heading` (a line of `page`)."""
    text = page.read_text()
    start = text.index(f"\n{heading}\n")
    return re.findall(r"```sh\n(.*?)```", text[start:], re.S)[index]


def commands(block: str) -> list[tuple[str, str | None]]:
    """(command, the JSON it answers or None): continuation lines joined, comments after."""
    out: list[tuple[str, str | None]] = []
    pending = ""
    for line in block.splitlines():
        if pending:
            pending += "\n" + line
        elif line.startswith("# {") and out:
            out[-1] = (out[-1][0], line[2:])
            continue
        elif line.startswith("#") or not line.strip():
            continue
        else:
            pending = line
        if not pending.endswith("\\"):
            out.append((pending, None))
            pending = ""
    return out


class Shell:
    """One bash session: commands run in it one at a time, with their output and status."""

    def __init__(self, env: dict, cwd):
        self.process = subprocess.Popen(["bash", "--noprofile", "--norc"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=cwd)
        # Every curl must succeed; -sS keeps its progress meter out of the output.
        self.run('curl() { command curl -sS --fail-with-body "$@"; }')

    def run(self, command: str) -> tuple[int, str]:
        self.process.stdin.write(f"{command}\n__status=$?; echo; echo \"@@@ $__status\"\n")
        self.process.stdin.flush()
        lines = []
        while not (line := self.process.stdout.readline()).startswith("@@@ "):
            if not line:
                raise AssertionError(f"the shell ended during: {command}\n{''.join(lines)}")
            lines.append(line)
        return int(line.split()[1]), "".join(lines).strip()

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=10)


def localized(command: str, stack, dev: stacks.Ports, extra: dict | None = None) -> str:
    """The command with the dev stack's ports and paths replaced by `stack`'s."""
    for name in ("envoy", "envoy_tls", "envoy_mtls", "openbao", "envoy_admin", "console", "oauth"):
        command = re.sub(rf"127\.0\.0\.1:{getattr(dev, name)}\b", f"127.0.0.1:{getattr(stack.ports, name)}", command)
    command = command.replace(".dev/credentials.json", str(stack.run_dir / "credentials.json"))
    command = command.replace(".dev/certs", str(stack.certs))
    command = command.replace("$PWD/target/release", str(stack.backend_bin.parent))
    for old, new in (extra or {}).items():
        command = command.replace(old, new)
    return command


def run_block(stack, block: str, env: dict, skip=lambda command: False) -> list[tuple[str, str]]:
    """Runs the block's commands in one shell; returns (command, output) of each. A key id that
    `agents add` prints replaces the page's placeholder id in later commands."""
    (stack.run_dir / "credentials.json").write_text(json.dumps(stack.credentials()))
    shell = Shell(env, stack.run_dir)
    dev, results, learned = stacks.Ports.dev(), [], {}
    try:
        for command, expected in commands(block):
            if skip(command):
                continue
            command = localized(command, stack, dev, learned)
            status, output = shell.run(command)
            assert status == 0, f"{command}\nexit {status}: {output}"
            if expected is not None:
                assert json.loads(output) == json.loads(expected), f"{command}\n{output} != {expected}"
            if key_id := re.search(r"key id ([0-9a-f]{12})", output):
                learned[PLACEHOLDER_KEY_ID] = key_id.group(1)
            results.append((command, output))
    finally:
        shell.close()
    return results


#: The key id the `revoke-key` line of docs/OPERATING-AGENTS.md shows; the test puts the one `add` printed in its place.
PLACEHOLDER_KEY_ID = "3f9c0a1b2c4d"


@pytest.fixture(scope="module")
def fresh(built, tmp_path_factory):
    """A stack of the module's own: README's outputs (`"version":1`) assume nothing written yet."""
    running = start_stack(tmp_path_factory, "readme", filter_overrides=UNLIMITED)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def edge(built, tmp_path_factory):
    running = start_stack(tmp_path_factory, "readme_edge", filter_overrides=UNLIMITED, edge=True)
    yield running
    running.stop()


@pytest.fixture
def env(tmp_path) -> dict:
    """A shell's environment: PATH, and a HOME with an SSH key (docs/ROUTES.md signs ~/.ssh/id_ed25519.pub)."""
    (tmp_path / ".ssh").mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / ".ssh" / "id_ed25519")],
                   check=True)
    return {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LANG": "C.UTF-8"}


def test_running_the_bridge(fresh, edge, env):
    block = block_after("### Running the bridge")
    assert len(run_block(fresh, block, env, skip=lambda c: "--cacert" in c)) == 5
    # The `--edge` line, on an edge stack holding the same secret.
    written = requests.put(f"{edge.envoy_url}/secrets/configs/demo", json={"data": {"foo": "bar"}},
                           headers={"X-API-Key": "dev-key"}, verify=str(edge.certs / "ca.crt"), timeout=10)
    assert written.status_code == 200, written.text
    (_, output), = run_block(edge, block, env, skip=lambda c: "--cacert" not in c)
    assert json.loads(output)["data"] == {"foo": "bar"}


def test_operating_agents(fresh, env):
    results = dict(run_block(fresh, block_after("## Operating agents", page=OPERATING_AGENTS), env))
    listed = next(output for command, output in results.items() if command.startswith("vault-mcp-bridge agents list"))
    assert "billing-bot" in listed
    assert any("added user user.ann" in output for output in results.values())


def test_routes_and_engines(fresh, env):
    results = run_block(fresh, block_after("### Routes and engines", page=ROUTES), env)
    assert len(results) == 12
    decrypted = next(output for command, output in results if "/transit/decrypt" in command)
    assert json.loads(decrypted)["text"] == "card 4111"


def test_setting_up_a_vault(fresh, env, tmp_path):
    """The operator's Vault set-up, with OpenBao's CLI as `vault` (the same commands), against a
    stack's OpenBao as root: the policies, the token role and a service token it accepts."""
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "vault").symlink_to(stacks.VENV_BIN / "bao")
    (shims / "vault-mcp-bridge").symlink_to(fresh.backend_bin)
    env = {**env, "PATH": f"{shims}:{env['PATH']}", "VAULT_ADDR": fresh.openbao_url, "VAULT_TOKEN": stacks.ROOT_TOKEN}
    results = run_block(fresh, block_after("### Vault identity of agents", page=OPERATING_AGENTS), env)
    created = results[-1][1]
    assert "token" in created and "vault-mcp-bridge" in created, created


def test_client_certificates_from_vault_pki(edge, env):
    """The CSR made with openssl, issued through the TLS listener, used at the mTLS listener."""
    results = run_block(edge, block_after("### Client certificates from Vault PKI", page=OPERATING_AGENTS), env)
    assert len(results) == 3
    assert json.loads(results[-1][1])["subject"] == "agent_api"

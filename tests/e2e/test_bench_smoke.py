"""A short run of the benchmark harness (scripts/bench --smoke): every scenario runs against the
real processes and answers correctly. It asserts what must hold at any speed (no errors, every
request really served, the rate limit exact), never a timing: speed is docs/PERFORMANCE.md's."""

import json
import os
import subprocess
import sys

import stack as stacks


def test_the_harness_runs_every_scenario_without_errors(built, tmp_path):
    subprocess.run(["cargo", "build", "--quiet", "-p", "bench-noop-filter", "--target", "wasm32-wasip1",
                    "--profile", "wasm"], cwd=stacks.ROOT, check=True)
    out = tmp_path / "bench"
    subprocess.run([sys.executable, str(stacks.ROOT / "bench" / "run.py"), "--smoke", "--out", str(out),
                    "--backend", str(stacks.BACKEND_BIN)], cwd=stacks.ROOT, check=True, timeout=900,
                   # As scripts/bench runs it: the stack package from scripts/.
                   env={**os.environ, "PYTHONPATH": str(stacks.ROOT / "scripts")})
    results = json.loads((out / "results.json").read_text())
    rows = (results["edge"] + results["vault"] + results["registry_edge"] + results["devstack_pinned"]
            + results["devstack_unpinned"])
    assert {r["name"] for r in results["edge"]} >= {"none", "noop", "native-rs256", "filter-apikey",
                                                   "filter-rs256-distinct", "delegated-rs256-distinct"}
    for row in rows:
        assert row["errors"] == 0, row
        assert all(rps > 0 for rps in row["rps"]), row
    assert results["rate_limit_admitted_over_limit"] == [1.0] * 10
    assert results["backend_64_connections"]["errors"] == 0
    # The registry part: both Envoys served the agent from their snapshots; the backend built one.
    assert {r["name"] for r in results["registry_edge"]} == {"registry-4", "registry-10k"}
    assert results["registry_backend"]["agents"] >= 500
    # The dev stack's own configuration, both layouts: every scenario served, logs within their cap.
    for layout in ("pinned", "unpinned"):
        rows = {r["name"]: r for r in results[f"devstack_{layout}"]}
        assert set(rows) == {"healthz-filter", "healthz-local", "healthz-noop", "healthz-bare", "healthz-backend",
                             "openbao-root", "openbao", "openbao-plain", "openbao-envoy", "rest", "mcp",
                             "transit"}
        # Each serving process's CPU per request was read, and those that serve a request did work:
        # the global count's service and Redis, OpenBao behind the bridge's reads.
        for row in rows.values():
            assert all(len(rounds) == results["rounds"] for rounds in row["cpu_us"].values()), row
        assert all(v > 0 for name in ("envoy", "backend", "ratelimit", "redis") for v in rows["healthz-filter"]["cpu_us"][name])
        assert all(v > 0 for name in ("envoy", "backend", "openbao") for v in rows["rest"]["cpu_us"][name])
        # The floor: the Envoy without the filter proxied the direct read to OpenBao.
        assert all(v > 0 for name in ("envoy", "openbao") for v in rows["openbao-envoy"]["cpu_us"][name])
        assert results[f"devstack_{layout}_backend_idle_kib"]["VmRSS"] > 0
    markdown = (out / "results.md").read_text()
    assert "asking the rate-limit service" in markdown and "CPU µs per request, by process" in markdown
    assert "The least any bridge behind this Envoy could spend per read" in markdown
    # The instrumented filter reported every step, each request decided once and its headers read once.
    steps = results["devstack_steps"]
    assert steps["reports"] >= 1 and steps["steps"]["callback"]["ns"] > 0
    assert steps["steps"]["decision"]["calls"] == 1 and steps["steps"]["read_headers"]["calls"] == 1
    logs = results["devstack_logs"]
    assert logs["requests"] >= 10_000 and 0 < logs["bytes"] <= logs["cap_bytes"]
    assert "| measure | goal | measured |" in (out / "results.md").read_text()
    assert (out / "chart.svg").read_text().startswith("<svg")

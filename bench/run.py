#!/usr/bin/env python3
"""The benchmark harness of issue #6: the bridge against the alternatives, in one run.

  scripts/bench                  # full run (≈ 10 minutes), writes docs/bench/ and the tables
                                 # of docs/PERFORMANCE.md between its bench markers
  scripts/bench --smoke          # seconds: every scenario once, results to a temporary folder

Pinning (2 cores): every server process (Envoy with --concurrency 1, the backend, OpenBao,
PostgreSQL) runs on CPU 0 and wrk (one thread) on CPU 1, so the servers' share of the machine
is the same in every configuration and the load generator never competes with them.
Configurations are interleaved (A B C … A B C …) for `--rounds` rounds; tables give medians.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# scripts/ is on the path (scripts/bench sets PYTHONPATH); bench/ is, as the script's folder.
import docsections
import edge
import registry
import report
import stack as stacks
import devstack
import load
from load import Shape, descendant, memory_kib, wrk
from vault_reads import kv_scenarios

SERVER_CPU, LOAD_CPU = "0", "1"
RELEASE_BACKEND = ROOT / "target" / "release" / "vault-mcp-bridge"
NOOP_WASM = ROOT / "target" / "wasm32-wasip1" / "wasm" / "bench_noop_filter.wasm"
PARTS = ["edge", "ratelimit", "vault", "registry", "devstack"]
DOC = ROOT / "docs" / "PERFORMANCE.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the edge: Envoy alone, Envoy's native chain, Envoy with the filter -----------------------

class Envoys:
    """One Envoy per configuration, each on its own port, all pinned to the server core."""

    def __init__(self, run_dir: Path, material: edge.Material, configs: dict[str, list[dict]],
                 concurrency: int = 1, cpu: str | None = SERVER_CPU, clusters: list[dict] | None = None):
        self.ports: dict[str, int] = {}
        self.processes: dict[str, subprocess.Popen] = {}
        ports = stacks.free_ports(len(configs))
        for (name, filters), port in zip(configs.items(), ports):
            path = run_dir / f"envoy-{name}.yaml"
            path.write_text(json.dumps(edge.envoy_config(port, filters, clusters)))
            argv = [str(stacks.VENV_BIN / "envoy"), "-c", str(path), "--concurrency", str(concurrency),
                    "--disable-hot-restart", "--log-level", "warn"]
            if cpu is not None:
                argv = ["taskset", "-c", cpu, *argv]
            logfile = open(run_dir / f"envoy-{name}.log", "wb")
            self.processes[name] = subprocess.Popen(
                argv, cwd=ROOT, stdout=logfile, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**__import__("os").environ, **material.envoy_env()}, start_new_session=True)
            self.ports[name] = port
        for name, port in self.ports.items():
            stacks.wait_until(f"Envoy {name}",
                              lambda p=port: stacks.http_status(f"http://127.0.0.1:{p}/") in (200, 401),
                              self.processes[name], run_dir / f"envoy-{name}.log")

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}{edge.PATH}"

    def memory(self, name: str) -> dict[str, int]:
        return memory_kib(descendant(self.processes[name].pid, "envoy"))

    def stop(self) -> None:
        for process in self.processes.values():
            stacks.stop_process(process.pid, process)


def edge_scenarios(envoys: Envoys, material: edge.Material, distinct: int) -> list[tuple[str, str, Shape]]:
    log(f"minting {distinct} distinct RS256 tokens")
    rs_distinct = [material.token("RS256", i) for i in range(distinct)]
    rs_one, hs_one = material.token("RS256"), material.token("HS256")

    def bearer(envoy: str, tokens: list[str]) -> Shape:
        return Shape(envoys.url(envoy), credential_header="authorization", credential_prefix="Bearer ",
                     credentials=tokens)

    api_key = {"x-api-key": edge.API_KEY}
    return [
        ("none", "Envoy, no filter", Shape(envoys.url("none"), headers=api_key)),
        ("noop", "Envoy + no-op wasm filter (the floor)", Shape(envoys.url("noop"), headers=api_key)),
        ("native-rs256", "native chain, RS256 distinct tokens", bearer("native", rs_distinct)),
        ("native-cached-rs256", "native chain + JWT cache, RS256 one token", bearer("native-cached", [rs_one])),
        ("filter-apikey", "filter, API key", Shape(envoys.url("filter"), headers=api_key)),
        ("filter-hs256", "filter, HS256 one token", bearer("filter", [hs_one])),
        ("filter-rs256", "filter, RS256 one token", bearer("filter", [rs_one])),
        ("filter-rs256-distinct", "filter, RS256 distinct tokens", bearer("filter", rs_distinct)),
        ("delegated-cached-rs256", "jwt_authn (cache) + filter, RS256 one token",
         bearer("delegated-cached", [rs_one])),
        ("delegated-rs256-distinct", "jwt_authn + filter, RS256 distinct tokens", bearer("delegated", rs_distinct)),
    ]


# --- runs --------------------------------------------------------------------------------------

def interleave(scenarios: list[tuple[str, str, Shape]], args) -> list[dict]:
    """The pinned layout: servers on SERVER_CPU, wrk -t1 on LOAD_CPU."""
    return load.interleave(scenarios, rounds=args.rounds, seconds=args.seconds, connections=args.connections,
                           cpu=LOAD_CPU, log=log)


def rate_limit_trials(run_dir: Path, material: edge.Material, trials: int) -> list[int]:
    """Envoy with 2 workers; per trial a fresh subject limited to 25 requests, 60 sent at once.
    Returns how many each trial admitted."""
    limit, sent = 25, 60
    config = edge.filter_config(material)
    config["rate_limit"]["subjects"] = {f"rl_trial_{i}": {"requests": limit, "per_seconds": 3600}
                                        for i in range(trials)}
    wasm = edge.wasm_filter(material, stacks.FILTER_WASM)
    wasm["typed_config"]["config"]["configuration"]["value"] = json.dumps(config)
    envoys = Envoys(run_dir, material, {"ratelimit": [wasm]}, concurrency=2, cpu=None)
    admitted = []
    try:
        for trial in range(trials):
            token = material.token("HS256", subject=f"rl_trial_{trial}")
            statuses: list[int] = []
            barrier = threading.Barrier(sent)

            def one() -> None:
                barrier.wait()
                status, _ = load.request(envoys.url("ratelimit"), "GET", "",
                                     {"authorization": f"Bearer {token}"})
                statuses.append(status)

            threads = [threading.Thread(target=one) for _ in range(sent)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert set(statuses) <= {200, 429}, statuses
            admitted.append(statuses.count(200))
    finally:
        envoys.stop()
    return [a / limit for a in admitted]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--distinct-tokens", type=int, default=20000)
    parser.add_argument("--smoke", action="store_true", help="one short round; results to a temporary folder")
    parser.add_argument("--out", type=Path, help="results folder (default docs/bench, or a temporary one with --smoke)")
    parser.add_argument("--backend", type=Path, default=RELEASE_BACKEND)
    parser.add_argument("--only", choices=PARTS, action="append",
                        help="run only this part (repeatable); results go to a temporary folder")
    parser.add_argument("--layout", choices=[layout.name for layout in devstack.LAYOUTS], action="append",
                        help="the dev stack part in this layout only (repeatable; default both)")
    args = parser.parse_args()
    parts = args.only or PARTS
    if args.smoke:
        args.rounds, args.seconds, args.distinct_tokens = 1, 1, 50
    partial = args.smoke or args.only or args.layout
    out = args.out or (Path(tempfile.mkdtemp(prefix="bench-out-")) if partial else ROOT / "docs" / "bench")
    out.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="bench-run-"))
    material = edge.Material.generate()
    results: dict = {"rounds": args.rounds, "seconds": args.seconds, "connections": args.connections}

    if "edge" in parts:
        log("edge: Envoy alone / no-op wasm / native chain / filter, trivial upstream")
        envoys = Envoys(run_dir, material, edge.configurations(material, stacks.FILTER_WASM, NOOP_WASM))
        try:
            results["edge"] = interleave(edge_scenarios(envoys, material, args.distinct_tokens), args)
            results["envoy_memory_kib"] = {name: envoys.memory(name) for name in ("none", "noop", "filter")}
        finally:
            envoys.stop()
        results["wasm_bytes"] = stacks.FILTER_WASM.stat().st_size
    if "ratelimit" in parts:
        log("rate limit: 10 trials at --concurrency 2")
        results["rate_limit_admitted_over_limit"] = rate_limit_trials(run_dir, material, 10)
    if "vault" in parts:
        vault(results, run_dir, args)
    if "registry" in parts:
        registry_scale(results, run_dir, args, material)
    if "devstack" in parts:
        devstack.run(results, run_dir, args, log)
    write(results, out, update_doc=not partial and args.out is None)
    log(f"results in {out}")


def vault(results: dict, run_dir: Path, args) -> None:
    log("Vault: direct OpenBao / bridge REST / bridge MCP")
    stack = stacks.Stack(run_dir=run_dir / "stack", ports=stacks.Ports.free(), envoy_concurrency=1,
                         backend_bin=args.backend,
                         cpus={n: SERVER_CPU for n in ("postgres", "openbao", "backend", "envoy", "jwks")})
    try:
        stack.start()
        backend_pid = stack.processes["backend"].pid
        results["backend_idle_kib"] = memory_kib(backend_pid)
        results["vault"] = interleave(kv_scenarios(stack), args)
        rest = next(s for n, _, s in kv_scenarios(stack) if n == "rest")
        log("backend under 64 connections")
        loaded = wrk(rest, seconds=args.seconds, connections=64, cpu=LOAD_CPU)
        results["backend_64_connections"] = {"memory_kib": memory_kib(backend_pid), "rps": loaded.rps,
                                             "errors": loaded.non_2xx + loaded.socket_errors}
    finally:
        stack.stop()


def registry_scale(results: dict, run_dir: Path, args, material: edge.Material) -> None:
    many = 500 if args.smoke else registry.AGENTS
    log(f"registry: the filter with 4 agents against {many:,}; the backend's snapshot")
    folder = run_dir / "registry"
    folder.mkdir()
    sizes = {}
    for count in (4, many):
        document = json.dumps(registry.snapshot(count), separators=(",", ":"))
        (folder / f"{count}.json").write_text(document)
        sizes[count] = len(document)
    port = stacks.free_ports(1)[0]
    server = registry.serve_files(folder, port, SERVER_CPU)
    configs = {"registry-4": [registry.filter_entry(material, port, "/4.json")],
               "registry-10k": [registry.filter_entry(material, port, f"/{many}.json")]}
    envoys = Envoys(run_dir, material, configs, clusters=[registry.cluster(port)])
    api_key = {"x-api-key": edge.API_KEY}
    try:
        for name in configs:
            stacks.wait_until(f"{name} snapshot", lambda n=name: stacks.http_status(envoys.url(n), headers=api_key) == 200,
                              envoys.processes[name], run_dir / f"envoy-{name}.log")
        shapes = [("registry-4", "filter, API key, 4 agents in the registry", Shape(envoys.url("registry-4"), headers=api_key)),
                  ("registry-10k", f"filter, API key, {many:,} agents in the registry",
                   Shape(envoys.url("registry-10k"), headers=api_key))]
        results["registry_edge"] = interleave(shapes, args)
        results["registry_envoy_memory_kib"] = {name: envoys.memory(name) for name in configs}
    finally:
        envoys.stop()
        stacks.stop_process(server.pid, server)
    results["registry_snapshot_bytes"] = {"few": sizes[4], "many": sizes[many], "agents": many}
    stack = stacks.Stack(run_dir=run_dir / "registry-stack", ports=stacks.Ports.free(), backend_bin=args.backend)
    try:
        stack.start()
        results["registry_backend"] = registry.backend_fetch_times(stack, log, many)
    finally:
        stack.stop()


def goals(results: dict) -> list[report.Goal]:
    """The goal table of issue #6, for the parts that ran."""
    out = []
    if "edge" in results:
        rps = {r["name"]: report.median(r["rps"]) for r in results["edge"]}
        mem = results["envoy_memory_kib"]
        envoy_extra_mb = (mem["filter"]["VmRSS"] - mem["none"]["VmRSS"]) / 1024
        wasm_mb = results["wasm_bytes"] / 1e6
        out += [
            report.ratio_goal("filter API key / Envoy no filter, req/s", rps["filter-apikey"] / rps["none"],
                              at_least=0.85),
            report.ratio_goal("filter HS256 / Envoy no filter", rps["filter-hs256"] / rps["none"], at_least=0.82),
            report.ratio_goal("filter RS256 one token (its verified-token cache) / native chain with its JWT cache",
                              rps["filter-rs256"] / rps["native-cached-rs256"], at_least=1.0),
            report.ratio_goal("jwt_authn (cache) + filter, RS256 one token / native chain with its JWT cache",
                              rps["delegated-cached-rs256"] / rps["native-cached-rs256"], at_least=1.0),
            report.ratio_goal("filter RS256 distinct tokens (in wasm) / native chain without cache",
                              rps["filter-rs256-distinct"] / rps["native-rs256"], at_least=0.5),
            report.ratio_goal("jwt_authn + filter, RS256 distinct tokens / native chain without cache",
                              rps["delegated-rs256-distinct"] / rps["native-rs256"], at_least=0.5),
            report.Goal("Envoy memory with the filter − without", "≤ +50 MB", envoy_extra_mb,
                        envoy_extra_mb <= 50, f"{envoy_extra_mb:+.1f} MB"),
            report.Goal(".wasm size", "≤ 1 MB", wasm_mb, wasm_mb <= 1.0, f"{wasm_mb:.2f} MB"),
        ]
    if "rate_limit_admitted_over_limit" in results:
        trials = results["rate_limit_admitted_over_limit"]
        out.append(report.Goal("rate limit at --concurrency 2: admitted / limit, 10 trials",
                               "exactly 1.0 every time", None, all(t == 1.0 for t in trials),
                               " ".join(f"{t:g}" for t in trials)))
    if "vault" in results:
        rps = {r["name"]: report.median(r["rps"]) for r in results["vault"]}
        p50 = {r["name"]: r["p50_us"] for r in results["vault"]}
        idle_mb = results["backend_idle_kib"]["VmRSS"] / 1024
        loaded_mb = results["backend_64_connections"]["memory_kib"]["VmHWM"] / 1024
        out += [
            report.ratio_goal("bridge REST KV read through Envoy / direct OpenBao KV read, req/s",
                              rps["rest"] / rps["openbao"], at_least=0.7),
            report.ratio_goal("MCP tools/call kv.read / REST GET, median latency", p50["mcp"] / p50["rest"],
                              at_most=1.2),
            report.Goal("backend RSS idle", "≤ 30 MB", idle_mb, idle_mb <= 30, f"{idle_mb:.1f} MB"),
            report.Goal("backend RSS peak under 64 connections", "≤ 80 MB", loaded_mb, loaded_mb <= 80,
                        f"{loaded_mb:.1f} MB"),
        ]
    if "registry_edge" in results:
        rps = {r["name"]: report.median(r["rps"]) for r in results["registry_edge"]}
        many = results["registry_snapshot_bytes"]["agents"]
        out.append(report.ratio_goal(f"filter API key with {many:,} registered agents / with 4, req/s",
                                     rps["registry-10k"] / rps["registry-4"], at_least=0.95))
    return out + devstack.goals(results)


def write(results: dict, out: Path, update_doc: bool) -> None:
    sections = ["| measure | goal | measured | |\n|---|---|---|---|\n"
                + "".join(g.row() + "\n" for g in goals(results))]
    groups = []
    if "edge" in results:
        mem = results["envoy_memory_kib"]
        sections.append(report.scenario_table("Edge (trivial upstream)", results["edge"], "none")
                        + "\nEnvoy RSS after the edge runs: "
                        + ", ".join(f"{name} {m['VmRSS'] / 1024:.1f} MB" for name, m in mem.items()) + ".\n")
        groups.append(("Edge, trivial upstream (requests/s, higher is better)",
                       [(r["description"], report.median(r["rps"])) for r in results["edge"]]))
    if "vault" in results:
        loaded = results["backend_64_connections"]
        sections.append(report.scenario_table("Vault reads", results["vault"], "openbao")
                        + f"\nBackend under 64 connections: {loaded['rps']:,.0f} req/s, "
                        f"{loaded['errors']} errors.\n")
        groups.append(("Vault KV read (requests/s, higher is better)",
                       [(r["description"], report.median(r["rps"])) for r in results["vault"]]))
    if "registry_edge" in results:
        mem = results["registry_envoy_memory_kib"]
        backend = results["registry_backend"]
        sizes = results["registry_snapshot_bytes"]
        sections.append(
            report.scenario_table("Agent registry at the edge", results["registry_edge"], "registry-4")
            + "\nEnvoy RSS after the run: "
            + ", ".join(f"{name} {m['VmRSS'] / 1024:.1f} MB" for name, m in mem.items())
            + f". Snapshot: {sizes['few']:,} bytes for 4 agents, {sizes['many']:,} for {sizes['agents']:,}.\n"
            + f"\nBackend, `GET /_bridge/registry` with {backend['agents']:,} records in OpenBao "
            f"({backend['snapshot_bytes']:,} bytes): first call (every record read) "
            f"{backend['full_read_ms']:,.0f} ms; after one change {report.median(backend['catch_up_ms']):,.0f} ms, "
            f"unchanged {report.median(backend['cached_ms']):.1f} ms, 304 {report.median(backend['not_modified_ms']):.1f} ms "
            f"(medians of 3).\n")
    sections += devstack.tables(results)
    markdown = "\n".join(sections)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "results.md").write_text(markdown)
    (out / "chart.svg").write_text(report.svg_chart(groups))
    print(markdown)
    if update_doc:
        docsections.replace(DOC, BEGIN, END, f"{markdown}\n![benchmark chart](bench/chart.svg)")

if __name__ == "__main__":
    main()

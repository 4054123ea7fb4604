"""Measure what ships (issue #15): the stack `scripts/dev-stack up` runs — its rendered
envoy.yaml with the filter JSON it ships (agent registry, remote JWKS, the assertion, per-agent
limits), the release backend writing its logs, OpenBao with its audit log — in two layouts:

- *pinned*: like every other part of the harness, servers on one core (Envoy --concurrency 1)
  and `wrk -t1 -c16` on the other;
- *unpinned*: as a user runs it, Envoy with the dev stack's two workers, nothing pinned, and
  `wrk -t2 -c32`, so load generator and servers share both cores.

Each layout measures `/healthz` through that Envoy with an API key, through the same
configuration with the filter counting locally only (no question to the rate-limit service:
what the global count adds), with the no-op wasm filter in its place and with the wasm filter
taken out, and from the backend alone; a KV read straight from OpenBao, the same read proxied by
the Envoy without the filter (what Envoy alone costs per read: the floor of any bridge behind
it), through the bridge's REST route and as MCP `tools/call kv.read`; a Transit encrypt through
the REST route. For every
scenario, each serving process's CPU time per request (from /proc: Envoy, the backend, OpenBao,
the rate-limit service and Redis), which splits the cost between them and, unlike requests/s,
barely depends on who else runs (issue #27). Then the backend's log folder after a million
requests, against the cap its settings give."""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

import edge
import load
import report
import stack as stacks
from load import Shape
from vault_reads import check, kv_scenarios


@dataclass(frozen=True)
class Layout:
    name: str
    description: str
    envoy_concurrency: int
    server_cpu: str | None
    load_cpu: str | None
    threads: int
    connections: int


LAYOUTS = [
    Layout("pinned", "servers on core 0 (Envoy --concurrency 1), wrk -t1 -c16 on core 1", 1, "0", "1", 1, 16),
    Layout("unpinned", "as `scripts/dev-stack up` runs it (Envoy --concurrency 1), nothing pinned, wrk -t2 -c32",
           1, None, None, 2, 32),
]
SERVERS = ("postgres", "openbao", "backend", "envoy", "jwks", "redis", "ratelimit")
#: What the log measurement sends to the backend before weighing its log folder.
LOGGED_REQUESTS = 1_000_000


#: The floor of any wasm filter: one that does nothing (bench/noop-filter).
NOOP_WASM = stacks.ROOT / "target" / "wasm32-wasip1" / "wasm" / "bench_noop_filter.wasm"
#: The filter built with `--features step-timing` (its own target folder, so the shipped .wasm
#: is never the instrumented one): it logs where each request's time goes inside the VM.
STEP_TARGET = stacks.ROOT / "target" / "step-timing"
STEP_WASM = STEP_TARGET / "wasm32-wasip1" / "wasm" / "vault_mcp_filter.wasm"


class VariantEnvoy:
    """The stack's own rendered envoy.yaml on ports of its own, with the wasm filter removed
    (`wasm=None`) or running other code (the no-op filter): the same listener, routes, CORS,
    clusters and worker count. `local_limits`: the shipped filter without `rate_limit.global`."""

    def __init__(self, stack: stacks.Stack, name: str, cpu: str | None, wasm: Path | None,
                 local_limits: bool = False):
        config = yaml.safe_load((stack.run_dir / "envoy.yaml").read_text())
        chain = stacks.http_filters(config)
        if wasm is None:
            chain[:] = [f for f in chain if f["name"] != "vault_mcp_filter"]
            route_vault_to_openbao(config, stack)
        else:
            entry = next(f for f in chain if f["name"] == "vault_mcp_filter")["typed_config"]["config"]
            entry["vm_config"]["code"]["local"]["filename"] = str(wasm)
            if local_limits:
                policy = json.loads(entry["configuration"]["value"])
                policy["rate_limit"].pop("global")
                entry["configuration"]["value"] = json.dumps(policy)
        self.port, admin = stacks.free_ports(2)
        config["admin"]["address"]["socket_address"]["port_value"] = admin
        for listener in config["static_resources"]["listeners"]:
            if listener["name"] == "agents":
                listener["address"]["socket_address"]["port_value"] = self.port
        path = stack.run_dir / f"envoy-{name}.yaml"
        path.write_text(yaml.safe_dump(config))
        argv = [str(stacks.VENV_BIN / "envoy"), "-c", str(path), "--concurrency", str(stack.envoy_concurrency),
                "--use-dynamic-base-id", "--log-level", "warn"]
        if cpu is not None:
            argv = ["taskset", "-c", cpu, *argv]
        self.log = stack.logs / f"envoy-{name}.log"
        # The VM reads these whatever code it runs.
        env = {**os.environ, "JWT_HS256_SECRET": stack.secrets.hs256_secret,
               "AGENT_ASSERTION_KEY": stack.secrets.assertion_key}
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            env=env, start_new_session=True)
        # With the key, so that a variant running the real filter (step timing) is ready too.
        stacks.wait_until(f"Envoy {name}", lambda: stacks.http_status(
            f"{self.url}/healthz", headers={"x-api-key": edge.API_KEY}) == 200, self.process, self.log)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        stacks.stop_process(self.process.pid, self.process)


def route_vault_to_openbao(config: dict, stack: stacks.Stack) -> None:
    """Sends `/v1/…` (Vault's API, no route of the bridge's) to OpenBao: the Envoy without the
    filter then proxies a direct KV read, the least an Envoy in front of Vault costs per read."""
    config["static_resources"]["clusters"].append({
        "name": "openbao", "type": "STATIC", "connect_timeout": "1s",
        "load_assignment": {"cluster_name": "openbao", "endpoints": [{"lb_endpoints": [{"endpoint": {
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": stack.ports.openbao}}}}]}]}})
    host = stacks.connection_manager(config)["route_config"]["virtual_hosts"][0]
    host["routes"].insert(0, {"match": {"prefix": "/v1/"}, "route": {"cluster": "openbao"}})


def scenarios(stack: stacks.Stack, local: VariantEnvoy, bare: VariantEnvoy,
              noop: VariantEnvoy) -> list[tuple[str, str, Shape]]:
    healthz = [
        ("healthz-filter", "dev Envoy + filter, API key: GET /healthz",
         Shape(f"{stack.envoy_url}/healthz", headers={"x-api-key": edge.API_KEY})),
        ("healthz-local", "the same, limits counted by this Envoy alone (no rate-limit service): GET /healthz",
         Shape(f"{local.url}/healthz", headers={"x-api-key": edge.API_KEY})),
        ("healthz-noop", "the same Envoy, the no-op wasm filter in its place: GET /healthz",
         Shape(f"{noop.url}/healthz", headers={"x-api-key": edge.API_KEY})),
        ("healthz-bare", "the same Envoy without the filter: GET /healthz", Shape(f"{bare.url}/healthz")),
        ("healthz-backend", "the backend alone: GET /healthz", Shape(f"{stack.backend_url}/healthz")),
    ]
    check(healthz)
    reads = kv_scenarios(stack)
    direct = next(shape for name, _, shape in reads if name == "openbao")
    proxied = ("openbao-envoy", "the same read through the Envoy without the filter (proxying alone)",
               Shape(direct.url.replace(stack.openbao_url, bare.url), headers=direct.headers))
    check([proxied], b"benchmark")
    return healthz + reads + [proxied, transit_scenario(stack)]


def transit_scenario(stack: stacks.Stack) -> tuple[str, str, Shape]:
    """A Transit encrypt with the agent's own key, through the bridge's REST route."""
    shape = Shape(f"{stack.envoy_url}/transit/encrypt", method="POST",
                  headers={"x-api-key": edge.API_KEY, "content-type": "application/json"},
                  body=json.dumps({"text": "benchmark"}).encode())
    check([("transit", "", shape)], b"vault:v")
    return "transit", "bridge REST POST /transit/encrypt through Envoy", shape


#: Which processes serve each scenario (their CPU time per request is recorded): the Envoy it
#: goes through, the backend, OpenBao, and the rate-limit service and Redis where the filter asks them.
SERVED_BY = {
    "healthz-filter": ("envoy", "backend", "ratelimit", "redis"),
    "healthz-local": ("envoy", "backend"),
    "healthz-noop": ("envoy", "backend"),
    "healthz-bare": ("envoy", "backend"),
    "healthz-backend": ("backend",),
    "openbao-root": ("openbao",),
    "openbao": ("openbao",),
    "openbao-plain": ("openbao",),
    "openbao-envoy": ("envoy", "openbao"),
    "rest": ("envoy", "backend", "openbao", "ratelimit", "redis"),
    "mcp": ("envoy", "backend", "openbao", "ratelimit", "redis"),
    "transit": ("envoy", "backend", "openbao", "ratelimit", "redis"),
}


def variant_envoys(stack: stacks.Stack, cpu: str | None) -> list[VariantEnvoy]:
    """The stack's Envoy configuration counting locally, without the wasm filter and with the
    no-op one, in that order (all stopped should one fail to start)."""
    started: list[VariantEnvoy] = []
    try:
        started.append(VariantEnvoy(stack, "local-limits", cpu, stacks.FILTER_WASM, local_limits=True))
        started.append(VariantEnvoy(stack, "without-filter", cpu, None))
        started.append(VariantEnvoy(stack, "noop-filter", cpu, NOOP_WASM))
    except BaseException:
        for envoy in started:
            envoy.stop()
        raise
    return started


def serving_processes(stack: stacks.Stack, local: VariantEnvoy, bare: VariantEnvoy,
                      noop: VariantEnvoy) -> dict[str, dict[str, int]]:
    """Scenario → the pids of the processes that serve it (SERVED_BY), each through its own Envoy."""
    pids = {"envoy": load.descendant(stack.processes["envoy"].pid, "envoy"), "backend": stack.processes["backend"].pid,
            **{name: stack.processes[name].pid for name in ("openbao", "ratelimit", "redis")}}
    variants = {"healthz-local": local, "healthz-noop": noop, "healthz-bare": bare, "openbao-envoy": bare}
    return {scenario: {name: variants[scenario].process.pid if name == "envoy" and scenario in variants
                       else pids[name] for name in names}
            for scenario, names in SERVED_BY.items()}


def run(results: dict, run_dir: Path, args, log) -> None:
    for layout in LAYOUTS:
        if args.layout and layout.name not in args.layout:
            continue
        log(f"dev stack, {layout.name}: {layout.description}")
        cpus = {name: layout.server_cpu for name in SERVERS} if layout.server_cpu else {}
        stack = stacks.Stack(run_dir=run_dir / f"devstack-{layout.name}", ports=stacks.Ports.free(),
                             backend_bin=args.backend, envoy_concurrency=layout.envoy_concurrency, cpus=cpus)
        envoys: list[VariantEnvoy] = []
        try:
            stack.start()
            results[f"devstack_{layout.name}_backend_idle_kib"] = load.memory_kib(stack.processes["backend"].pid)
            envoys = variant_envoys(stack, layout.server_cpu)
            local, bare, noop = envoys
            results[f"devstack_{layout.name}"] = load.interleave(
                scenarios(stack, local, bare, noop), rounds=args.rounds, seconds=args.seconds,
                connections=layout.connections, cpu=layout.load_cpu, threads=layout.threads, log=log,
                processes=serving_processes(stack, local, bare, noop))
            if layout.name == "pinned":
                results["devstack_steps"] = steps(stack, layout, args, log)
            if layout.name == "unpinned":
                results["devstack_logs"] = logged(stack, args.smoke, log)
        finally:
            for envoy in envoys:
                envoy.stop()
            stack.stop()


def build_step_wasm() -> Path:
    subprocess.run(["cargo", "build", "--quiet", "-p", "vault-mcp-filter", "--target", "wasm32-wasip1",
                    "--profile", "wasm", "--features", "step-timing", "--target-dir", str(STEP_TARGET)],
                   cwd=stacks.ROOT, check=True)
    return STEP_WASM


#: One report of the instrumented filter (filter/src/wasm/timing.rs): `name=ns/calls` pairs.
STEP_REPORT = re.compile(r"step-timing requests=(\d+) (.*)$")


def steps(stack: stacks.Stack, layout: Layout, args, log) -> dict:
    """The dev configuration with the instrumented filter, under the layout's load: the mean
    nanoseconds per request of each step of `on_http_request_headers` (median over the
    filter's reports, each over 500 requests; the first is left out as warm-up)."""
    log("dev stack, pinned: where the filter's time goes (step-timing build)")
    envoy = VariantEnvoy(stack, "step-timing", layout.server_cpu, build_step_wasm())
    try:
        shape = Shape(f"{envoy.url}/healthz", headers={"x-api-key": edge.API_KEY})
        check([("steps", "step timing", shape)])
        before = load.cpu_seconds(envoy.process.pid)
        # At least 3 s, so that even a smoke run gets past the warm-up report.
        served = sum(load.wrk(shape, seconds=max(args.seconds, 3), connections=layout.connections, cpu=layout.load_cpu,
                              threads=layout.threads).requests for _ in range(args.rounds))
        cpu_us = (load.cpu_seconds(envoy.process.pid) - before) * 1e6 / served
    finally:
        envoy.stop()
    reports = [dict(pair.split("=") for pair in m.group(2).split())
               for m in map(STEP_REPORT.search, envoy.log.read_text().splitlines()) if m]
    assert reports, f"no step-timing report in {envoy.log}"
    kept = reports[1:] or reports
    out = {"requests": served, "reports": len(kept), "envoy_cpu_us": cpu_us, "steps": {}}
    for name in kept[0]:
        ns = [int(r[name].split("ns/")[0]) for r in kept]
        calls = [float(r[name].split("ns/")[1]) for r in kept]
        out["steps"][name] = {"ns": statistics.median(ns), "calls": statistics.median(calls)}
    return out


def logged(stack: stacks.Stack, smoke: bool, log) -> dict:
    """Sends LOGGED_REQUESTS requests (a few seconds' worth with --smoke) to the backend's
    `/healthz`, each logged twice (requests.log, responses.log), and weighs the log folder."""
    folder = stack.logs / "backend"
    shape = Shape(f"{stack.backend_url}/healthz")
    sent, target = 0, 10_000 if smoke else LOGGED_REQUESTS
    while sent < target:
        sent += load.wrk(shape, seconds=1 if smoke else 10, connections=32, cpu=None, threads=2).requests
        log(f"logs: {sent:,} requests sent")
    settings = log_settings(stack.backend_bin)
    logs = ("requests.log", "responses.log", "server.log")
    cap = len(logs) * (settings["log_keep"] + 1) * settings["log_max_mb"] * 1024 * 1024
    return {"requests": sent, "bytes": sum(p.stat().st_size for p in folder.iterdir()), "cap_bytes": cap,
            "files": sorted(p.name for p in folder.iterdir()), **settings}


def log_settings(backend: Path) -> dict:
    """LOG_MAX_MB and LOG_KEEP as the backend resolves them (its defaults unless this
    environment sets them, which the stack passes on), from its own `check-config`."""
    env = {**os.environ, "VAULT_TOKEN": "unused", "AGENT_ASSERTION_KEY": "k" * 32}
    env.pop("APP_CONFIG_FILE", None)
    done = subprocess.run([str(backend), "check-config"], env=env, cwd="/", capture_output=True, text=True,
                          check=True)
    summary = json.loads(done.stdout)
    return {"log_max_mb": summary["log_max_mb"], "log_keep": summary["log_keep"]}


def cpu(row: dict, process: str) -> float:
    """The median over the rounds of `process`'s CPU µs per request of this scenario."""
    return report.median(row.get("cpu_us", {}).get(process, []))


def bridge_cpu(row: dict) -> float:
    """The bridge's own CPU per request: Envoy and the backend (issue #27's measure)."""
    return cpu(row, "envoy") + cpu(row, "backend")


def goals(results: dict) -> list[report.Goal]:
    """The goal tables of issues #15 and #27, for the layouts that ran."""
    out = []
    for layout in LAYOUTS:
        rows = results.get(f"devstack_{layout.name}")
        if rows is None:
            continue
        named = {r["name"]: r for r in rows}
        rps = {r["name"]: report.median(r["rps"]) for r in rows}
        p50 = {r["name"]: r["p50_us"] for r in rows}
        filter_own = cpu(named["healthz-filter"], "envoy") - cpu(named["healthz-noop"], "envoy")
        out += [
            report.ratio_goal(f"{layout.name}: dev Envoy with the filter and an API key / the same Envoy "
                              "without the filter, `/healthz` req/s",
                              rps["healthz-filter"] / rps["healthz-bare"],
                              at_least=0.9 if layout.name == "pinned" else 0.8),
            report.Goal(f"{layout.name}: the filter's Envoy CPU per `/healthz` request as the dev stack runs it "
                        "(its question to the rate-limit service included), over the no-op wasm filter", "≤ 10 µs",
                        filter_own, filter_own <= 10, f"{filter_own:+.0f} µs"),
            report.ratio_goal(f"{layout.name}: the bridge's own CPU (Envoy + backend) per REST KV read / "
                              "OpenBao's CPU per direct read (the agent's token)",
                              bridge_cpu(named["rest"]) / cpu(named["openbao"], "openbao"), at_most=0.5),
            report.ratio_goal(f"{layout.name}: the bridge's own CPU per MCP `kv.read` / per REST read",
                              bridge_cpu(named["mcp"]) / bridge_cpu(named["rest"]), at_most=1.2),
            report.ratio_goal(f"{layout.name}: bridge REST KV read / direct OpenBao KV read, req/s",
                              rps["rest"] / rps["openbao"], at_least=0.8 if layout.name == "pinned" else 0.7),
            report.ratio_goal(f"{layout.name}: MCP tools/call kv.read / REST read, median latency",
                              p50["mcp"] / p50["rest"], at_most=1.2),
        ]
    if "devstack_logs" in results:
        logs = results["devstack_logs"]
        out.append(report.Goal(f"backend log bytes on disk after {logs['requests']:,} requests", "≤ the configured cap",
                               logs["bytes"], logs["bytes"] <= logs["cap_bytes"],
                               f"{logs['bytes'] / 2**20:,.0f} MB of {logs['cap_bytes'] / 2**20:,.0f} MB"))
    return out


#: The columns of the CPU table: each process that may serve a request.
COLUMNS = (("envoy", "Envoy"), ("backend", "backend"), ("ratelimit", "rate-limit service"), ("redis", "Redis"),
           ("openbao", "OpenBao"))


#: The bridge's KV reads, which the direct KV read is the measure of.
KV_READS = ("rest", "mcp")


def cpu_table(title: str, rows: list[dict]) -> str:
    """CPU µs per request of each process (median of the rounds), and the bridge's own part."""
    direct = next(cpu(r, "openbao") for r in rows if r["name"] == "openbao")
    lines = [f"#### {title}", "",
             "| scenario | " + " | ".join(label for _, label in COLUMNS)
             + " | bridge (Envoy + backend) | bridge ÷ OpenBao's direct KV read |",
             "|---|" + "---:|" * (len(COLUMNS) + 2)]
    for row in rows:
        cells = [f"{cpu(row, name):.0f}" if name in row.get("cpu_us", {}) else "–" for name, _ in COLUMNS]
        own = f"{bridge_cpu(row):.0f}" if {"envoy", "backend"} <= row.get("cpu_us", {}).keys() else "–"
        ratio = f"{bridge_cpu(row) / direct:.2f}" if row["name"] in KV_READS else "–"
        lines.append(f"| {row['description']} | " + " | ".join(cells) + f" | {own} | {ratio} |")
    return "\n".join(lines) + "\n"


def tables(results: dict) -> list[str]:
    out = []
    for layout in LAYOUTS:
        rows = results.get(f"devstack_{layout.name}")
        if rows is None:
            continue
        healthz = [r for r in rows if r["name"].startswith("healthz-")]
        reads = [r for r in rows if not r["name"].startswith("healthz-")]
        named = {r["name"]: r for r in rows}
        envoy = {name: cpu(named[name], "envoy") for name in ("healthz-filter", "healthz-local", "healthz-noop",
                                                               "healthz-bare")}
        split = (f"\nEnvoy's CPU time per `/healthz` request (median of the rounds): "
                 f"{envoy['healthz-bare']:.0f} µs without a filter, {envoy['healthz-noop']:.0f} µs with the no-op "
                 f"wasm filter ({envoy['healthz-noop'] - envoy['healthz-bare']:+.0f} µs: Envoy's wasm runtime), "
                 f"{envoy['healthz-local']:.0f} µs with ours counting locally "
                 f"({envoy['healthz-local'] - envoy['healthz-noop']:+.0f} µs: the filter's own work and host calls), "
                 f"{envoy['healthz-filter']:.0f} µs with ours asking the rate-limit service "
                 f"({envoy['healthz-filter'] - envoy['healthz-local']:+.0f} µs: the gRPC call), which spends "
                 f"{cpu(named['healthz-filter'], 'ratelimit'):.0f} µs and Redis "
                 f"{cpu(named['healthz-filter'], 'redis'):.0f} µs per request.\n")
        idle = results[f"devstack_{layout.name}_backend_idle_kib"]["VmRSS"] / 1024
        out_of = cpu(named["openbao"], "openbao")
        proxying, answering = cpu(named["openbao-envoy"], "envoy"), cpu(named["healthz-bare"], "backend")
        floor = (f"\nThe least any bridge behind this Envoy could spend per read: Envoy proxying the direct "
                 f"read with no filter ({proxying:.0f} µs) and a backend answering without a Vault call "
                 f"(`/healthz`, {answering:.0f} µs), {(proxying + answering) / out_of:.2f} of OpenBao's "
                 f"direct read, against the bridge's {bridge_cpu(named['rest']) / out_of:.2f}.\n")
        out.append(report.scenario_table(f"Dev stack, {layout.name}: {layout.description}", healthz, "healthz-bare")
                   + split + "\n" + report.scenario_table(f"Dev stack, {layout.name}: Vault calls", reads, "openbao")
                   + "\n" + cpu_table(f"Dev stack, {layout.name}: CPU µs per request, by process", rows) + floor
                   + f"\nBackend RSS idle, after start: {idle:.1f} MB.\n")
    if "devstack_steps" in results:
        out.append(steps_table(results["devstack_steps"]))
    if "devstack_logs" in results:
        logs = results["devstack_logs"]
        out.append(f"Backend logs (LOG_MAX_MB {logs['log_max_mb']:g}, LOG_KEEP {logs['log_keep']}) after "
                   f"{logs['requests']:,} requests to `/healthz`: {logs['bytes']:,} bytes in "
                   f"{', '.join(logs['files'])}.\n")
    return out


#: What each step of the timing report covers (filter/src/wasm/timing.rs).
STEP_MEANING = {
    "callback": "the whole `on_http_request_headers` callback",
    "read_headers": "`get_http_request_headers`: every request header copied into the VM",
    "properties": "connection/metadata properties (mTLS, `jwt_authn`), when configured",
    "snapshots": "the JWKS and registry snapshots the request is decided with",
    "clock": "the request's clock read",
    "decision": "`decision::on_headers`: credential, scopes, limits, assertion (shared data included)",
    "shared_data": "of which shared-data calls (the rate limiter's slots)",
    "rewrite": "header removals and sets, one host call each",
    "clock_pair": "two clock reads back to back: what one measurement adds to each step",
}


def steps_table(steps: dict) -> str:
    rows = "".join(f"| {name} | {STEP_MEANING.get(name, '')} | {s['ns'] / 1000:.1f} | {s['calls']:g} |\n"
                   for name, s in steps["steps"].items())
    return ("#### Dev stack, pinned: the filter's time per request inside the VM (`--features step-timing`)\n\n"
            "| step | what | µs per request | calls per request |\n|---|---|---:|---:|\n" + rows
            + f"\n{steps['requests']:,} requests, {steps['reports']} reports of 500 requests; that Envoy's CPU time "
            f"{steps['envoy_cpu_us']:.0f} µs per request (the instrumentation's clock reads included).\n")

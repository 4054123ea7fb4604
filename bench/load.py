"""Driving load with wrk and reading processes' memory: one request shape per scenario,
scenarios interleaved round by round."""

from __future__ import annotations

import http.client
import json
import os
import statistics
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

LUA = Path(__file__).resolve().parent / "wrk" / "request.lua"


@dataclass
class Shape:
    """What one benchmark sends: the same request every time, except a credential that may
    cycle through a list (distinct tokens)."""

    url: str
    method: str = "GET"
    headers: dict = field(default_factory=dict)
    body: bytes | None = None
    credential_header: str | None = None
    credential_prefix: str = ""
    credentials: list[str] = field(default_factory=list)


@dataclass
class Result:
    requests: int
    duration_us: int
    non_2xx: int
    socket_errors: int
    p50_us: int
    p90_us: int
    p99_us: int
    mean_us: float

    @property
    def rps(self) -> float:
        return self.requests / (self.duration_us / 1e6)


def wrk(shape: Shape, *, seconds: float, connections: int, cpu: str | None, threads: int = 1) -> Result:
    """Runs `wrk -t{threads}` against `shape` (on `cpu`, or wherever the kernel puts it) and
    returns what its Lua `done` reported."""
    from urllib.parse import urlsplit

    parts = urlsplit(shape.url)
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        files = Path(tmp)
        (files / "headers").write_text("".join(f"{k}: {v}\n" for k, v in shape.headers.items()))
        (files / "credentials").write_text("".join(f"{c}\n" for c in shape.credentials))
        (files / "body").write_bytes(shape.body or b"")
        env = {
            **os.environ,
            "BENCH_METHOD": shape.method,
            "BENCH_PATH": parts.path + (f"?{parts.query}" if parts.query else ""),
            "BENCH_HEADERS": str(files / "headers"),
            "BENCH_CREDENTIALS": str(files / "credentials") if shape.credentials else "",
            "BENCH_CREDENTIAL_HEADER": shape.credential_header or "",
            "BENCH_CREDENTIAL_PREFIX": shape.credential_prefix,
            "BENCH_BODY": str(files / "body") if shape.body else "",
        }
        argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{round(seconds)}s", "--timeout", "10s",
                "-s", str(LUA), f"{parts.scheme}://{parts.netloc}"]
        if cpu is not None:
            argv = ["taskset", "-c", cpu, *argv]
        out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
    line = next(l for l in reversed(out.splitlines()) if l.startswith("{"))
    return Result(**json.loads(line))


def interleave(scenarios: list[tuple[str, str, Shape]], *, rounds: int, seconds: float, connections: int,
               cpu: str | None, log, threads: int = 1, processes: dict[str, dict[str, int]] | None = None) -> list[dict]:
    """Warm-up once each, then `rounds` rounds of A B C …; one row per scenario with each
    round's requests/s and the medians of its latency percentiles. `processes`: scenario →
    the processes that serve it (name → pid), whose CPU time per request is recorded too
    (`cpu_us[name]`, one value per round): a busy or shared machine disturbs it far less than
    requests/s."""
    rows = {name: {"name": name, "description": d, "rps": [], "p50": [], "p99": [], "errors": 0}
            for name, d, _ in scenarios}
    processes = {name: serving for name, serving in (processes or {}).items() if name in rows}
    for name, serving in processes.items():
        rows[name]["cpu_us"] = {process: [] for process in serving}
    options = {"connections": connections, "cpu": cpu, "threads": threads}
    for name, _, shape in scenarios:
        wrk(shape, seconds=min(2, seconds), **options)
    for round_ in range(rounds):
        for name, _, shape in scenarios:
            serving = processes.get(name, {})
            before = {process: cpu_seconds(pid) for process, pid in serving.items()}
            result = wrk(shape, seconds=seconds, **options)
            row = rows[name]
            for process, started in before.items():
                used = cpu_seconds(serving[process]) - started
                row["cpu_us"][process].append(used / max(result.requests, 1) * 1e6)
            row["rps"].append(result.rps)
            row["p50"].append(result.p50_us)
            row["p99"].append(result.p99_us)
            row["errors"] += result.non_2xx + result.socket_errors
            log(f"round {round_ + 1}: {name:24} {result.rps:9,.0f} req/s  p50 {result.p50_us} µs")
    for row in rows.values():
        row["p50_us"] = statistics.median(row.pop("p50"))
        row["p99_us"] = statistics.median(row.pop("p99"))
    return list(rows.values())


def request(url: str, method: str, path: str, headers: dict, body: bytes | None = None) -> tuple[int, bytes]:
    """One plain HTTP request (to set up or check a scenario)."""
    from urllib.parse import urlsplit
    parts = urlsplit(url + path)
    connection = http.client.HTTPConnection(parts.netloc, timeout=10)
    try:
        connection.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), body=body,
                           headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_kib(pid: int) -> dict[str, int]:
    """Resident set now (VmRSS) and at its peak (VmHWM), in KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def descendant(pid: int, name: str) -> int:
    """The process called `name` at or below `pid` (Envoy runs under a shell, see stack/services.py)."""
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            if Path(f"/proc/{current}/comm").read_text().strip() == name:
                return current
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        todo.extend(int(c) for c in children)
    raise LookupError(f"no {name} process under {pid}")

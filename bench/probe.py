"""A quick look at what one change costs (issue #27): the dev stack's configuration, unpinned,
with the same variant Envoys as `--only devstack` (counting locally, no-op filter, no filter),
and each scenario named on the command line driven for a few rounds while every serving
process's CPU time per request is read from /proc. Minutes where the full dev-stack part takes
ten; what it prints is for comparing two builds on the same machine one after the other (the
per-change steps in docs/PERFORMANCE.md were measured so; its tables come from `scripts/bench`).

    PYTHONPATH=scripts .venv/bin/python bench/probe.py [--backend BIN] [--rounds 3] rest mcp healthz-local
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import devstack
import load
import stack as stacks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="+", choices=sorted(devstack.SERVED_BY))
    parser.add_argument("--backend", type=Path, default=stacks.RELEASE_BACKEND_BIN)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, help="wrk's connections (default: the layout's 32)")
    parser.add_argument("--envoy-concurrency", type=int, help="Envoy's workers (default: the dev stack's)")
    parser.add_argument("--backend-env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for the backend (e.g. HTTP_WORKERS=1), over the dev stack's")
    args = parser.parse_args()
    layout = next(layout for layout in devstack.LAYOUTS if layout.name == "unpinned")
    stack = stacks.Stack(run_dir=Path(tempfile.mkdtemp(prefix="bench-probe-")), ports=stacks.Ports.free(),
                         backend_bin=args.backend,
                         backend_env=dict(setting.split("=", 1) for setting in args.backend_env),
                         envoy_concurrency=args.envoy_concurrency or layout.envoy_concurrency)
    envoys: list[devstack.VariantEnvoy] = []
    try:
        stack.start()
        envoys = devstack.variant_envoys(stack, None)
        shapes = {name: (name, description, shape)
                  for name, description, shape in devstack.scenarios(stack, *envoys)}
        processes = devstack.serving_processes(stack, *envoys)
        rows = load.interleave([shapes[name] for name in args.scenarios], rounds=args.rounds,
                               seconds=args.seconds, connections=args.connections or layout.connections, cpu=None,
                               threads=layout.threads, log=print, processes=processes)
    finally:
        for envoy in envoys:
            envoy.stop()
        stack.stop()
    for row in rows:
        cpu = "  ".join(f"{name} {statistics.median(values):.0f}" for name, values in row["cpu_us"].items())
        print(f"{row['name']:16} {statistics.median(row['rps']):8,.0f} req/s   CPU µs per request: {cpu}")


if __name__ == "__main__":
    main()

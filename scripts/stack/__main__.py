"""Command line of the stack package:
`PYTHONPATH=scripts .venv/bin/python -m stack compose-envoy | edge-envoy` writes the Envoy
configurations generated from envoy/envoy.yaml; `… -m stack rotate FILE PID MAX_MB KEEP` keeps
an append-only log of process PID bounded (see rotate.py)."""

import sys
from pathlib import Path

from .envoy import (COMPOSE_ENVOY_CONFIG, EDGE_ENVOY_CONFIG, render_committed_edge_config,
                    render_compose_envoy_config)
from .rotate import watch

args = sys.argv[1:]
if args == ["compose-envoy"]:
    COMPOSE_ENVOY_CONFIG.write_text(render_compose_envoy_config())
elif args == ["edge-envoy"]:
    EDGE_ENVOY_CONFIG.write_text(render_committed_edge_config())
elif len(args) == 5 and args[0] == "rotate" and int(args[4]) >= 1:
    watch(Path(args[1]), int(args[2]), float(args[3]), int(args[4]))
else:
    sys.exit("usage: python -m stack compose-envoy | edge-envoy | rotate FILE PID MAX_MB KEEP(>=1)")

"""Command line of the stack package:
`PYTHONPATH=scripts .venv/bin/python -m stack edge-envoy` writes the edge's Envoy configuration
generated from envoy/envoy.yaml; `… -m stack rotate FILE PID MAX_MB KEEP` keeps an append-only
log of process PID bounded (see rotate.py); `compose-setup` and `compose-provision` run
in the compose stack's `tools` image (see compose.py)."""

import sys
from pathlib import Path

from . import compose
from .envoy import EDGE_ENVOY_CONFIG, render_committed_edge_config
from .rotate import watch

args = sys.argv[1:]
if args == ["edge-envoy"]:
    EDGE_ENVOY_CONFIG.write_text(render_committed_edge_config())
elif len(args) == 5 and args[0] == "rotate" and int(args[4]) >= 1:
    watch(Path(args[1]), int(args[2]), float(args[3]), int(args[4]))
elif args == ["compose-setup"]:
    compose.setup()
elif args == ["compose-provision"]:
    compose.provision()
else:
    sys.exit("usage: python -m stack edge-envoy | rotate FILE PID MAX_MB KEEP(>=1) | compose-setup"
             " | compose-provision")

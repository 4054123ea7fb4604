"""Writes the Envoy configurations generated from envoy/envoy.yaml:
`PYTHONPATH=scripts .venv/bin/python -m stack compose-envoy | edge-envoy`."""

import sys

from .envoy import (COMPOSE_ENVOY_CONFIG, EDGE_ENVOY_CONFIG, render_committed_edge_config,
                    render_compose_envoy_config)

if sys.argv[1:] == ["compose-envoy"]:
    COMPOSE_ENVOY_CONFIG.write_text(render_compose_envoy_config())
elif sys.argv[1:] == ["edge-envoy"]:
    EDGE_ENVOY_CONFIG.write_text(render_committed_edge_config())
else:
    sys.exit("usage: python -m stack compose-envoy | edge-envoy")

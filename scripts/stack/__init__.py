"""The bridge's stack: one implementation for `scripts/dev-stack` (fixed dev ports, detached,
state under `.dev/`), the end-to-end tests (free ports, a temporary folder, stopped when the
tests end) and the benchmarks.

- `layout`: paths, dev identities, ports, the dev agents, the build;
- `credentials`: the secrets made for each stack, and tokens signed with them;
- `envoy`: Envoy configurations rendered from envoy/envoy.yaml;
- `processes`: free ports, waiting, stopping;
- `openbao`: the durable OpenBao (Raft storage, a real seal) of the fault tests;
- `services`: `Stack`, the processes themselves;
- `compose`: the compose stack's setup, run inside its `tools` image (compose.yaml).

Everything callers use is importable from the package itself (`import stack`).
"""

from .credentials import Secrets, summary
from .envoy import (DEV_CERTS, EDGE_ENVOY_CONFIG, ENVOY_JWT_PAYLOAD_KEY,
                    balance_backends, committed_filter_config, delegate_to_envoy_jwt_authn,
                    envoy_jwt_authn_filter, filter_config, connection_manager, http_filters, merged, mtls_filter_config,
                    render_committed_edge_config, render_edge_config,
                    render_envoy_config, stateful_session_filter)
from .layout import (AGENTS_FILE, BACKEND_BIN, ENVOY_CONFIG, FILTER_WASM, HS256_KID, JWT_AUDIENCE,
                     JWT_ISSUER, RELEASE_BACKEND_BIN, ROOT, ROOT_TOKEN, RS256_KID, SERVICE_TOKEN, VENV_BIN, Ports, build,
                     load_agents)
from .processes import free_ports, http_status, pid_alive, stop_process, tail, wait_until
from .services import Stack

__all__ = [
    "AGENTS_FILE", "BACKEND_BIN", "DEV_CERTS", "EDGE_ENVOY_CONFIG", "ENVOY_CONFIG",
    "ENVOY_JWT_PAYLOAD_KEY", "FILTER_WASM", "HS256_KID", "JWT_AUDIENCE", "JWT_ISSUER", "RELEASE_BACKEND_BIN", "ROOT", "ROOT_TOKEN", "SERVICE_TOKEN",
    "RS256_KID", "VENV_BIN", "Ports", "Secrets", "Stack", "balance_backends", "build", "committed_filter_config",
    "delegate_to_envoy_jwt_authn", "envoy_jwt_authn_filter", "filter_config", "free_ports", "connection_manager", "http_filters",
    "http_status", "load_agents", "merged", "mtls_filter_config", "pid_alive", "render_committed_edge_config",
    "render_edge_config", "render_envoy_config", "stateful_session_filter",
    "stop_process", "summary", "tail", "wait_until",
]

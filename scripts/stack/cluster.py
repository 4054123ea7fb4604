"""Vault HA on one machine: three OpenBao nodes on integrated storage (Raft) and, in front of
them, an Envoy that sends every request to the active node only, found by its
`/v1/sys/health` (active 200, standby 429, sealed 503), as a production load balancer would.
The backends, provisioning and the tests use that Envoy's address as `VAULT_ADDR`, so a new
leader is followed without restarting anything.

Stack(vault_nodes=3) runs this; the root token is aliased to the dev root token id, so
provisioning and the backend are configured exactly as with the dev server."""

from __future__ import annotations

import signal
import subprocess
import urllib.error
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import yaml

from . import openbao
from .layout import VENV_BIN
from .processes import free_ports, http_status, stop_process, wait_until

Spawn = Callable[[str, list[str]], subprocess.Popen]


@dataclass
class Node:
    name: str
    api_port: int
    cluster_port: int
    data: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"


def node_config(node: Node, peers: list[Node], audit_log: Path) -> str:
    """One node: Raft storage joining the others (unsealing it joins), loopback without TLS
    for the API (the cluster port is always TLS), a file audit device. A performance multiplier
    of 1 elects a new leader in about 1.4 s instead of about 10 (the default 5 suits WANs).
    Audit devices are replicated: every node must name the same file (one file here, appended
    to mostly by the active node, which serves every request)."""
    joins = "".join(f'  retry_join {{\n    leader_api_addr = "{p.url}"\n  }}\n' for p in peers if p is not node)
    return f'''
storage "raft" {{
  path    = "{node.data}"
  node_id = "{node.name}"
  performance_multiplier = 1
{joins}}}
listener "tcp" {{
  address         = "127.0.0.1:{node.api_port}"
  cluster_address = "127.0.0.1:{node.cluster_port}"
  tls_disable     = true
}}
api_addr     = "{node.url}"
cluster_addr = "https://127.0.0.1:{node.cluster_port}"
audit "file" "bridge" {{
  options {{
    file_path = "{audit_log}"
  }}
}}
'''


def balancer_config(port: int, admin_port: int, nodes: list[Node]) -> dict:
    """Envoy in front of the nodes: each request to the node whose health check answers 200
    (the active one), checked every second; none healthy → 503 at once (no panic routing to a
    standby, which would answer stale reads). Two failed checks in a row take a node out (a
    dead node refuses at once; one slow answer on a busy machine must not empty the cluster). A request whose connection failed (nothing was
    sent) is retried on another node; one cut off mid-way is not (a write may have landed)."""
    http = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "static_resources": {
            "listeners": [{
                "name": "vault",
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
                "filter_chains": [{"filters": [{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": {
                        "@type": f"type.googleapis.com/{http}",
                        "stat_prefix": "vault",
                        # Vault's clients list with the method LIST, which Envoy's HTTP/1 codec
                        # refuses (400) unless told otherwise; upstream too (the cluster).
                        "http_protocol_options": {"allow_custom_methods": True},
                        "route_config": {"virtual_hosts": [{
                            "name": "vault", "domains": ["*"],
                            "routes": [{"match": {"prefix": "/"}, "route": {
                                "cluster": "vault", "timeout": "30s",
                                "retry_policy": {
                                    "retry_on": "connect-failure", "num_retries": 2,
                                    "retry_host_predicate": [{
                                        "name": "envoy.retry_host_predicates.previous_hosts",
                                        "typed_config": {"@type": "type.googleapis.com/envoy.extensions."
                                                         "retry.host.previous_hosts.v3.PreviousHostsPredicate"}}],
                                },
                            }}],
                        }]},
                        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
                    },
                }]}],
            }],
            "clusters": [{
                "name": "vault",
                "type": "STATIC",
                "connect_timeout": "1s",
                "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                    "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                    "explicit_http_config": {"http_protocol_options": {"allow_custom_methods": True}}}},
                "common_lb_config": {"healthy_panic_threshold": {"value": 0}},
                "health_checks": [{
                    "timeout": "3s", "interval": "1s", "no_traffic_interval": "1s",
                    "unhealthy_threshold": 2, "healthy_threshold": 1,
                    "http_health_check": {"path": "/v1/sys/health"},
                }],
                "load_assignment": {"cluster_name": "vault", "endpoints": [{"lb_endpoints": [
                    {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1",
                                                                 "port_value": n.api_port}}}}
                    for n in nodes]}]},
            }],
        },
    }


class VaultCluster:
    """The nodes and their balancer, as processes of a stack: `spawn` starts one with its log
    and records it in `processes` (the stack's), which this keeps current."""

    def __init__(self, run_dir: Path, logs: Path, audit_log: Path, port: int, spawn: Spawn,
                 processes: dict[str, subprocess.Popen], size: int = 3):
        self.run_dir, self.logs, self.port, self.spawn, self.processes = run_dir, logs, port, spawn, processes
        self.audit_log = audit_log
        ports = free_ports(2 * size + 1)
        self.admin_port = ports.pop()
        self.nodes = [Node(f"openbao-{i + 1}", ports[2 * i], ports[2 * i + 1], run_dir / f"openbao-{i + 1}")
                      for i in range(size)]
        self.unseal_key: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, root_token_id: str) -> None:
        for node in self.nodes:
            self.start_node(node)
        self.unseal_key, root = openbao.initialize(self.nodes[0].url)
        for node in self.nodes:
            self.unseal(node)
        wait_until("an active OpenBao node", lambda: self.active() is not None, None, self.logs / "openbao-1.log")
        leader = self.active().url
        openbao.alias_root_token(leader, root, root_token_id)
        # A joined node is a non-voter until autopilot finds it stable (10 s by default): until
        # every node votes, losing the leader elects nobody. Here a second of stability will do.
        openbao.call(leader, "POST", "sys/storage/raft/autopilot/configuration",
                     {"server_stabilization_time": "1s"}, token=root_token_id)

        def all_vote() -> bool:
            servers = openbao.call(leader, "GET", "sys/storage/raft/configuration",
                                   token=root_token_id)["data"]["config"]["servers"]
            return len(servers) == len(self.nodes) and all(server["voter"] for server in servers)

        wait_until("every OpenBao node voting", all_vote, None, self.logs / "openbao-1.log")
        self.start_balancer()

    def start_node(self, node: Node) -> None:
        node.data.mkdir(parents=True, exist_ok=True)
        config = self.run_dir / f"{node.name}.hcl"
        config.write_text(node_config(node, self.nodes, self.audit_log))
        self.spawn(node.name, [str(VENV_BIN / "bao"), "server", f"-config={config}"])
        # 501: not initialized, 503: sealed; both mean it answers.
        wait_until(node.name, lambda: http_status(f"{node.url}/v1/sys/health") in (200, 429, 501, 503),
                   self.processes[node.name], self.logs / f"{node.name}.log")

    def start_balancer(self) -> None:
        config = self.run_dir / "vault-balancer.yaml"
        config.write_text(yaml.safe_dump(balancer_config(self.port, self.admin_port, self.nodes)))
        process = self.spawn("vault-balancer", [str(VENV_BIN / "envoy"), "-c", str(config), "--concurrency", "1",
                                                "--use-dynamic-base-id", "--log-level", "warn"])
        wait_until("the Vault balancer", lambda: http_status(f"{self.url}/v1/sys/health") == 200, process,
                   self.logs / "vault-balancer.log")

    def active(self) -> Node | None:
        return next((n for n in self.nodes if http_status(f"{n.url}/v1/sys/health", timeout=1) == 200), None)

    def kill(self, node: Node) -> None:
        """SIGKILL: no step-down, no goodbye to the other nodes."""
        process = self.processes.pop(node.name)
        stop_process(process.pid, process, signal.SIGKILL)

    def unseal(self, node: Node) -> None:
        """A joining node refuses the key (400, not initialized) until `retry_join` has reached
        the leader, then stays sealed while it joins: the key is offered until the node is
        unsealed."""
        def unsealed() -> bool:
            status = openbao.call(node.url, "GET", "sys/seal-status")
            if not status["sealed"]:
                return True
            try:
                openbao.call(node.url, "PUT", "sys/unseal", {"key": self.unseal_key})
            except urllib.error.HTTPError as error:
                # 400: not initialized yet; 500: the join under way answered for it.
                if error.code not in (400, 500):
                    raise
            return False

        wait_until(f"{node.name} unsealed", unsealed, self.processes.get(node.name), self.logs / f"{node.name}.log")

    def restart(self, node: Node) -> None:
        """A node comes back sealed; unsealed, it rejoins as a standby."""
        self.start_node(node)
        self.unseal(node)

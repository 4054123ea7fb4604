"""Envoy configurations rendered from envoy/envoy.yaml: the filter's JSON for a set of agents,
other ports and addresses, the edge (TLS and mTLS), Envoy's jwt_authn in front of the filter,
several backend replicas, and the generated files committed beside it."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from .layout import ENVOY_CONFIG, FILTER_WASM, HS256_KID, JWT_AUDIENCE, JWT_ISSUER, ROOT, Ports


def filter_config(ports: Ports, *, edge: bool = False) -> dict:
    """The wasm filter's configuration for these ports: the agents come from the registry the
    backend serves (provisioned with `vault-mcp-bridge agents add`), secrets by the name of the
    environment variable Envoy passes to the VM."""
    return {
        "api_key_header": "x-api-key",
        "registry": {
            "cluster": "backend",
            "authority": "backend",
            # Dev: changes show within 2 s (the default, 5 s, suits production).
            "refresh_seconds": 2,
        },
        "jwt": {
            "issuer": JWT_ISSUER,
            "audience": JWT_AUDIENCE,
            "hs256_secret": {"env": "JWT_HS256_SECRET"},
            "hs256_kid": HS256_KID,
            "jwks_remote": {
                "cluster": "jwks",
                "authority": f"127.0.0.1:{ports.jwks}",
                "path": "/jwks.json",
                "cache_seconds": 300,
                "cooldown_seconds": 30,
            },
        },
        # People signing in through the dev authorization server (local-oauth/): its tokens
        # name this resource as audience (resource_metadata), its JWKS comes through a cluster.
        "oauth": {
            "issuer": ports.oauth_issuer(tls=edge),
            "jwks_remote": {
                "cluster": "oauth",
                "authority": f"127.0.0.1:{ports.oauth}",
                "path": "/jwks",
                "cache_seconds": 300,
                "cooldown_seconds": 30,
            },
        },
        "assertion_key": {"env": "AGENT_ASSERTION_KEY"},
        # Per-agent limits come with each agent's registry record; counted across every Envoy
        # by the rate-limit service (vault-mcp-ratelimit on Redis), the local buckets first.
        # The dev stack shares two cores with its load: a longer wait than production's default.
        "rate_limit": {"requests": 60, "per_seconds": 60,
                       "global": {"cluster": "ratelimit", "timeout_ms": 250}},
        "resource_metadata": {"resource": f"https://127.0.0.1:{ports.envoy_tls}/mcp" if edge
                              else f"http://127.0.0.1:{ports.envoy}/mcp"},
    }


def merged(base: dict, overrides: dict) -> dict:
    """`base` with `overrides` applied recursively (dicts merge, anything else replaces)."""
    out = dict(base)
    for key, value in overrides.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def connection_manager(config: dict) -> dict:
    """The HTTP connection manager of the `agents` listener of an Envoy configuration (modifiable)."""
    listener = next(l for l in config["static_resources"]["listeners"] if l["name"] == "agents")
    return listener["filter_chains"][0]["filters"][0]["typed_config"]


def http_filters(config: dict) -> list[dict]:
    """The HTTP filter chain of the `agents` listener of an Envoy configuration (modifiable)."""
    return connection_manager(config)["http_filters"]


def _wasm_filter(config: dict) -> dict:
    return next(f for f in http_filters(config) if f["name"] == "vault_mcp_filter")["typed_config"]["config"]


def committed_filter_config() -> dict:
    """The filter configuration written in envoy/envoy.yaml."""
    config = yaml.safe_load(ENVOY_CONFIG.read_text())
    return json.loads(_wasm_filter(config)["configuration"]["value"])


def render_envoy_config(ports: Ports, filter_json: dict, *, listen_host: str = "127.0.0.1",
                        cluster_hosts: dict[str, str] | None = None, wasm_path: Path | str = FILTER_WASM,
                        add_request_headers: dict | None = None) -> dict:
    """envoy/envoy.yaml with other ports, addresses, .wasm path and filter configuration.
    `cluster_hosts` names a cluster's host by DNS name (the compose network's services) instead
    of 127.0.0.1. `add_request_headers` (tests only) puts a header mutation in front of the
    filter, for clients that cannot send credentials themselves."""
    config = yaml.safe_load(ENVOY_CONFIG.read_text())
    if add_request_headers:
        http_filters(config).insert(0, {
            "name": "envoy.filters.http.header_mutation",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
                "mutations": {"request_mutations": [
                    {"append": {"header": {"key": k, "value": v}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}}
                    for k, v in add_request_headers.items()
                ]},
            },
        })
    config["admin"]["address"]["socket_address"].update(address=listen_host, port_value=ports.envoy_admin)
    for listener in config["static_resources"]["listeners"]:
        if listener["name"] == "agents":
            listener["address"]["socket_address"].update(address=listen_host, port_value=ports.envoy)
    port_of = {"backend": ports.backend, "jwks": ports.jwks, "oauth": ports.oauth, "ratelimit": ports.ratelimit}
    for cluster in config["static_resources"]["clusters"]:
        address = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
        address["socket_address"]["port_value"] = port_of[cluster["name"]]
        if cluster["name"] in (cluster_hosts or {}):
            cluster["type"] = "STRICT_DNS"
            address["socket_address"]["address"] = cluster_hosts[cluster["name"]]
    wasm = _wasm_filter(config)
    wasm["vm_config"]["code"]["local"]["filename"] = str(wasm_path)
    wasm["configuration"]["value"] = json.dumps(filter_json)
    return config


#: Where Envoy's jwt_authn leaves verified payloads for the filter (see filter/src/jwt/envoy.rs).
ENVOY_JWT_PAYLOAD_KEY = "verified_jwt"


def envoy_jwt_authn_filter(jwks_source: dict, *, cache_size: int | None = 1024) -> dict:
    """Envoy's jwt_authn, verifying RS256/ES256 tokens from the JWKS for the wasm filter behind
    it: the token only from the Authorization header (never the query string), consumed on
    success (forward: false), its payload left in the dynamic metadata. Tokens it cannot verify
    pass on untouched (requires_any: the provider, or allow_missing_or_failed), so the filter
    refuses them with its own answer (or verifies HS256). `jwks_source` is the provider's
    `remote_jwks` or `local_jwks` entry."""
    provider = {
        "issuer": JWT_ISSUER,
        "audiences": [JWT_AUDIENCE],
        **jwks_source,
        "from_headers": [{"name": "authorization", "value_prefix": "Bearer "}],
        "forward": False,
        "payload_in_metadata": ENVOY_JWT_PAYLOAD_KEY,
    }
    if cache_size:
        provider["jwt_cache_config"] = {"jwt_cache_size": cache_size}
    return {
        "name": "envoy.filters.http.jwt_authn",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": {"agents": provider},
            # Naming the provider first matters: a bare allow_missing_or_failed rule verifies
            # without the provider's jwt_cache (measured: 37 µs instead of 17 µs per request).
            "rules": [{"match": {"prefix": "/"}, "requires": {"requires_any": {"requirements": [
                {"provider_name": "agents"}, {"allow_missing_or_failed": {}}]}}}],
        },
    }


def delegate_to_envoy_jwt_authn(envoy: dict, filter_json: dict, ports: Ports) -> None:
    """Puts jwt_authn in front of the wasm filter (in place) and tells the filter to read its
    payloads; the filter keeps only the HS256 secret."""
    chain = http_filters(envoy)
    position = next(i for i, f in enumerate(chain) if f["name"] == "vault_mcp_filter")
    jwks = {"http_uri": {"uri": f"http://127.0.0.1:{ports.jwks}/jwks.json", "cluster": "jwks", "timeout": "2s"},
            "cache_duration": "300s"}
    chain.insert(position, envoy_jwt_authn_filter({"remote_jwks": jwks}))
    jwt = {k: v for k, v in filter_json["jwt"].items() if k not in ("jwks", "jwks_remote")}
    jwt["envoy_jwt_authn"] = {"payload_in_metadata": ENVOY_JWT_PAYLOAD_KEY}
    _wasm_filter(envoy)["configuration"]["value"] = json.dumps({**filter_json, "jwt": jwt})


def stateful_session_filter() -> dict:
    """Keeps an MCP session on the replica that created it. The envelope session state appends
    the chosen upstream to the `Mcp-Session-Id` the backend sets (the client keeps it as an
    opaque id) and strips it again before forwarding, so the backend sees its own id."""
    return {
        "name": "envoy.filters.http.stateful_session",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.stateful_session.v3.StatefulSession",
            "session_state": {
                "name": "envoy.http.stateful_session.envelope",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.http.stateful_session.envelope.v3.EnvelopeSessionState",
                    "header": {"name": "mcp-session-id"},
                },
            },
        },
    }


def balance_backends(envoy: dict, ports: list[int], *, sticky: bool = True) -> None:
    """Several backend replicas behind the `backend` cluster, round robin, sessions sticky."""
    cluster = next(c for c in envoy["static_resources"]["clusters"] if c["name"] == "backend")
    endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]
    address = endpoint["endpoint"]["address"]["socket_address"]["address"]
    cluster["lb_policy"] = "ROUND_ROBIN"
    cluster["load_assignment"]["endpoints"][0]["lb_endpoints"] = [
        {"endpoint": {"address": {"socket_address": {"address": address, "port_value": port}}}} for port in ports
    ]
    if sticky:
        http_filters(envoy).insert(0, stateful_session_filter())


EDGE_ENVOY_CONFIG = ROOT / "envoy" / "envoy.edge.yaml"
DEV_CERTS = ".dev/certs"
#: What the mTLS listener trusts for client certificates (envoy/gen-dev-certs writes the dev CA
#: alone; a running stack adds the chain agents' certificates are issued under).
CLIENT_CAS = "client-cas.crt"


def write_client_cas(certs: Path, vault_chain: list[str]) -> None:
    """The dev CA, then the PKI chain (issuing CA and root) of `pki.issue`'s certificates:
    Envoy builds a client's chain from these, so a client presents its leaf alone."""
    dev_ca = (certs / "ca.crt").read_text().strip()
    (certs / CLIENT_CAS).write_text("\n".join([dev_ca, *(pem.strip() for pem in vault_chain)]) + "\n")


def mtls_filter_config(filter_json: dict) -> dict:
    """The filter configuration of the mTLS listener: the same, reading the connection's client
    certificate (the registry says which agent each certificate name is)."""
    return {**filter_json, "mtls": {"source": "connection"}}


def render_edge_config(ports: Ports, filter_json: dict, *,
                       certs: Path | str = DEV_CERTS, wasm_path: Path | str = FILTER_WASM) -> dict:
    """envoy/envoy.yaml turned into the edge: a TLS listener (API keys, JWTs) and an mTLS
    listener that requires a client certificate from the dev CA, both with the filter."""
    config = render_envoy_config(ports, filter_json, wasm_path=wasm_path)
    plain = config["static_resources"]["listeners"][0]

    def tls_listener(name: str, port: int, mutual: bool) -> dict:
        listener = json.loads(json.dumps(plain))
        listener["name"] = name
        listener["address"]["socket_address"]["port_value"] = port
        chain = listener["filter_chains"][0]
        hcm = chain["filters"][0]["typed_config"]
        hcm["stat_prefix"] = name
        context = {
            "common_tls_context": {
                "tls_certificates": [{
                    "certificate_chain": {"filename": f"{certs}/server.crt"},
                    "private_key": {"filename": f"{certs}/server.key"},
                }],
            },
        }
        if mutual:
            context["require_client_certificate"] = True
            # The dev CA and the chain of Vault's PKI (`pki.issue`): see client_cas().
            context["common_tls_context"]["validation_context"] = {
                "trusted_ca": {"filename": f"{certs}/{CLIENT_CAS}"}}
            # Client-sent XFCC is replaced by what this connection's certificate says.
            hcm["forward_client_cert_details"] = "SANITIZE_SET"
            hcm["set_current_client_cert_details"] = {"subject": True, "uri": True}
            wasm = next(f for f in hcm["http_filters"] if f["name"] == "vault_mcp_filter")
            wasm["typed_config"]["config"]["configuration"]["value"] = json.dumps(
                mtls_filter_config(filter_json))
        chain["transport_socket"] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                **context,
            },
        }
        return listener

    config["static_resources"]["listeners"] = [
        tls_listener("agents_tls", ports.envoy_tls, mutual=False),
        tls_listener("agents_mtls", ports.envoy_mtls, mutual=True),
    ]
    # The authorization server serves https here too: its JWKS is fetched over TLS, checked
    # against the dev CA and the address it is reached at.
    oauth = next(c for c in config["static_resources"]["clusters"] if c["name"] == "oauth")
    oauth["transport_socket"] = {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
            "common_tls_context": {"validation_context": {
                "trusted_ca": {"filename": f"{certs}/ca.crt"},
                "match_typed_subject_alt_names": [{"san_type": "IP_ADDRESS", "matcher": {"exact": "127.0.0.1"}}],
            }},
        },
    }
    return config


def render_committed_edge_config() -> str:
    config = render_edge_config(Ports.dev(), filter_config(Ports.dev(), edge=True),
                                wasm_path="target/wasm32-wasip1/wasm/vault_mcp_filter.wasm")
    header = ("# The edge: TLS on 127.0.0.1:10443 and mTLS (client certificate from the dev CA required)\n"
              "# on 127.0.0.1:10444, both with the filter; `scripts/dev-stack up --edge` runs it, with\n"
              "# certificates from envoy/gen-dev-certs in .dev/certs. The wasm filter fails closed.\n"
              "# Generated from envoy/envoy.yaml by `PYTHONPATH=scripts .venv/bin/python -m stack edge-envoy`.\n")
    return header + yaml.safe_dump(config, sort_keys=False)

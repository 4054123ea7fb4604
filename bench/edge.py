"""The edge comparison: one Envoy per configuration, all with the same trivial upstream (a
`direct_response` route), differing only in their HTTP filters.

- `none`: the router alone, the ceiling.
- `noop`: a wasm filter that does nothing (bench/noop-filter), the floor of any wasm filter.
- `native`, `native-cached`: what an Envoy user writes without this bridge: header_mutation
  (strip client-sent identity headers), jwt_authn (RS256 from an inline JWKS, `sub` and `scope`
  copied to headers) and local_ratelimit; `-cached` adds jwt_authn's verified-token cache.
- `filter`: our .wasm with the configuration the dev stack uses, for the bench agent.
- `delegated`, `delegated-cached`: Envoy's jwt_authn verifies RS256 and our filter takes the
  payload from the metadata (`jwt.envoy_jwt_authn`), without and with jwt_authn's cache.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import jwt as pyjwt
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa

import stack as stacks

SUBJECT = "agent_bench"
API_KEY = "dev-key-bench"
SCOPES = "read write list delete"
KID = "bench-rs256"
PATH = "/secrets/bench/item"
IDENTITY_HEADERS = ["x-agent-subject", "x-agent-scopes", "x-agent-assertion"]
HUGE_BUCKET = {"requests": 1_000_000_000, "per_seconds": 1}


@dataclass
class Material:
    """Keys and tokens of one harness run (generated, never written to the repository)."""

    hs256_secret: str
    assertion_key: str
    rsa_key: rsa.RSAPrivateKey

    @classmethod
    def generate(cls) -> "Material":
        s = stacks.Secrets.generate()
        return cls(s.hs256_secret, s.assertion_key,
                   rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def jwks(self) -> dict:
        public = self.rsa_key.public_key()
        jwk = json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(public))
        return {"keys": [{**jwk, "kid": KID, "alg": "RS256", "use": "sig"}]}

    def token(self, alg: str, serial: int = 0, ttl: int = 7200, subject: str = SUBJECT) -> str:
        now = int(time.time())
        claims = {"sub": subject, "scope": SCOPES, "iss": stacks.JWT_ISSUER, "aud": stacks.JWT_AUDIENCE,
                  "iat": now, "exp": now + ttl, "jti": f"bench-{serial}"}
        if alg == "HS256":
            return pyjwt.encode(claims, self.hs256_secret, algorithm="HS256", headers={"kid": stacks.HS256_KID})
        # The key object, not PEM: parsing a PEM per token would dominate minting thousands.
        return pyjwt.encode(claims, self.rsa_key, algorithm="RS256", headers={"kid": KID})

    def envoy_env(self) -> dict:
        return {"JWT_HS256_SECRET": self.hs256_secret, "AGENT_ASSERTION_KEY": self.assertion_key}


def filter_config(material: Material) -> dict:
    return {
        "api_key_header": "x-api-key",
        "api_keys": [{"sha256": hashlib.sha256(API_KEY.encode()).hexdigest(), "subject": SUBJECT,
                      "scopes": SCOPES.split()}],
        "jwt": {
            "issuer": stacks.JWT_ISSUER,
            "audience": stacks.JWT_AUDIENCE,
            "hs256_secret": {"env": "JWT_HS256_SECRET"},
            "hs256_kid": stacks.HS256_KID,
            "jwks": material.jwks(),
        },
        "assertion_key": {"env": "AGENT_ASSERTION_KEY"},
        "rate_limit": {"requests": 60, "per_seconds": 60, "subjects": {SUBJECT: HUGE_BUCKET}},
    }


def _typed(kind: str, **fields) -> dict:
    return {"@type": f"type.googleapis.com/{kind}", **fields}


def native_chain(material: Material, cached: bool) -> list[dict]:
    provider = {
        "issuer": stacks.JWT_ISSUER,
        "audiences": [stacks.JWT_AUDIENCE],
        "local_jwks": {"inline_string": json.dumps(material.jwks())},
        "claim_to_headers": [{"header_name": "x-agent-subject", "claim_name": "sub"},
                             {"header_name": "x-agent-scopes", "claim_name": "scope"}],
    }
    if cached:
        provider["jwt_cache_config"] = {"jwt_cache_size": 1000}
    always = {"default_value": {"numerator": 100, "denominator": "HUNDRED"}, "runtime_key": "bench_rl"}
    return [
        {"name": "envoy.filters.http.header_mutation", "typed_config": _typed(
            "envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
            mutations={"request_mutations": [{"remove": h} for h in IDENTITY_HEADERS]})},
        {"name": "envoy.filters.http.jwt_authn", "typed_config": _typed(
            "envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            providers={"bench": provider},
            rules=[{"match": {"prefix": "/"}, "requires": {"provider_name": "bench"}}])},
        {"name": "envoy.filters.http.local_ratelimit", "typed_config": _typed(
            "envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
            stat_prefix="bench",
            token_bucket={"max_tokens": HUGE_BUCKET["requests"], "tokens_per_fill": HUGE_BUCKET["requests"],
                          "fill_interval": "1s"},
            filter_enabled=always, filter_enforced=always)},
    ]


def wasm_filter(material: Material, wasm: Path) -> dict:
    """The filter entry of envoy/envoy.yaml (same VM settings), with the bench configuration."""
    committed = yaml.safe_load(stacks.ENVOY_CONFIG.read_text())
    entry = copy.deepcopy(next(f for f in stacks.http_filters(committed) if f["name"] == "vault_mcp_filter"))
    config = entry["typed_config"]["config"]
    config["vm_config"]["code"]["local"]["filename"] = str(wasm)
    config["configuration"]["value"] = json.dumps(filter_config(material))
    return entry


def envoy_config(port: int, filters: list[dict], clusters: list[dict] | None = None) -> dict:
    router = {"name": "envoy.filters.http.router",
              "typed_config": _typed("envoy.extensions.filters.http.router.v3.Router")}
    hcm = _typed(
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        stat_prefix="bench",
        route_config={"virtual_hosts": [{
            "name": "trivial", "domains": ["*"],
            "routes": [{"match": {"prefix": "/"},
                        "direct_response": {"status": 200, "body": {"inline_string": "ok\n"}}}],
        }]},
        http_filters=[*filters, router],
    )
    return {"static_resources": {"listeners": [{
        "name": "bench",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                        "typed_config": hcm}]}],
    }], "clusters": clusters or []}}


def noop_filter(wasm: Path) -> dict:
    """bench/noop-filter: the cost of the wasm host alone, with the same VM settings."""
    return {"name": "noop", "typed_config": _typed(
        "envoy.extensions.filters.http.wasm.v3.Wasm",
        config={"name": "noop", "failure_policy": "FAIL_CLOSED", "vm_config": {
            "runtime": "envoy.wasm.runtime.v8", "code": {"local": {"filename": str(wasm)}}}})}


def delegated_chain(material: Material, wasm: Path, cached: bool) -> list[dict]:
    """Envoy's jwt_authn verifies RS256, the filter does the rest (`jwt.envoy_jwt_authn`), as
    scripts/stack/envoy.py configures it for `dev-stack`'s users who choose it."""
    jwt_authn = stacks.envoy_jwt_authn_filter({"local_jwks": {"inline_string": json.dumps(material.jwks())}},
                                              cache_size=1000 if cached else None)
    config = filter_config(material)
    config["jwt"] = {k: v for k, v in config["jwt"].items() if k != "jwks"}
    config["jwt"]["envoy_jwt_authn"] = {"payload_in_metadata": stacks.ENVOY_JWT_PAYLOAD_KEY}
    wasm_entry = wasm_filter(material, wasm)
    wasm_entry["typed_config"]["config"]["configuration"]["value"] = json.dumps(config)
    return [jwt_authn, wasm_entry]


def configurations(material: Material, wasm: Path, noop_wasm: Path) -> dict[str, list[dict]]:
    """Envoy name -> its HTTP filters (before the router)."""
    return {
        "none": [],
        "noop": [noop_filter(noop_wasm)],
        "native": native_chain(material, cached=False),
        "native-cached": native_chain(material, cached=True),
        "filter": [wasm_filter(material, wasm)],
        "delegated": delegated_chain(material, wasm, cached=False),
        "delegated-cached": delegated_chain(material, wasm, cached=True),
    }

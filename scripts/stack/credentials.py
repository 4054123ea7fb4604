"""Dev secrets, fresh for every stack, and tokens signed with them."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

import jwt as pyjwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .layout import HS256_KID, JWT_AUDIENCE, JWT_ISSUER, RS256_KID


@dataclass
class Secrets:
    """Dev secrets, fresh for every stack: the edge/backend assertion key, the HS256 secret, an
    RS256 key pair whose public half the JWKS server publishes, the database's and Redis's passwords (the
    authorization server makes its own signing key; the Stack, its people's passwords)."""

    assertion_key: str
    hs256_secret: str
    rsa_private_pem: bytes
    postgres_password: str
    redis_password: str

    @classmethod
    def generate(cls) -> "Secrets":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        return cls(secrets.token_hex(32), secrets.token_hex(32), pem, secrets.token_hex(16), secrets.token_hex(16))

    def jwk(self, kid: str = RS256_KID, pem: bytes | None = None) -> dict:
        private = serialization.load_pem_private_key(pem or self.rsa_private_pem, None)
        jwk = json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
        return {**jwk, "kid": kid, "alg": "RS256", "use": "sig"}

    def token(self, subject: str, scopes: str, *, alg: str = "HS256", ttl: int = 3600, **claims) -> str:
        now = int(time.time())
        payload = {"sub": subject, "scope": scopes, "iss": JWT_ISSUER, "aud": JWT_AUDIENCE,
                   "iat": now, "exp": now + ttl, **claims}
        if alg == "HS256":
            return pyjwt.encode(payload, self.hs256_secret, algorithm="HS256", headers={"kid": HS256_KID})
        return pyjwt.encode(payload, self.rsa_private_pem, algorithm="RS256", headers={"kid": RS256_KID})

    def assertion(self, subject: str, scopes: str, at: int, request_id: str, key_id: str = "",
                  key: bytes | None = None) -> str:
        """`x-agent-assertion` as the edge signs it (filter/src/assertion.rs: v2, HMAC-SHA256 over
        subject, scopes, time, request id and key id), with this stack's key or `key`. The edge
        signs its registry fetch (`x-agent-edge`) the same way: no subject, scopes "edge", the
        path as request id."""
        message = "".join(f"{part}\n" for part in ["v2", subject, scopes, str(at), request_id, key_id])
        mac = hmac.new(key or self.assertion_key.encode(), message.encode(), hashlib.sha256).hexdigest()
        return f"v2.{at}.{mac}"


def summary(credentials: dict, title: str) -> str:
    """What a newcomer needs on the terminal from a stack's credentials: where things listen
    and the dev API keys (the rest stays in the credentials file)."""
    lines = [title]
    lines += [f"  {name:18} {url}" for name, url in credentials["endpoints"].items()]
    lines.append("dev API keys (X-API-Key):")
    lines += [f"  {key:18} {entry['subject']} ({' '.join(entry['scopes'])})"
              for key, entry in credentials["api_keys"].items()]
    return "\n".join(lines)

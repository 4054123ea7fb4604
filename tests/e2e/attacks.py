"""The attack table of docs/SECURITY.md, as data the tests run (tests/e2e/test_attacks.py).

Every case sends something hostile to the real stack (Envoy with the filter, the backend,
OpenBao) and states the outcome it must get: a status and error code, or a check. Tokens are
minted by PyJWT or by hand, never by the bridge's code. The table in docs/SECURITY.md is
rendered from this list (`PYTHONPATH=scripts .venv/bin/python tests/e2e/attacks.py` rewrites
it; a test checks the two agree), so the document cannot claim a case the suite does not run.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import jwt as pyjwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = Path(__file__).resolve().parents[2]

import docsections
import stack as stacks  # noqa: E402

SECURITY_DOC = ROOT / "docs" / "SECURITY.md"
BEGIN, END = "<!-- attacks:begin -->", "<!-- attacks:end -->"
TIMEOUT = 15


@dataclass(frozen=True)
class Case:
    category: str
    name: str
    #: Sends the attack against the stack, returns the response.
    send: Callable[["stacks.Stack"], requests.Response]
    #: (status, error code or None), or a callable that checks the response itself.
    expect: tuple[int, str | None] | Callable[["stacks.Stack", requests.Response], None]
    #: What the table says happens, when `expect` is a check.
    outcome: str = ""

    @property
    def id(self) -> str:
        return f"{self.category}: {self.name}"

    def describe_outcome(self) -> str:
        if callable(self.expect):
            return self.outcome
        status, code = self.expect
        return f"{status}" + (f" `{code}`" if code else "")


# --- helpers ------------------------------------------------------------------------------

def b64(obj) -> str:
    raw = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims(**changes) -> dict:
    now = int(time.time())
    base = {"sub": "agent_api", "scope": "read write list delete", "iss": stacks.JWT_ISSUER,
            "aud": stacks.JWT_AUDIENCE, "iat": now, "exp": now + 300}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def rs256(stack, payload=None, headers=None, kid=stacks.RS256_KID) -> str:
    return pyjwt.encode(payload or claims(), stack.secrets.rsa_private_pem, algorithm="RS256",
                        headers={"kid": kid, **(headers or {})})


ATTACKER = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def attacker_token(headers: dict, kid: str = stacks.RS256_KID) -> str:
    return pyjwt.encode(claims(), ATTACKER, algorithm="RS256", headers={"kid": kid, **headers})


def hmac_with_public_key(stack, kid: str | None) -> str:
    """RS256 → HS256 confusion: the issuer's public key used as an HMAC secret (signed by hand:
    PyJWT refuses to, as it should)."""
    public_pem = serialization.load_pem_private_key(stack.secrets.rsa_private_pem, None).public_key() \
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = {"alg": "HS256", "typ": "JWT", **({"kid": kid} if kid else {})}
    signing_input = f"{b64(header)}.{b64(claims())}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def tampered(stack, part: str) -> str:
    head, payload, signature = rs256(stack, claims(sub="agent_ro", scope="read")).split(".")
    if part == "payload":
        return f"{head}.{b64(claims())}.{signature}"
    return f"{head}.{payload}.{signature[:-6]}AAAAAA"


def get(stack, path="/secrets/attack/target", headers=None, base=None) -> requests.Response:
    return requests.get(f"{base or stack.envoy_url}{path}", headers=headers or {}, timeout=TIMEOUT)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def duplicated(stack, path: str, headers: list[tuple[str, str]]) -> requests.Response:
    """Sends repeated header lines with http.client, which writes each one as given."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(stack.envoy_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT)
    connection.putrequest("GET", path)
    for name, value in headers:
        connection.putheader(name, value)
    connection.endheaders()
    raw = connection.getresponse()
    response = requests.Response()
    response.status_code = raw.status
    response._content = raw.read()
    response.headers = requests.structures.CaseInsensitiveDict(raw.getheaders())
    connection.close()
    return response


def sees_the_caller(subject: str):
    """The backend answered for the authenticated caller, whatever identity was claimed."""
    def check(stack, response):
        assert response.status_code == 200, response.text
        assert response.json()["subject"] == subject, response.text
    return check


def direct(stack, extra: dict, identity=None) -> requests.Response:
    """Straight to the backend's port, skipping Envoy, with identity headers made up."""
    headers = identity or {"x-agent-subject": "agent_api", "x-agent-scopes": "read", "x-request-id": "r-1"}
    return requests.get(f"{stack.backend_url}/secrets/anything", headers={**headers, **extra}, timeout=TIMEOUT)


API = {"X-API-Key": "dev-key"}
MCP_HEADERS = {**API, "Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}


def mcp(stack, body, key="dev-key", **headers) -> requests.Response:
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return requests.post(f"{stack.envoy_url}/mcp", data=data,
                         headers={**MCP_HEADERS, "X-API-Key": key, **headers}, timeout=TIMEOUT)


def tool_call(stack, name: str, arguments: dict, key="dev-key", **headers) -> requests.Response:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": name, "arguments": arguments, "_meta": META}}
    return mcp(stack, body, key, **{"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call",
                                    "Mcp-Name": name, **headers})


def rpc(response: requests.Response) -> dict:
    """The JSON-RPC message of a response, sent as JSON or as one server-sent event."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
        return json.loads(next(d for d in data if d))
    return response.json()


def open_session(stack, key: str = "dev-key", elicitation: bool = False) -> str:
    """A 2025-11-25 MCP session of the agent with `key`, initialized; its id."""
    capabilities = {"elicitation": {"form": {}}} if elicitation else {}
    opened = mcp(stack, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": capabilities,
        "clientInfo": {"name": "attacks", "version": "1"}}}, key, **{"MCP-Protocol-Version": "2025-11-25"})
    assert opened.status_code == 200, opened.text
    session = opened.headers["mcp-session-id"]
    done = mcp(stack, {"jsonrpc": "2.0", "method": "notifications/initialized"}, key,
               **{"MCP-Protocol-Version": "2025-11-25", "Mcp-Session-Id": session})
    assert done.status_code == 202, done.text
    return session


def in_owners_session(stack, method: str = "POST", body: dict | None = None) -> requests.Response:
    """agent_b names a session agent_api opened (an id it saw in a log, a proxy, a shared
    screen): a call, the notification stream, the end of the session."""
    session = open_session(stack)
    headers = {**MCP_HEADERS, "X-API-Key": "dev-key-b", "MCP-Protocol-Version": "2025-11-25",
               "Mcp-Session-Id": session}
    if method == "GET":
        headers["Accept"] = "text/event-stream"
    data = json.dumps(body or {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                               "params": {"name": "kv.list", "arguments": {}}})
    return requests.request(method, f"{stack.envoy_url}/mcp", data=data if method == "POST" else None,
                            headers=headers, timeout=TIMEOUT)


def session_not_found(stack, response):
    """What an unknown session gets: nothing tells the session exists."""
    assert response.status_code == 404, response.text
    assert response.text == "Not Found: Session not found", response.text


def envoys_own_request_id(stack, response):
    assert response.headers["x-request-id"] != "r-of-agent-api", response.headers
    assert len(response.headers["x-request-id"]) == 36, response.headers


def console_login(stack, headers: dict) -> requests.Response:
    return requests.post(f"{stack.console_url}/login", json={"credential": "vmb_unknown"},
                         headers=headers, timeout=TIMEOUT)


def rebound(stack) -> str:
    return f"evil.example:{stack.console_url.rsplit(':', 1)[1]}"


def tool_error(stack, response):
    """Answered as an MCP tool error (isError), not a crash nor a Vault call that succeeded."""
    assert response.status_code == 200, response.text
    result = rpc(response)["result"]
    assert result["isError"] is True, result


def jsonrpc_error(status: int):
    def check(stack, response):
        assert response.status_code == status, response.text
        assert "error" in rpc(response), response.text
    return check


def other_agents_resource(stack, response):
    assert response.status_code == 200, response.text
    message = rpc(response)
    assert "error" in message and "result" not in message, message
    assert PLANTED not in response.text


def own_names_only(stack, response):
    assert response.status_code == 200, response.text
    assert "b-private" not in response.text, response.text


#: A value only agent_b may read; test_leaks.py also checks it reached no log.
PLANTED = "agent_b only: planted-4b1d6f0e"


def plant_for_agent_b(stack) -> None:
    requests.put(f"{stack.envoy_url}/secrets/b-private/item", json={"data": {"v": PLANTED}},
                 headers={"X-API-Key": "dev-key-b"}, timeout=TIMEOUT).raise_for_status()


# --- the cases ----------------------------------------------------------------------------

INVALID = (401, "invalid_token")

CASES: list[Case] = [
    # Tokens
    Case("tokens", "alg none", lambda s: get(s, headers=bearer(f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims())}.")), INVALID),
    Case("tokens", "RS256 public key as HS256 secret, kid of the RSA key", lambda s: get(s, headers=bearer(hmac_with_public_key(s, stacks.RS256_KID))), INVALID),
    Case("tokens", "RS256 public key as HS256 secret, no kid", lambda s: get(s, headers=bearer(hmac_with_public_key(s, None))), INVALID),
    Case("tokens", "payload tampered (escalated subject and scopes)", lambda s: get(s, headers=bearer(tampered(s, "payload"))), INVALID),
    Case("tokens", "signature tampered", lambda s: get(s, headers=bearer(tampered(s, "signature"))), INVALID),
    Case("tokens", "signed by another key under the issuer's kid", lambda s: get(s, headers=bearer(attacker_token({}))), INVALID),
    Case("tokens", "expired beyond the 30 s leeway", lambda s: get(s, headers=bearer(rs256(s, claims(exp=int(time.time()) - 120)))), INVALID),
    Case("tokens", "expired within the leeway (accepted)", lambda s: get(s, headers=bearer(rs256(s, claims(exp=int(time.time()) - 10)))), (404, "not_found")),
    Case("tokens", "nbf in the future", lambda s: get(s, headers=bearer(rs256(s, claims(nbf=int(time.time()) + 120)))), INVALID),
    Case("tokens", "wrong issuer", lambda s: get(s, headers=bearer(rs256(s, claims(iss="https://evil.test")))), INVALID),
    Case("tokens", "wrong audience", lambda s: get(s, headers=bearer(rs256(s, claims(aud="someone-else")))), INVALID),
    Case("tokens", "no exp", lambda s: get(s, headers=bearer(rs256(s, claims(exp=None)))), INVALID),
    Case("tokens", "kid with path characters", lambda s: get(s, headers=bearer(attacker_token({}, kid="../../../etc/passwd"))), INVALID),
    Case("tokens", "kid with SQL characters", lambda s: get(s, headers=bearer(attacker_token({}, kid="x' OR '1'='1' --"))), INVALID),
    Case("tokens", "jku header pointing elsewhere not followed", lambda s: get(s, headers=bearer(attacker_token({"jku": "http://127.0.0.1:1/jwks.json"}))), INVALID),
    Case("tokens", "x5u header not followed", lambda s: get(s, headers=bearer(attacker_token({"x5u": "http://127.0.0.1:1/cert.pem"}))), INVALID),
    Case("tokens", "embedded jwk not trusted", lambda s: get(s, headers=bearer(attacker_token(
        {"jwk": json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(ATTACKER.public_key()))}, kid="attacker"))), INVALID),
    Case("tokens", "subject with a path", lambda s: get(s, headers=bearer(rs256(s, claims(sub="../agent_b")))), INVALID),
    Case("tokens", "oversize token (> 8 KiB)", lambda s: get(s, headers=bearer(rs256(s, claims(pad="x" * 9000)))), INVALID),
    Case("tokens", "token in the query string", lambda s: get(s, f"/secrets/x?access_token={rs256(s)}"), (401, "credentials_in_query")),
    # Envoy folds repeated Authorization lines into one comma-joined value: no longer a token.
    Case("tokens", "two Authorization headers", lambda s: duplicated(s, "/whoami", [("Authorization", f"Bearer {rs256(s)}"), ("Authorization", f"Bearer {rs256(s)}")]), INVALID),
    Case("tokens", "token and API key together", lambda s: get(s, "/whoami", {**bearer(rs256(s)), "X-API-Key": "dev-key-ro"}), (401, "ambiguous_credentials")),
    Case("tokens", "garbage after Bearer", lambda s: get(s, headers=bearer("not.a.token")), INVALID),
    # Identity headers sent by the client
    Case("identity", "x-agent-subject", lambda s: get(s, "/whoami", {"X-API-Key": "dev-key-ro", "x-agent-subject": "agent_api"}), sees_the_caller("agent_ro"), "stripped: the backend sees the caller"),
    Case("identity", "X-AGENT-SUBJECT and X-Agent-Scopes in other cases", lambda s: get(s, "/whoami", {"X-API-Key": "dev-key-ro", "X-AGENT-SUBJECT": "agent_api", "X-Agent-Scopes": "read write delete"}), sees_the_caller("agent_ro"), "stripped: the backend sees the caller"),
    Case("identity", "x-agent-subject twice", lambda s: duplicated(s, "/whoami", [("X-API-Key", "dev-key-ro"), ("x-agent-subject", "agent_api"), ("x-agent-subject", "agent_b")]), sees_the_caller("agent_ro"), "stripped: the backend sees the caller"),
    Case("identity", "x-agent-assertion copied from elsewhere", lambda s: get(s, "/whoami", {"X-API-Key": "dev-key-ro", "x-agent-assertion": s.secrets.assertion("agent_api", "read write", int(time.time()), "r-1")}), sees_the_caller("agent_ro"), "stripped: the backend sees the caller"),
    Case("identity", "x-forwarded-client-cert naming another agent", lambda s: get(s, "/whoami", {"X-API-Key": "dev-key-ro", "x-forwarded-client-cert": 'Hash=1;Subject="CN=agent_api"'}), sees_the_caller("agent_ro"), "ignored: the backend sees the caller"),
    Case("identity", "identity headers without any credential", lambda s: get(s, "/whoami", {"x-agent-subject": "agent_api", "x-agent-scopes": "read"}), (401, "missing_credentials")),
    # Straight to the backend, around Envoy
    Case("backend", "no assertion", lambda s: direct(s, {}), (401, "unauthenticated")),
    Case("backend", "assertion forged with another key", lambda s: direct(s, {"x-agent-assertion": s.secrets.assertion("agent_api", "read", int(time.time()), "r-1", key=b"k" * 32)}), (401, "unauthenticated")),
    Case("backend", "assertion expired (10 minutes old)", lambda s: direct(s, {"x-agent-assertion": s.secrets.assertion("agent_api", "read", int(time.time()) - 600, "r-1")}), (401, "unauthenticated")),
    Case("backend", "assertion replayed on another request id", lambda s: direct(s, {"x-agent-assertion": s.secrets.assertion("agent_api", "read", int(time.time()), "r-0")}), (401, "unauthenticated")),
    Case("backend", "scopes widened after signing", lambda s: direct(s, {"x-agent-assertion": s.secrets.assertion("agent_api", "read", int(time.time()), "r-1"), "x-agent-scopes": "read write"}), (401, "unauthenticated")),
    Case("backend", "subject changed after signing", lambda s: direct(s, {"x-agent-assertion": s.secrets.assertion("agent_api", "read", int(time.time()), "r-1"), "x-agent-subject": "agent_b"}), (401, "unauthenticated")),
    Case("backend", "malformed assertion", lambda s: direct(s, {"x-agent-assertion": "v2.x.zz"}), (401, "unauthenticated")),
    Case("backend", "key id added after signing", lambda s: direct(s, {"x-agent-assertion": s.secrets.assertion("agent_api", "read", int(time.time()), "r-1"), "x-agent-key-id": "0a1b2c3d4e5f"}), (401, "unauthenticated")),
    # Paths and resources
    Case("paths", "`..` segment (encoded, so it reaches the backend)", lambda s: get(s, "/secrets/a/%2e%2e/b", API), (400, "invalid_path")),
    Case("paths", "`%2e%2e` alone", lambda s: get(s, "/secrets/%2e%2e", API), (400, "invalid_path")),
    Case("paths", "encoded slash `%2f`", lambda s: get(s, "/secrets/a/%2fb", API), (400, "invalid_path")),
    Case("paths", "double encoding `%252e%252e`", lambda s: get(s, "/secrets/a/%252e%252e/b", API), (400, "invalid_path")),
    Case("paths", "absolute path (`//etc/passwd`)", lambda s: get(s, "/secrets//etc/passwd", API), (400, "invalid_path")),
    Case("paths", "backslash", lambda s: get(s, "/secrets/a/..%5cb", API), (400, "invalid_path")),
    Case("paths", "NUL byte", lambda s: get(s, "/secrets/a%00b", API), (400, "invalid_path")),
    Case("paths", "path over 512 bytes", lambda s: get(s, "/secrets/" + "a/" * 300 + "b", API), (400, "invalid_path")),
    Case("paths", "another agent's folder by `..`", lambda s: get(s, "/secrets/%2e%2e/agent_b/b-private/item", API), (400, "invalid_path")),
    Case("paths", "another agent's kv:// resource over MCP", lambda s: (plant_for_agent_b(s), mcp(s, {
        "jsonrpc": "2.0", "id": 1, "method": "resources/read",
        "params": {"uri": "kv://agent_b/b-private/item", "_meta": META}},
        **{"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "resources/read",
           "Mcp-Name": "kv://agent_b/b-private/item"}))[1], other_agents_resource, "JSON-RPC error, nothing read"),
    Case("paths", "listing shows only the caller's own names", lambda s: (plant_for_agent_b(s), get(s, "/secrets", API))[1], own_names_only, "200, no other agent's names"),
    # MCP
    Case("mcp", "Origin of another site", lambda s: tool_call(s, "kv.read", {"path": "x"}, Origin="https://evil.example"), (403, None)),
    Case("mcp", "unsupported protocol version", lambda s: mcp(s, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, **{"MCP-Protocol-Version": "1999-01-01", "Mcp-Method": "tools/list"}), (400, None)),
    Case("mcp", "Mcp-Name says kv.read, body calls kv.delete", lambda s: mcp(s, {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "kv.delete", "arguments": {"path": "x"}, "_meta": META}}, **{"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "kv.read"}), jsonrpc_error(400), "400, JSON-RPC error -32020"),
    Case("mcp", "malformed JSON", lambda s: mcp(s, "{not json", **{"MCP-Protocol-Version": "2025-11-25"}), (400, "invalid_jsonrpc")),
    Case("mcp", "batch hiding a write behind a read (read-only key)", lambda s: mcp(s, [
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "kv.read", "arguments": {"path": "x"}}},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "kv.write", "arguments": {"path": "x", "data": {"a": "b"}}}},
    ], key="dev-key-ro", **{"MCP-Protocol-Version": "2025-03-26"}), (400, "invalid_jsonrpc")),
    Case("mcp", "batch of 10,000 calls", lambda s: mcp(s, [{"jsonrpc": "2.0", "id": i, "method": "ping"} for i in range(10_000)], **{"MCP-Protocol-Version": "2025-03-26"}), (400, "invalid_jsonrpc")),
    Case("mcp", "body over the 1 MiB limit", lambda s: mcp(s, json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "kv.read", "arguments": {"path": "x", "pad": "x" * (1024 * 1024 + 10)}}}), **{"MCP-Protocol-Version": "2025-11-25"}), (413, "body_too_large")),
    Case("mcp", "unknown tool", lambda s: tool_call(s, "vault.sys_raw", {"path": "x"}), (403, "unknown_tool")),
    Case("mcp", "tool without the scope (read-only key writes)", lambda s: tool_call(s, "kv.write", {"path": "x", "data": {"a": "b"}}, key="dev-key-ro"), (403, "insufficient_scope")),
    Case("mcp", "transit.random asking for 10^9 bytes", lambda s: tool_call(s, "transit.random", {"bytes": 1_000_000_000}), tool_error, "tool error (limit 1024), nothing generated"),
    # One agent against another's sessions, ids and pages
    Case("isolation", "tool call in another agent's MCP session", in_owners_session, session_not_found, "404 as for an unknown session"),
    Case("isolation", "another agent's MCP notification stream", lambda s: in_owners_session(s, "GET"), session_not_found, "404 as for an unknown session"),
    Case("isolation", "ending another agent's MCP session", lambda s: in_owners_session(s, "DELETE"), session_not_found, "404 as for an unknown session"),
    Case("isolation", "answering another agent's confirmation (elicitation id 0)", lambda s: in_owners_session(s, "POST", {"jsonrpc": "2.0", "id": 0, "result": {"action": "accept", "content": {"confirm": True}}}), session_not_found, "404 as for an unknown session"),
    Case("isolation", "request id chosen by the client (another agent's)", lambda s: get(s, "/secrets/x", {"X-API-Key": "dev-key-b", "X-Request-Id": "r-of-agent-api"}), envoys_own_request_id, "Envoy's own id"),
    Case("isolation", "console sign-in under another host name (DNS rebinding)", lambda s: console_login(s, {"Host": rebound(s), "Origin": f"http://{rebound(s)}"}), (403, "not_allowed")),
    Case("isolation", "console sign-in with a forged X-Forwarded-Host", lambda s: console_login(s, {"X-Forwarded-Host": rebound(s), "Origin": f"http://{rebound(s)}"}), (403, "not_allowed")),
]


def render_table() -> str:
    counts: dict[str, int] = {}
    for case in CASES:
        counts[case.category] = counts.get(case.category, 0) + 1
    lines = [f"{len(CASES)} cases: " + ", ".join(f"{n} {c}" for c, n in counts.items()) + ".", "",
             "| category | attack | outcome the suite asserts |", "|---|---|---|"]
    lines += [f"| {c.category} | {c.name} | {c.describe_outcome()} |" for c in CASES]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    docsections.replace(SECURITY_DOC, BEGIN, END, render_table())

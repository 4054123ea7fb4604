"""The dev stack's OAuth 2.1 authorization server (local-oauth/server.mjs, npm `oidc-provider`)
alone, on a free port, with a configuration from `stack.oauth`: its metadata and keys, dynamic
client registration and the library's errors for bad input, and the whole authorization-code
flow with PKCE and a resource indicator, signed in by headless Chromium on the server's own
login and consent pages; then what the tokens hold, checked against the published JWKS.
"""

import base64
import datetime
import hashlib
import ipaddress
import json
import re
import secrets
import subprocess
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlencode, urlparse

import jwt as pyjwt
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait

from stack import free_ports, http_status, oauth, stop_process, wait_until
from support import chromium

RESOURCE = "http://127.0.0.1:10000/mcp"
SCOPES = ["read", "write", "list", "delete"]
USERNAME = "dev"
PASSWORD = "correct horse battery staple " + secrets.token_hex(4)
PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
# Values that must never reach the server's log: filled in as the tests see them.
SECRETS: list[str] = [PASSWORD]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("oauth")
    (port,) = free_ports(1)
    issuer = f"http://127.0.0.1:{port}"
    cfg = oauth.config(issuer, "127.0.0.1", port, RESOURCE, SCOPES, {USERNAME: PASSWORD, "other": "x" * 20})
    path = oauth.write_config(folder / "oauth.json", cfg)
    log = folder / "oauth.log"
    with open(log, "ab") as out:
        process = subprocess.Popen(oauth.argv(path), stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until("oauth server", lambda: http_status(f"{issuer}/.well-known/openid-configuration") == 200,
                   process, log, seconds=20)
        yield SimpleNamespace(issuer=issuer, config=cfg, config_path=path, log=log)
    finally:
        stop_process(process.pid, process)


@pytest.fixture(scope="module")
def browser():
    driver = chromium()
    yield driver
    driver.quit()


def register(server, **metadata) -> requests.Response:
    return requests.post(f"{server.issuer}/reg", json=metadata, timeout=10)


def native_metadata(redirect_uri: str, **extra) -> dict:
    """What the MCP Python SDK registers: a native public client."""
    return {"client_name": "Test <b>client</b>", "redirect_uris": [redirect_uri], "application_type": "native",
            "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"], **extra}


@pytest.fixture(scope="module")
def client(server):
    (unserved,) = free_ports(1)  # nothing listens there: Chromium stops at the redirect
    redirect_uri = f"http://127.0.0.1:{unserved}/callback"
    response = register(server, **native_metadata(redirect_uri))
    assert response.status_code == 201, response.text
    return SimpleNamespace(id=response.json()["client_id"], redirect_uri=redirect_uri)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_url(server, client, *, challenge: str | None, method: str | None = "S256",
                  scope: str = " ".join(SCOPES + ["offline_access"]), resource: str = RESOURCE,
                  state: str = "state-1") -> str:
    params = {"response_type": "code", "client_id": client.id, "redirect_uri": client.redirect_uri,
              "scope": scope, "resource": resource, "state": state}
    if "offline_access" in scope.split():
        params["prompt"] = "consent"  # OpenID's rule, which the library keeps (so does the MCP SDK)
    if challenge is not None:
        params["code_challenge"] = challenge
    if method is not None and challenge is not None:
        params["code_challenge_method"] = method
    return f"{server.issuer}/auth?{urlencode(params)}"


def redirect_params(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(location).query).items()}


def token(server, **form) -> requests.Response:
    return requests.post(f"{server.issuer}/token", data=form, timeout=10)


def jwks(server) -> dict:
    return requests.get(f"{server.issuer}/jwks", timeout=10).json()


def verified(server, access_token: str) -> dict:
    key = pyjwt.PyJWKSet.from_dict(jwks(server))[pyjwt.get_unverified_header(access_token)["kid"]]
    return pyjwt.decode(access_token, key, algorithms=["RS256"], audience=RESOURCE, issuer=server.issuer)


# --- metadata and keys ---------------------------------------------------------------------

def test_discovery_document(server):
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        meta = requests.get(f"{server.issuer}{path}", timeout=10).json()
        assert meta["issuer"] == server.issuer and not meta["issuer"].endswith("/")
        assert meta["code_challenge_methods_supported"] == ["S256"]
        assert meta["registration_endpoint"] == f"{server.issuer}/reg"
        assert meta["authorization_response_iss_parameter_supported"] is True
        assert meta["response_types_supported"] == ["code"]
        assert "refresh_token" in meta["grant_types_supported"]
        assert "offline_access" in meta["scopes_supported"]
        assert meta["client_id_metadata_document_supported"] is True
        assert meta["jwks_uri"] == f"{server.issuer}/jwks"


def test_jwks_has_the_configured_public_keys_and_nothing_private(server):
    published = jwks(server)
    assert published["keys"], published
    for key in published["keys"]:
        assert not PRIVATE_JWK_MEMBERS & key.keys(), key
    assert {k["kid"] for k in published["keys"]} == {k["kid"] for k in server.config["jwks"]["keys"]}
    assert [{k: key[k] for k in ("kty", "kid", "n", "e")} for key in published["keys"]] == \
        [{k: key[k] for k in ("kty", "kid", "n", "e")} for key in oauth.public_jwks(server.config)["keys"]]


def test_the_config_file_is_private(server):
    assert Path(server.config_path).stat().st_mode & 0o777 == 0o600


# --- registration --------------------------------------------------------------------------

def test_a_native_public_client_registers_with_a_loopback_redirect(server):
    response = register(server, **native_metadata("http://127.0.0.1:43210/callback"))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["client_id"] and "client_secret" not in body
    assert body["redirect_uris"] == ["http://127.0.0.1:43210/callback"]
    assert body["token_endpoint_auth_method"] == "none"
    assert body["application_type"] == "native"


@pytest.mark.parametrize("metadata, error", [
    # native clients: the library's own rules
    (native_metadata("http://evil.example/cb"), "invalid_redirect_uri"),
    (native_metadata("https://127.0.0.1/cb"), "invalid_redirect_uri"),
    (native_metadata("javascript:alert(1)"), "invalid_redirect_uri"),
    # web clients (the default application_type): http only on loopback
    ({"redirect_uris": ["http://evil.example/cb"], "token_endpoint_auth_method": "none"}, "invalid_redirect_uri"),
    # malformed
    ({"redirect_uris": "http://127.0.0.1/cb"}, "invalid_redirect_uri"),
    ({"redirect_uris": ["http://127.0.0.1/cb"], "grant_types": "authorization_code"}, "invalid_client_metadata"),
    ({"redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "bogus"}, "invalid_client_metadata"),
    ({"redirect_uris": ["http://127.0.0.1/cb"], "response_types": ["token"]}, "invalid_client_metadata"),
], ids=["native-http-remote", "native-https-loopback", "native-javascript", "web-http-remote",
        "redirect-not-a-list", "grant-types-not-a-list", "unknown-auth-method", "implicit"])
def test_bad_registrations_get_the_librarys_errors(server, metadata, error):
    response = register(server, **metadata)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error


def test_a_registration_that_is_not_json_is_refused(server):
    response = requests.post(f"{server.issuer}/reg", data="{not json", timeout=10,
                             headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("redirect_uri, application_type", [
    ("https://app.example/callback", "web"),
    ("http://localhost:6274/oauth/callback", "web"),
    ("com.example.app:/callback", "native"),
])
def test_https_loopback_and_private_use_redirects_register(server, redirect_uri, application_type):
    response = register(server, redirect_uris=[redirect_uri], application_type=application_type,
                        token_endpoint_auth_method="none")
    assert response.status_code == 201, response.text


def test_a_client_id_metadata_document_on_a_special_use_address_is_not_fetched(server, client):
    """Client ID Metadata Documents are on (draft-02 in oidc-provider 9.13.3); the library
    refuses to fetch one from loopback and other special-use addresses (SSRF guard)."""
    _, challenge = pkce()
    document = "https://127.0.0.1:9/client.json"
    url = authorize_url(server, SimpleNamespace(id=document, redirect_uri=client.redirect_uri), challenge=challenge)
    response = requests.get(url, allow_redirects=False, timeout=10)
    assert response.status_code == 400
    assert "invalid_client" in response.text and "metadata document fetch failed" in response.text
    unknown = requests.get(authorize_url(server, SimpleNamespace(id="no-such-client", redirect_uri=client.redirect_uri),
                                         challenge=challenge), allow_redirects=False, timeout=10)
    assert unknown.status_code == 400 and "metadata document" not in unknown.text


# --- the authorization request: refused before any page ----------------------------------------

@pytest.mark.parametrize("case", ["no-pkce", "plain-pkce", "other-resource"])
def test_authorization_requests_the_server_refuses(server, client, case):
    verifier, challenge = pkce()
    url = {
        "no-pkce": authorize_url(server, client, challenge=None),
        "plain-pkce": authorize_url(server, client, challenge=verifier, method="plain"),
        "other-resource": authorize_url(server, client, challenge=challenge, resource="http://127.0.0.1:10001/mcp"),
    }[case]
    response = requests.get(url, allow_redirects=False, timeout=10)
    assert response.status_code == 303, response.text
    location = response.headers["Location"]
    assert location.startswith(client.redirect_uri + "?")
    params = redirect_params(location)
    assert params["error"] == ("invalid_target" if case == "other-resource" else "invalid_request")
    assert params["iss"] == server.issuer and params["state"] == "state-1"
    assert "code" not in params


# --- the pages, without a browser ----------------------------------------------------------

def test_the_login_page_is_not_cached_nor_framed_and_takes_only_forms(server, client):
    session = requests.Session()
    _, challenge = pkce()
    page = session.get(authorize_url(server, client, challenge=challenge), timeout=10)
    assert page.status_code == 200 and urlparse(page.url).path.startswith("/interaction/")
    assert page.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert 'type="password"' in page.text and PASSWORD not in page.text
    login = page.url + "/login"
    as_json = session.post(login, json={"username": USERNAME, "password": PASSWORD}, timeout=10, allow_redirects=False)
    assert as_json.status_code == 415
    wrong = session.post(login, data={"username": USERNAME, "password": "nope"}, timeout=10, allow_redirects=False)
    assert wrong.status_code == 200 and "the username or password is wrong" in wrong.text
    right = session.post(login, data={"username": USERNAME, "password": PASSWORD}, timeout=10, allow_redirects=False)
    assert right.status_code == 303 and urlparse(right.headers["Location"]).path.startswith("/auth/")


def test_an_interaction_without_its_cookie_is_refused(server, client):
    session = requests.Session()
    _, challenge = pkce()
    page = session.get(authorize_url(server, client, challenge=challenge), timeout=10)
    assert urlparse(page.url).path.startswith("/interaction/")
    stranger = requests.post(page.url + "/login", data={"username": USERNAME, "password": PASSWORD},
                             timeout=10, allow_redirects=False)
    assert stranger.status_code == 400 and "Location" not in stranger.headers
    assert "expired" in stranger.text


# --- the flow in Chromium ------------------------------------------------------------------

def sign_in(driver, username: str, password: str):
    driver.find_element(By.ID, "username").clear()
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "sign-in").click()


def allow_and_get_redirect(driver, client) -> dict[str, str]:
    WebDriverWait(driver, 10).until(seen.element_to_be_clickable((By.ID, "allow"))).click()
    # The redirect target is unserved: Chromium shows its error page, the URL holds the code.
    WebDriverWait(driver, 10).until(lambda d: d.current_url.startswith(client.redirect_uri))
    return redirect_params(driver.current_url)


def consent(driver, server, client, challenge: str, **url) -> dict[str, str]:
    """A second authorization in the same browser: signed in already, the consent page only
    (native clients are always asked)."""
    driver.get(authorize_url(server, client, challenge=challenge, **url))
    return allow_and_get_redirect(driver, client)


@pytest.fixture(scope="module")
def flow(server, client, browser):
    """Signs in through the pages: a wrong password, an unknown user, then the right one, and
    consents; returns what the redirect brought and the verifier."""
    verifier, challenge = pkce()
    browser.get(authorize_url(server, client, challenge=challenge, state="flow-state"))
    WebDriverWait(browser, 10).until(seen.presence_of_element_located((By.ID, "password")))
    login_url = browser.current_url
    assert urlparse(login_url).path.startswith("/interaction/")
    failures = []
    for username, password in ((USERNAME, PASSWORD + "-wrong"), ("nobody", PASSWORD)):
        # The page before carries an `.error` too (after the first try): wait for the new one.
        page = browser.find_element(By.TAG_NAME, "html")
        sign_in(browser, username, password)
        WebDriverWait(browser, 10).until(seen.staleness_of(page))
        WebDriverWait(browser, 10).until(seen.presence_of_element_located((By.CSS_SELECTOR, ".error")))
        failures.append(SimpleNamespace(url=browser.current_url,
                                        error=browser.find_element(By.CSS_SELECTOR, ".error").text,
                                        password_field=browser.find_elements(By.ID, "password"),
                                        body=browser.find_element(By.TAG_NAME, "body").text))
    sign_in(browser, USERNAME, PASSWORD)
    WebDriverWait(browser, 10).until(seen.presence_of_element_located((By.ID, "allow")))
    consent_page = SimpleNamespace(body=browser.find_element(By.TAG_NAME, "body").text,
                                   bold=browser.find_elements(By.TAG_NAME, "b"))
    params = allow_and_get_redirect(browser, client)
    SECRETS.append(params.get("code", ""))
    return SimpleNamespace(params=params, verifier=verifier, failures=failures, login_url=login_url,
                           consent=consent_page)


def test_a_wrong_password_or_unknown_user_stays_on_the_login_page_without_a_hint(flow):
    for failure in flow.failures:
        assert urlparse(failure.url).path == urlparse(flow.login_url).path + "/login"
        assert failure.password_field, "the login form is shown again"
        assert failure.error == "Sign-in failed: the username or password is wrong."
    assert flow.failures[0].error == flow.failures[1].error


def test_the_consent_page_lists_the_scopes_and_escapes_the_client_name(flow):
    for scope in SCOPES:
        assert scope in flow.consent.body
    assert RESOURCE in flow.consent.body
    assert "stay signed in (a refresh token)" in flow.consent.body
    assert f"Signed in as {USERNAME}" in flow.consent.body
    assert "Test <b>client</b>" in flow.consent.body and not flow.consent.bold


def test_the_redirect_carries_a_code_the_state_and_the_issuer(server, flow):
    assert flow.params["code"]
    assert flow.params["state"] == "flow-state"
    assert flow.params["iss"] == server.issuer
    assert "error" not in flow.params


@pytest.fixture(scope="module")
def tokens(server, client, flow):
    exchange = {"grant_type": "authorization_code", "code": flow.params["code"], "redirect_uri": client.redirect_uri,
                "client_id": client.id, "resource": RESOURCE}
    wrong = token(server, **exchange, code_verifier=pkce()[0])
    missing = token(server, **exchange)
    right = token(server, **exchange, code_verifier=flow.verifier)
    assert right.status_code == 200, right.text
    body = right.json()
    SECRETS.extend([body["access_token"], body["refresh_token"]])
    return SimpleNamespace(wrong=wrong, missing=missing, body=body)


def test_the_code_needs_its_pkce_verifier(tokens):
    for refused in (tokens.wrong, tokens.missing):
        assert refused.status_code == 400
        assert refused.json()["error"] == "invalid_grant"


def test_the_access_token_is_a_jwt_for_the_resource(server, client, tokens):
    access = tokens.body["access_token"]
    header = pyjwt.get_unverified_header(access)
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "RS256"
    assert header["kid"] == server.config["jwks"]["keys"][0]["kid"]
    claims = verified(server, access)
    assert claims["aud"] == RESOURCE
    assert claims["iss"] == server.issuer
    assert claims["sub"] == USERNAME
    assert claims["client_id"] == client.id
    assert sorted(claims["scope"].split()) == sorted(SCOPES)
    assert sorted(tokens.body["scope"].split()) == sorted(SCOPES)  # the access token's scope
    assert tokens.body["refresh_token"]  # offline_access was granted
    assert tokens.body["token_type"] == "Bearer"


def test_the_token_does_not_verify_with_another_key(server, tokens):
    other = oauth.public_jwks({"jwks": {"keys": [oauth.signing_key()]}})
    key = pyjwt.PyJWKSet.from_dict(other).keys[0]
    with pytest.raises(pyjwt.InvalidSignatureError):
        pyjwt.decode(tokens.body["access_token"], key, algorithms=["RS256"], audience=RESOURCE, issuer=server.issuer)


def test_the_refresh_token_rotates_and_keeps_the_resource(server, client, tokens):
    first = tokens.body["refresh_token"]
    response = token(server, grant_type="refresh_token", refresh_token=first, client_id=client.id)
    assert response.status_code == 200, response.text
    body = response.json()
    SECRETS.extend([body["access_token"], body["refresh_token"]])
    claims = verified(server, body["access_token"])
    assert claims["aud"] == RESOURCE and claims["sub"] == USERNAME
    assert sorted(claims["scope"].split()) == sorted(SCOPES)
    assert body["refresh_token"] != first
    replay = token(server, grant_type="refresh_token", refresh_token=first, client_id=client.id)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"


def test_a_revoked_refresh_token_is_refused(server, client, browser, flow):
    meta = requests.get(f"{server.issuer}/.well-known/oauth-authorization-server", timeout=10).json()
    assert meta["revocation_endpoint"] == f"{server.issuer}/token/revocation"
    verifier, challenge = pkce()
    params = consent(browser, server, client, challenge, scope="read offline_access")
    issued = token(server, grant_type="authorization_code", code=params["code"], redirect_uri=client.redirect_uri,
                   client_id=client.id, code_verifier=verifier, resource=RESOURCE).json()
    SECRETS.extend([issued["access_token"], issued["refresh_token"]])
    revoked = requests.post(meta["revocation_endpoint"], timeout=10,
                            data={"token": issued["refresh_token"], "client_id": client.id})
    assert revoked.status_code == 200, revoked.text
    refused = token(server, grant_type="refresh_token", refresh_token=issued["refresh_token"], client_id=client.id)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_only_the_configured_scopes_are_granted(server, client, browser, flow):
    verifier, challenge = pkce()
    params = consent(browser, server, client, challenge, scope="read admin openid-ish")
    assert params["iss"] == server.issuer
    response = token(server, grant_type="authorization_code", code=params["code"], redirect_uri=client.redirect_uri,
                     client_id=client.id, code_verifier=verifier, resource=RESOURCE)
    assert response.status_code == 200, response.text
    SECRETS.append(response.json()["access_token"])
    assert verified(server, response.json()["access_token"])["scope"] == "read"
    assert "refresh_token" not in response.json()  # no offline_access asked


def test_a_code_exchanged_for_another_resource_is_refused(server, client, browser, flow):
    verifier, challenge = pkce()
    params = consent(browser, server, client, challenge)
    response = token(server, grant_type="authorization_code", code=params["code"], redirect_uri=client.redirect_uri,
                     client_id=client.id, code_verifier=verifier, resource="http://127.0.0.1:10001/mcp")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"


def test_deny_sends_access_denied_back(server, client, browser, flow):
    _, challenge = pkce()
    browser.get(authorize_url(server, client, challenge=challenge, state="deny-state"))
    WebDriverWait(browser, 10).until(seen.element_to_be_clickable((By.ID, "deny"))).click()
    WebDriverWait(browser, 10).until(lambda d: d.current_url.startswith(client.redirect_uri))
    params = redirect_params(browser.current_url)
    assert params["error"] == "access_denied"
    assert params["iss"] == server.issuer and params["state"] == "deny-state"
    assert "code" not in params


# --- last: the log -------------------------------------------------------------------------

def test_the_log_has_one_line_per_request_and_no_secrets(server, tokens):
    text = server.log.read_text()
    assert len(SECRETS) >= 4
    for value in SECRETS:
        assert value and value not in text
    logged = [match.groups() for match in re.finditer(r"^\S+ (GET|POST) (\S+) (\d{3}) [\d.]+ms", text, re.M)]
    assert ("GET", "/auth") in {(method, path) for method, path, _ in logged}
    assert ("POST", "/token", "200") in set(logged)
    assert not [path for _, path, _ in logged if "?" in path]
    assert any(line.endswith("error=login_failed") for line in text.splitlines())
    assert any(line.endswith("error=invalid_redirect_uri") for line in text.splitlines())


# --- bad configurations --------------------------------------------------------------------

@pytest.mark.parametrize("change, message", [
    (lambda c: c.pop("jwks"), "jwks must be"),
    (lambda c: c.update(issuer=c["issuer"] + "/"), "issuer must not end with"),
    (lambda c: c.update(extra=1), "unknown field extra"),
    (lambda c: c["jwks"]["keys"][0].pop("d"), "must be a private key"),
    (lambda c: c.update(users=[]), "users must be a non-empty list"),
    (lambda c: c.update(cookie_keys=["short"]), "cookie_keys must be"),
    (lambda c: c.update(ttl={"forever": 1}), "ttl.forever is not one of"),
    (lambda c: c["users"][0]["password"]["scrypt"].update(n=1000), "scrypt.n must be a power of 2"),
], ids=["no-jwks", "trailing-slash", "unknown-field", "public-key", "no-users", "short-cookie-key", "unknown-ttl",
        "weak-scrypt"])
def test_a_bad_config_exits_non_zero_with_a_clear_message(server, tmp_path, change, message):
    cfg = json.loads(json.dumps(server.config))
    change(cfg)
    path = oauth.write_config(tmp_path / "bad.json", cfg)
    result = subprocess.run(oauth.argv(path), capture_output=True, text=True, timeout=20)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"local-oauth: bad config {path}: " in result.stderr
    assert message in result.stderr


# --- TLS -----------------------------------------------------------------------------------

def self_signed(folder: Path) -> dict:
    """A certificate for 127.0.0.1, its own issuer."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    (folder / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "tls.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return {"cert": folder / "tls.crt", "key": folder / "tls.key"}


def test_with_tls_it_serves_https_only(tmp_path):
    (port,) = free_ports(1)
    issuer = f"https://127.0.0.1:{port}"
    tls = self_signed(tmp_path)
    cfg = oauth.config(issuer, "127.0.0.1", port, RESOURCE, SCOPES, {USERNAME: PASSWORD}, tls=tls)
    path = oauth.write_config(tmp_path / "oauth.json", cfg)
    log = tmp_path / "oauth.log"
    with open(log, "ab") as out:
        process = subprocess.Popen(oauth.argv(path), stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        discovery = f"{issuer}/.well-known/oauth-authorization-server"
        wait_until("oauth server (tls)", lambda: http_status(discovery, cafile=str(tls["cert"])) == 200,
                   process, log, seconds=20)
        meta = requests.get(discovery, verify=str(tls["cert"]), timeout=10).json()
        assert meta["issuer"] == issuer
        assert meta["token_endpoint"] == f"{issuer}/token"
        assert http_status(f"http://127.0.0.1:{port}/.well-known/oauth-authorization-server") is None
    finally:
        stop_process(process.pid, process)


def test_an_https_issuer_without_tls_is_a_bad_config(server, tmp_path):
    cfg = {**server.config, "issuer": server.issuer.replace("http://", "https://")}
    result = subprocess.run(oauth.argv(oauth.write_config(tmp_path / "bad.json", cfg)),
                            capture_output=True, text=True, timeout=20)
    assert result.returncode == 2 and "issuer must be http:// without tls" in result.stderr

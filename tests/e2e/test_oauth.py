"""Signing in the way the MCP authorization specification says, through Envoy: the official MCP
Python SDK's OAuth client finds the dev authorization server (local-oauth/, npm oidc-provider)
from the bridge's protected-resource metadata, registers, a person signs in on the server's own
pages in headless Chromium, and the SDK calls tools with the access token it got. Then what the
edge refuses: tokens for another resource or from another issuer, expired ones, a missing scope,
people the registry does not admit."""

import asyncio
import json
import os
import subprocess
import time
from urllib.parse import parse_qs, urlparse

import jwt as pyjwt
import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait

import stack as stacks
from oauth_client import SignIn, Storage, provider, session_calls
from support import UNLIMITED, agents_cli, chromium, server_signed, start_stack, wait_for

ALL = ["read", "write", "list", "delete"]
#: `dev` as the dev stack has them; Carol's name at the server is not a subject as it stands
#: (upper case, a dot); `stranger` can sign in at the server but is not in the registry.
USERS = [{"name": "dev", "scopes": [*ALL, "admin"]},
         {"name": "Carol.K", "scopes": ["read", "list"]},
         {"name": "stranger", "scopes": ALL, "registered": False}]


@pytest.fixture(scope="module")
def bridge(built, tmp_path_factory):
    running = start_stack(tmp_path_factory, "oauth", filter_overrides=UNLIMITED, users=USERS)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser():
    driver = chromium()
    yield driver
    driver.quit()


def password(bridge, name: str) -> str:
    return bridge.oauth_passwords[name]


@pytest.fixture(scope="module")
def dev_signed_in(bridge, browser):
    """dev, signed in once through the SDK's whole flow: its storage holds the tokens."""
    storage = Storage()
    sign_in = SignIn(browser, "dev", password(bridge, "dev"))
    mcp = f"{bridge.envoy_url}/mcp"
    results = asyncio.run(session_calls(mcp, provider(mcp, sign_in, storage), [
        ("kv.write", {"path": "oauth/note", "data": {"signed": "in"}}),
        ("kv.read", {"path": "oauth/note"}),
    ]))
    return storage, sign_in, results


def test_the_sdk_signs_in_through_the_bridges_metadata_and_uses_the_users_corner(bridge, dev_signed_in):
    storage, sign_in, (written, read) = dev_signed_in
    # The SDK found the server from the bridge's metadata and registered itself there.
    assert sign_in.url.startswith(f"{bridge.oauth_issuer}/auth?")
    assert parse_qs(urlparse(sign_in.url).query)["resource"] == [f"{bridge.envoy_url}/mcp"]
    assert storage.client.client_id
    assert not written.is_error and not read.is_error, (written.content, read.content)
    assert read.structured_content["data"] == {"signed": "in"}
    claims = pyjwt.decode(storage.tokens.access_token, options={"verify_signature": False})
    assert (claims["iss"], claims["aud"], claims["sub"]) == (bridge.oauth_issuer, f"{bridge.envoy_url}/mcp", "dev")
    # The secret is in the person's own corner of Vault, under their subject.
    got = requests.get(f"{bridge.openbao_url}/v1/secret/data/agents/user.dev/oauth/note",
                       headers={"X-Vault-Token": stacks.ROOT_TOKEN}, timeout=10)
    assert got.status_code == 200 and got.json()["data"]["data"] == {"signed": "in"}


def test_the_resource_metadata_names_the_server_and_401s_point_at_it(bridge):
    meta = requests.get(f"{bridge.envoy_url}/.well-known/oauth-protected-resource/mcp", timeout=10).json()
    assert meta["authorization_servers"] == [bridge.oauth_issuer]
    assert meta["resource"] == f"{bridge.envoy_url}/mcp"
    server = requests.get(f"{bridge.oauth_issuer}/.well-known/oauth-authorization-server", timeout=10)
    assert server.json()["issuer"] == meta["authorization_servers"][0]
    challenge = requests.post(f"{bridge.envoy_url}/mcp", json={}, timeout=10).headers["www-authenticate"]
    assert f'resource_metadata="{bridge.envoy_url}/.well-known/oauth-protected-resource/mcp"' in challenge
    assert 'scope="read write list delete"' in challenge


def bearer(bridge, token: str, path: str = "/secrets/oauth/note", method: str = "GET") -> requests.Response:
    return requests.request(method, f"{bridge.envoy_url}{path}", headers={"Authorization": f"Bearer {token}"},
                            timeout=10)


def test_the_token_works_on_rest_routes_in_the_same_corner(bridge, dev_signed_in):
    storage, _, _ = dev_signed_in
    got = bearer(bridge, storage.tokens.access_token)
    assert got.status_code == 200, got.text
    assert got.json()["data"] == {"signed": "in"}
    assert requests.get(f"{bridge.envoy_url}/whoami", timeout=10,
                        headers={"Authorization": f"Bearer {storage.tokens.access_token}"}).json()["subject"] == "user.dev"


def minted(bridge, *, key: str = "server", **changes) -> str:
    """A token shaped like the server's, signed with the server's own key (read from its
    configuration, as someone who stole it would) or, with `key="ours"`, with a key of ours."""
    now = int(time.time())
    claims = {"iss": bridge.oauth_issuer, "sub": "dev", "aud": f"{bridge.envoy_url}/mcp", "iat": now,
              "exp": now + 300, "scope": "read write list delete", **changes}
    if key == "ours":
        return pyjwt.encode(claims, bridge.secrets.rsa_private_pem, algorithm="RS256",
                            headers={"kid": stacks.RS256_KID, "typ": "at+jwt"})
    return server_signed(bridge, **changes)


def server_token(bridge, browser, username: str, **exchange) -> str:
    """An access token from the server's own flow (authorization code, PKCE), for `exchange`'s
    resource: Chromium signs `username` in, the token endpoint is called directly."""
    import base64
    import hashlib
    import secrets

    redirect_uri = f"http://127.0.0.1:{stacks.free_ports(1)[0]}/cb"
    client = requests.post(f"{bridge.oauth_issuer}/reg", timeout=10, json={
        "redirect_uris": [redirect_uri], "application_type": "native", "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code"], "response_types": ["code"]}).json()
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    resource = exchange.get("resource", f"{bridge.envoy_url}/mcp")
    sign_in = SignIn(browser, username, password(bridge, username))
    sign_in.redirect_uri = redirect_uri
    sign_in.url = requests.Request("GET", f"{bridge.oauth_issuer}/auth", params={
        "client_id": client["client_id"], "response_type": "code", "redirect_uri": redirect_uri,
        "scope": "read write list delete", "code_challenge": challenge, "code_challenge_method": "S256",
        "resource": resource, "state": "s1"}).prepare().url
    code = sign_in.sign_in().code
    answer = requests.post(f"{bridge.oauth_issuer}/token", timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
        "client_id": client["client_id"], "code_verifier": verifier, "resource": resource})
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def test_a_person_gets_what_both_token_and_registry_grant(bridge, browser):
    token = server_token(bridge, browser, "Carol.K")
    assert pyjwt.decode(token, options={"verify_signature": False})["scope"] == "read write list delete"
    who = requests.get(f"{bridge.envoy_url}/whoami", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert who.json() == {**who.json(), "subject": "user._43arol_2e_4b"}
    assert sorted(who.json()["scopes"]) == ["list", "read"]
    written = bearer(bridge, token, method="PUT")
    assert written.status_code == 403 and written.json()["error"] == "insufficient_scope"
    assert 'scope="write"' in written.headers["www-authenticate"]


def test_people_the_registry_does_not_admit_are_refused(bridge, browser):
    stranger = server_token(bridge, browser, "stranger")
    refused = bearer(bridge, stranger)
    assert (refused.status_code, refused.json()["error"]) == (403, "unknown_user")


def refused_everywhere(bridge, token: str, error: str) -> None:
    """Each Envoy worker takes a registry change at its own tick, so one refusal says nothing of
    the next request: waits until six in a row are refused with `error`."""
    def refused() -> bool:
        answer = bearer(bridge, token, "/whoami")
        return answer.status_code == 403 and answer.json().get("error") == error

    wait_for(lambda: all(refused() for _ in range(6)), 15)


def test_a_disabled_person_is_refused_within_the_refresh_interval(bridge, browser):
    token = server_token(bridge, browser, "Carol.K")
    assert bearer(bridge, token, "/whoami").status_code == 200
    agents_cli(bridge, "disable", "user._43arol_2e_4b")
    try:
        refused_everywhere(bridge, token, "agent_disabled")
    finally:
        agents_cli(bridge, "enable", "user._43arol_2e_4b")


def test_tokens_the_server_did_not_make_for_this_resource_are_refused(bridge):
    assert bearer(bridge, minted(bridge)).status_code == 200  # the server's key, as it mints
    for token, why in [
        (minted(bridge, key="ours"), "signed by another key"),
        (minted(bridge, aud="http://127.0.0.1:1/mcp"), "another audience (RFC 8707)"),
        (minted(bridge, aud="vault-mcp-bridge"), "the agents' audience"),
        (minted(bridge, iss="http://127.0.0.1:1"), "another issuer"),
        (minted(bridge, iss=stacks.JWT_ISSUER), "the agents' issuer with the server's key"),
        (minted(bridge, exp=int(time.time()) - 3600), "expired"),
    ]:
        refused = bearer(bridge, token)
        assert refused.status_code == 401, why
        assert refused.json()["error"] == "invalid_token", why


def test_a_token_in_the_query_string_is_refused(bridge, dev_signed_in):
    storage, _, _ = dev_signed_in
    refused = requests.get(f"{bridge.envoy_url}/secrets/oauth/note?access_token={storage.tokens.access_token}",
                           timeout=10)
    assert (refused.status_code, refused.json()["error"]) == (401, "credentials_in_query")


def test_mcp_inspectors_cli_signs_in_with_a_person_at_the_browser(bridge, browser, dev_signed_in, tmp_path):
    """MCP Inspector's CLI runs the same flow: it prints the authorization URL ("Please navigate
    to: …") and listens on its loopback callback; Chromium plays the person."""
    callback = f"http://127.0.0.1:{stacks.free_ports(1)[0]}/oauth/callback"
    cli = subprocess.Popen(
        ["npx", "--no-install", "inspector", "--cli", f"{bridge.envoy_url}/mcp", "--transport", "http",
         "--method", "tools/call", "--tool-name", "kv.read", "--tool-arg", "path=oauth/note",
         "--callback-url", callback],
        cwd=stacks.ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # Its OAuth state in a home of its own. Without a terminal it refuses to sign in unless
        # told to open a browser; the "browser" it opens (xdg-open's $BROWSER) does nothing.
        env={**os.environ, "HOME": str(tmp_path), "MCP_AUTO_OPEN_ENABLED": "true", "BROWSER": "/bin/true",
             "npm_config_update_notifier": "false"},
    )
    try:
        url, said = None, []
        for line in cli.stderr:
            said.append(line)
            if "Please navigate to: " in line:
                url = line.split("Please navigate to: ", 1)[1].strip()
                break
        assert url and url.startswith(f"{bridge.oauth_issuer}/auth?"), "".join(said)
        sign_in = SignIn(browser, "dev", password(bridge, "dev"))
        sign_in.url, sign_in.redirect_uri = url, callback
        sign_in.sign_in()
        out, err = cli.communicate(timeout=120)
    finally:
        cli.kill()
    assert cli.returncode == 0, err
    assert json.loads(out)["structuredContent"]["data"] == {"signed": "in"}


def test_people_hold_no_keys_and_agents_take_no_peoples_names(bridge):
    shown = json.loads(agents_cli(bridge, "show", "user.dev").stdout)
    assert (shown["user"], shown["keys"]) == (True, [])
    for args, says in [
        (("add", "user.mallory", "--scopes", "read"), "are people's"),
        (("add", "mallory", "--user", "--scopes", "read", "--certificate-cn", "mallory"), "cannot be used with"),
        (("rotate-key", "user.dev"), "sign in at the authorization server"),
        (("update", "user.dev", "--certificate-cn", "dev"), "sign in at the authorization server"),
        (("add", "x" * 124, "--user", "--scopes", "read"), "cannot name a person"),
    ]:
        done = agents_cli(bridge, *args, check=False)
        assert done.returncode != 0 and says in done.stderr, (args, done.stderr)


@pytest.fixture(scope="module")
def signing_up(built, tmp_path_factory):
    """People sign up on their first sign-in (USERS_SIGN_UP_SCOPES); nobody is registered."""
    running = start_stack(tmp_path_factory, "oauth_sign_up", filter_overrides=UNLIMITED,
                          users=[{"name": "newcomer", "scopes": [], "registered": False}],
                          backend_env={"USERS_SIGN_UP_SCOPES": "read,list"})
    yield running
    running.stop()


def test_with_sign_up_a_newcomer_is_registered_with_the_sign_up_scopes(signing_up, browser):
    assert agents_cli(signing_up, "show", "user.newcomer", check=False).returncode != 0
    token = server_token(signing_up, browser, "newcomer")
    who = bearer(signing_up, token, "/whoami")
    assert who.status_code == 200, who.text
    assert (who.json()["subject"], sorted(who.json()["scopes"])) == ("user.newcomer", ["list", "read"])
    shown = json.loads(agents_cli(signing_up, "show", "user.newcomer").stdout)
    assert (shown["user"], shown["enabled"], sorted(shown["scopes"])) == (True, True, ["list", "read"])
    assert bearer(signing_up, token, method="PUT").json()["error"] == "insufficient_scope"
    # Registered, they are a record like any other: disabled, they stay out.
    agents_cli(signing_up, "disable", "user.newcomer")
    refused_everywhere(signing_up, token, "agent_disabled")
    assert not json.loads(agents_cli(signing_up, "show", "user.newcomer").stdout)["enabled"]


def console_sign_in(bridge, browser, username: str) -> WebDriverWait:
    """The console's sign-in page, its link to the authorization server, the server's pages."""
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    browser.get(f"{bridge.console_url}/login")
    wait = WebDriverWait(browser, 15)
    wait.until(seen.element_to_be_clickable((By.ID, "oauth-signin"))).click()
    SignIn(browser, username, password(bridge, username)).at_the_server()
    return wait


def test_operators_sign_in_to_the_console_through_the_server(bridge, browser):
    wait = console_sign_in(bridge, browser, "dev")
    wait.until(lambda d: urlparse(d.current_url).path == "/agents")
    wait.until(lambda d: d.find_element(By.ID, "operator").text == "user.dev")
    assert "Signed in as dev" not in browser.page_source  # the console's page, not the server's
    # The session works like a key's: the registry's agents are listed.
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, 'tr[data-subject="user.dev"]'))


def test_the_console_refuses_a_person_without_admin(bridge, browser):
    wait = console_sign_in(bridge, browser, "Carol.K")
    wait.until(lambda d: urlparse(d.current_url).path == "/login")
    error = wait.until(seen.visibility_of_element_located((By.ID, "signin-error")))
    assert "insufficient_scope" in error.text, error.text
    assert browser.get_cookie("vmb_console") is None


def test_a_console_callback_from_elsewhere_is_refused(bridge):
    """A code and state presented without the browser that started the sign-in (a login CSRF),
    or a state never issued, start no session."""
    started = requests.get(f"{bridge.console_url}/login/oauth", allow_redirects=False, timeout=10)
    assert started.headers["location"].startswith(f"{bridge.oauth_issuer}/auth?")
    state = parse_qs(urlparse(started.headers["location"]).query)["state"][0]
    for query, why in [
        # Without its browser's cookie: refused, and the sign-in stays for that browser.
        (f"state={state}&code=x&iss={bridge.oauth_issuer}", "started in another browser"),
        (f"state={state}&code=x&iss={bridge.oauth_issuer}", "started in another browser"),
        ("state=forged&code=x&iss=" + bridge.oauth_issuer, "expired or was used already"),
        ("code=x", "expired or was used already"),
    ]:
        answer = requests.get(f"{bridge.console_url}/login/callback?{query}", allow_redirects=False, timeout=10)
        assert answer.status_code == 303
        location = answer.headers["location"]
        assert location.startswith("/login#error=") and why.replace(" ", "+") in location, location
        assert "vmb_console=" not in answer.headers.get("set-cookie", "")

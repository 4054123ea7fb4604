"""The official MCP Python SDK's OAuth client, with a person signing in in headless Chromium:
shared by the e2e OAuth tests and the compose stack's."""

import asyncio
from urllib.parse import parse_qs, urlparse

from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait

import stack as stacks


class Storage:
    """The SDK's token storage, in memory."""

    def __init__(self):
        self.tokens = self.client = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client

    async def set_client_info(self, client_info):
        self.client = client_info


class SignIn:
    """The person at the browser: the SDK hands over the authorization URL; Chromium opens it,
    signs in and allows on the server's pages, and reads the code from where the server sends
    the browser back (a loopback address nobody serves, as a native client's would be)."""

    def __init__(self, driver, username: str, password: str):
        self.driver, self.username, self.password = driver, username, password
        self.redirect_uri = f"http://127.0.0.1:{stacks.free_ports(1)[0]}/callback"
        self.url = None

    async def redirect(self, url: str) -> None:
        self.url = url

    async def callback(self) -> AuthorizationCodeResult:
        return await asyncio.to_thread(self.sign_in)

    def sign_in(self) -> AuthorizationCodeResult:
        driver, wait = self.driver, WebDriverWait(self.driver, 15)
        # No session at the server from an earlier sign-in (every site's cookies: the page
        # open now may be an error page, whose "all cookies" are none).
        driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
        driver.get(self.url)
        self.at_the_server()
        wait.until(lambda d: d.current_url.startswith(self.redirect_uri))
        query = {k: v[0] for k, v in parse_qs(urlparse(driver.current_url).query).items()}
        return AuthorizationCodeResult(code=query["code"], state=query.get("state"), iss=query.get("iss"))

    def at_the_server(self) -> None:
        """On the server's pages: signs in and allows."""
        driver, wait = self.driver, WebDriverWait(self.driver, 15)
        wait.until(seen.presence_of_element_located((By.ID, "password")))
        driver.find_element(By.ID, "username").send_keys(self.username)
        driver.find_element(By.ID, "password").send_keys(self.password)
        driver.find_element(By.ID, "sign-in").click()
        wait.until(seen.element_to_be_clickable((By.ID, "allow"))).click()


def provider(mcp_url: str, sign_in: SignIn, storage: Storage | None = None) -> OAuthClientProvider:
    metadata = OAuthClientMetadata(client_name="bridge e2e", redirect_uris=[sign_in.redirect_uri],
                                   grant_types=["authorization_code", "refresh_token"],
                                   response_types=["code"], token_endpoint_auth_method="none")
    return OAuthClientProvider(mcp_url, metadata, storage or Storage(),
                               redirect_handler=sign_in.redirect, callback_handler=sign_in.callback)


async def session_calls(mcp_url: str, auth: OAuthClientProvider, calls: list[tuple[str, dict]]):
    """Opens an MCP session at `mcp_url` with `auth` and makes `calls` in order."""
    http = create_mcp_http_client(auth=auth)
    async with http:
        async with Client(streamable_http_client(mcp_url, http_client=http),
                          mode="2026-07-28") as client:
            return [await client.call_tool(name, arguments) for name, arguments in calls]

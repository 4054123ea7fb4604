"""The operator console (issue #17) in real headless Chromium (Debian `chromium` and
`chromium-driver`, driven by Selenium), against the stack's backend console listener and its
Envoy: sign in with an `admin` identity, add an agent and use its key through Envoy, disable it
and see the edge refuse it; and what must hold without a browser: no session → sign-in, no CSRF
token → 403, no `admin` → no session, no secret value in any page or response.

Screenshots go to a temporary folder, or to `$CONSOLE_SCREENSHOTS` (docs/CONSOLE.md's come from
`CONSOLE_SCREENSHOTS=docs/console scripts/test tests/e2e/test_console.py`)."""

import json
import os
import time
import uuid
from pathlib import Path

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import Select, WebDriverWait

from attacks import tool_call
from support import add_agent, chromium, wait_for


@pytest.fixture(scope="module")
def browser():
    driver = chromium()
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path_factory.mktemp("console"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def operator(stack) -> tuple[str, str]:
    subject = f"ops_{uuid.uuid4().hex[:6]}"
    key = add_agent(stack, subject, "--scopes", "admin")
    # The console follows the registry on its own schedule (REGISTRY_REFRESH_SECONDS).
    wait_for(lambda: requests.post(f"{stack.console_url}/login", json={"credential": key}, timeout=10).ok, 15)
    return subject, key


def signed_in_session(stack, key: str) -> requests.Session:
    session = requests.Session()
    response = session.post(f"{stack.console_url}/login", json={"credential": key}, timeout=10)
    assert response.status_code == 200, response.text
    return session


def sign_in(browser, stack, key: str) -> None:
    browser.delete_all_cookies()
    browser.get(f"{stack.console_url}/login")
    browser.find_element(By.ID, "credential").send_keys(key)
    browser.find_element(By.ID, "signin-button").click()


def wait(browser, seconds: float = 15) -> WebDriverWait:
    return WebDriverWait(browser, seconds)


def test_sign_in_add_an_agent_use_it_through_envoy_then_disable_it(stack, browser, operator, shots):
    subject, key = operator
    browser.get(f"{stack.console_url}/login")
    browser.save_screenshot(str(shots / "sign-in.png"))
    sign_in(browser, stack, key)
    wait(browser).until(seen.text_to_be_present_in_element((By.ID, "operator"), subject))
    assert browser.current_url == f"{stack.console_url}/agents"
    # The registry's agents are listed (the dev stack's own among them).
    wait(browser).until(seen.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-subject="agent_api"]')))

    new = f"console_{uuid.uuid4().hex[:6]}"
    browser.find_element(By.ID, "add-subject").send_keys(new)
    for scope in ("read", "write"):
        browser.find_element(By.CSS_SELECTOR, f'#add-scopes input[value="{scope}"]').click()
    browser.find_element(By.ID, "add-rate").send_keys("100/60")
    browser.find_element(By.ID, "add-button").click()
    shown = wait(browser).until(seen.visibility_of_element_located((By.ID, "new-key-value")))
    api_key = shown.text
    assert api_key.startswith("vmb_")
    row = wait(browser).until(seen.presence_of_element_located((By.CSS_SELECTOR, f'tr[data-subject="{new}"]')))
    assert "read write" in row.text and "100/60s" in row.text

    # The key works through Envoy once its workers hold the next snapshot (the first worker at
    # once, the other at its next one-second tick: see support.add_agent).
    whoami = lambda: requests.get(f"{stack.envoy_url}/whoami", headers={"X-API-Key": api_key}, timeout=10)
    assert wait_for(lambda: whoami().status_code == 200, 15)
    time.sleep(1.1)
    assert whoami().json()["subject"] == new
    browser.find_element(By.ID, "dismiss-key").click()
    assert browser.find_element(By.ID, "new-key-value").text == ""

    # Its requests appear in Traffic and in its Activity.
    browser.get(f"{stack.console_url}/traffic?agent={new}")
    wait(browser).until(seen.text_to_be_present_in_element((By.ID, "scope"), new))
    row = wait(browser).until(seen.presence_of_element_located((By.CSS_SELECTOR, "#activity tbody tr")))
    assert "GET" in row.text and "/whoami" in row.text and "200" in row.text
    wait(browser).until(seen.text_to_be_present_in_element((By.ID, "totals"), "last hour: "))
    assert int(browser.find_element(By.ID, "totals").text.split()[2]) >= 2
    browser.get(f"{stack.console_url}/agents")
    wait(browser).until(seen.presence_of_element_located((By.CSS_SELECTOR, f'tr[data-subject="{new}"]')))

    # A Vault call gives the agent its Vault identity; disabling it in the page stops it there.
    assert requests.get(f"{stack.envoy_url}/secrets/console-probe", headers={"X-API-Key": api_key},
                        timeout=10).status_code == 404
    browser.find_element(By.CSS_SELECTOR, f'tr[data-subject="{new}"] button[data-action="disable"]').click()
    wait(browser).until(seen.text_to_be_present_in_element(
        (By.CSS_SELECTOR, f'tr[data-subject="{new}"] td.off'), "no"))
    notice = browser.find_element(By.ID, "notice").text
    assert notice == f"{new} disabled: its Vault tokens stopped; no lease to revoke.", notice
    # The reload after the change shows when the backend last answered the agent (its whoami).
    assert browser.find_element(By.CSS_SELECTOR, f'tr[data-subject="{new}"] td.seen').text.endswith("UTC")
    wait_for(lambda: whoami().status_code != 200, 15)
    time.sleep(1.1)  # both workers
    refused = whoami()
    assert refused.status_code == 403 and refused.json()["error"] == "agent_disabled", refused.text


def test_keys_last_used_limits_edited_in_the_page_and_refusals_per_agent(stack, browser, operator, shots):
    """A key's last use (its id signed by the edge), rate and per-tool limits edited in the page and
    applied by Envoy, and the edge's refusals of that agent by status, minute by minute."""
    subject = f"limits_{uuid.uuid4().hex[:6]}"
    first = add_agent(stack, subject, "--scopes", "read")  # used once: add_agent waits on /whoami
    sign_in(browser, stack, operator[1])
    wait(browser).until(seen.text_to_be_present_in_element((By.ID, "operator"), operator[0]))
    row = f'tr[data-subject="{subject}"]'
    wait(browser).until(seen.presence_of_element_located((By.CSS_SELECTOR, row)))
    assert "last used" in browser.find_element(By.CSS_SELECTOR, f"{row} .keyline").text

    # Rotate with a grace period: the new key is not used yet, the old one was.
    browser.find_element(By.CSS_SELECTOR, f"{row} input.grace").send_keys("600")
    browser.find_element(By.CSS_SELECTOR, f'{row} button[data-action="rotate"]').click()
    second = wait(browser).until(seen.visibility_of_element_located((By.ID, "new-key-value"))).text
    browser.find_element(By.ID, "dismiss-key").click()
    lines = lambda: {line.get_attribute("data-key-id"): line.text
                     for line in browser.find_elements(By.CSS_SELECTOR, f"{row} .keyline")}
    wait_for(lambda: len(lines()) == 2, 15)
    assert sorted("not used yet" in text for text in lines().values()) == [False, True], lines()
    whoami = lambda key: requests.get(f"{stack.envoy_url}/whoami", headers={"X-API-Key": key}, timeout=10)
    assert wait_for(lambda: whoami(second).status_code == 200, 15)
    assert whoami(first).status_code == 200  # in its grace period

    # Limits edited in the page: a bad entry is explained, a good one saved and shown.
    tools = browser.find_element(By.CSS_SELECTOR, f"{row} input.tool-rates")
    tools.send_keys("kv.read fast")
    browser.find_element(By.CSS_SELECTOR, f'{row} button[data-action="save"]').click()
    wait(browser).until(seen.text_to_be_present_in_element((By.ID, "message"), "tool requests/seconds"))
    tools = browser.find_element(By.CSS_SELECTOR, f"{row} input.tool-rates")
    tools.clear()
    tools.send_keys("kv.nope 1/60")
    browser.find_element(By.CSS_SELECTOR, f'{row} button[data-action="save"]').click()
    wait(browser).until(seen.text_to_be_present_in_element((By.ID, "message"), "kv.nope"))
    budgets = browser.find_element(By.CSS_SELECTOR, f"{row} input.budgets")
    budgets.send_keys("kv.read often")
    browser.find_element(By.CSS_SELECTOR, f'{row} button[data-action="save"]').click()
    wait(browser).until(seen.text_to_be_present_in_element((By.ID, "message"), "budgets are tool requests/seconds"))
    budgets = browser.find_element(By.CSS_SELECTOR, f"{row} input.budgets")
    budgets.clear()
    budgets.send_keys("kv.read 5/86400")
    rate = browser.find_element(By.CSS_SELECTOR, f"{row} input.rate")
    rate.clear()
    rate.send_keys("6/3600")
    tools = browser.find_element(By.CSS_SELECTOR, f"{row} input.tool-rates")
    tools.clear()
    tools.send_keys("kv.read 1/3600")
    browser.find_element(By.CSS_SELECTOR, f'{row} button[data-action="save"]').click()
    wait(browser).until(seen.text_to_be_present_in_element((By.CSS_SELECTOR, f"{row} td.limits"),
                                                          "6/3600s, kv.read 1/3600s"))
    # The budget, with what is left of it today (the edge's rate-limit service, asked with hits 0).
    assert "budget kv.read 5/86400s: 5 left, resets in" in browser.find_element(
        By.CSS_SELECTOR, f"{row} td.limits").text
    # The reload after the save shows both keys used.
    assert not any("not used yet" in text for text in lines().values()), lines()
    browser.set_window_size(1800, 1300)
    browser.execute_script("document.querySelectorAll('section').forEach((s) => { s.scrollLeft = 0; });"
                           "window.scrollTo(0, 0);")
    browser.save_screenshot(str(shots / "agents.png"))
    browser.set_window_size(1400, 900)

    # Envoy applies the page's limits once it holds the next snapshot: a second kv.read is over
    # the tool's limit; a write is out of the agent's scopes; the sixth request over its rate.
    read = lambda: tool_call(stack, "kv.read", {"path": "none"}, second)
    # (A Response is falsy when its status is an error: the list holds it.)
    limited = wait_for(lambda: [r for r in [read()] if r.status_code == 429], 20)[0]
    assert limited.json()["error"] == "rate_limited"
    time.sleep(1.1)  # the other Envoy worker takes the snapshot at its next one-second tick
    written = requests.put(f"{stack.envoy_url}/secrets/x", json={"data": {"v": "1"}},
                           headers={"X-API-Key": second}, timeout=10)
    assert (written.status_code, written.json()["error"]) == (403, "insufficient_scope")
    statuses = [whoami(second).status_code for _ in range(8)]
    assert 429 in statuses, statuses

    # The Traffic page's drill-down shows those refusals, sampled from Envoy's counters.
    browser.get(f"{stack.console_url}/traffic?agent={subject}")
    for status in ("403", "429"):
        wait(browser, 30).until(seen.presence_of_element_located(
            (By.CSS_SELECTOR, f'#refusals-chart rect[data-status="{status}"]')))
    for code in ("insufficient_scope", "rate_limited"):
        cell = (By.CSS_SELECTOR, f'#refusals tr[data-code="{code}"] td')
        wait(browser, 15).until(seen.presence_of_element_located(cell))
        assert int(browser.find_element(*cell).text) >= 1
    browser.save_screenshot(str(shots / "traffic-refusals.png"))
    # Only the registry's agents have series: a refused stranger is not one.
    session = signed_in_session(stack, operator[1])
    mine = session.get(f"{stack.console_url}/api/traffic", params={"agent": subject}, timeout=10).json()
    assert mine["edge_refusals"]["sampled"] is True
    assert mine["edge_refusals"]["by_code"]["rate_limited"] >= 2
    agents = {a["subject"]: a for a in mine["agents"]}
    assert len(agents[subject]["keys_last_used_ms"]) == 2


def test_health_shows_vault_the_registry_and_the_edges_counters(stack, browser, operator, shots):
    sign_in(browser, stack, operator[1])
    wait(browser).until(seen.text_to_be_present_in_element((By.ID, "operator"), operator[0]))
    refused = requests.get(f"{stack.envoy_url}/whoami", headers={"X-API-Key": "vmb_unknown"}, timeout=10)
    assert refused.status_code == 401
    browser.get(f"{stack.console_url}/health")
    cell = lambda table, name: (By.CSS_SELECTOR, f'#{table} tr[data-name="{name}"] td')
    wait(browser).until(seen.text_to_be_present_in_element(cell("vault", "reachable, unsealed, token valid"), "yes"))
    # The service's own token (provisioned for 768 hours, not root) has most of its life left.
    left = browser.find_element(*cell("vault", "service token expires in")).text
    assert left.endswith(" h") and 760 <= int(left.split()[0]) <= 768, left
    assert int(browser.find_element(*cell("registry", "agents")).text) >= 5
    # The refusal above, counted by the filter in Envoy and read from its admin /stats.
    wait(browser).until(seen.presence_of_element_located(cell("edge", "refused: invalid_api_key")))
    assert int(browser.find_element(*cell("edge", "refused: invalid_api_key")).text) >= 1
    assert int(browser.find_element(*cell("edge", "agents Envoy holds")).text) >= 5
    assert browser.find_element(*cell("edge", "registry fetches ok / failed")).text.endswith("/ 0")
    # The slot table the edge's configuration gives the limiter (the filter's default: 1024).
    slots = json.loads(stack.edge_policy_file.read_text())["rate_limit"].get("slots", 1024)
    assert browser.find_element(*cell("edge", "rate-limit slots (agents limited at once)")).text == str(slots)
    browser.save_screenshot(str(shots / "health.png"))


def test_traffic_and_activity_of_an_agent_with_its_vault_audit_entries(stack, browser, operator, shots):
    key = {"X-API-Key": "dev-key"}
    written = requests.put(f"{stack.envoy_url}/secrets/console/traffic", json={"data": {"v": "1"}}, headers=key,
                           timeout=10)
    assert written.ok, written.text
    request_id = written.headers["x-request-id"]
    assert requests.get(f"{stack.envoy_url}/secrets/console/missing", headers=key, timeout=10).status_code == 404
    sign_in(browser, stack, operator[1])
    wait(browser).until(seen.text_to_be_present_in_element((By.ID, "operator"), operator[0]))
    browser.get(f"{stack.console_url}/traffic")
    # The charts draw the last hour; the agent is listed with its requests and drills down.
    wait(browser).until(seen.presence_of_element_located((By.CSS_SELECTOR, "#requests-chart svg rect")))
    wait(browser).until(seen.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-subject="agent_api"]')))
    browser.find_element(By.CSS_SELECTOR, 'tr[data-subject="agent_api"] button[data-action="select"]').click()
    wait(browser).until(seen.text_to_be_present_in_element((By.ID, "scope"), "agent_api"))
    row = wait(browser).until(seen.presence_of_element_located(
        (By.CSS_SELECTOR, f'#activity tr[data-request-id="{request_id}"]')))
    assert "PUT" in row.text and "/secrets/{path:.*}" in row.text and "200" in row.text
    # Filtering keeps the 404 and hides the write.
    status = Select(browser.find_element(By.ID, "status-filter"))
    status.select_by_value("4")
    wait(browser).until(seen.invisibility_of_element_located((By.CSS_SELECTOR, f'#activity tr[data-request-id="{request_id}"]')))
    assert "404" in browser.find_element(By.CSS_SELECTOR, "#activity tbody tr").text
    status.select_by_value("")
    row = wait(browser).until(seen.presence_of_element_located(
        (By.CSS_SELECTOR, f'#activity tr[data-request-id="{request_id}"]')))
    row.find_element(By.CSS_SELECTOR, 'button[data-action="audit"]').click()
    audit = wait(browser).until(seen.presence_of_element_located(
        (By.CSS_SELECTOR, f'#activity tr[data-request-id="{request_id}"] ul.audit')))
    # The write as Vault audited it: its request and its response, by the same request id.
    assert "request create secret/data/agents/agent_api/console/traffic" in audit.text
    assert "response create secret/data/agents/agent_api/console/traffic" in audit.text
    browser.set_window_size(1400, 1800)
    browser.save_screenshot(str(shots / "traffic.png"))
    browser.set_window_size(1400, 900)
    # An agent the registry does not name has no series, whatever is asked.
    session = signed_in_session(stack, operator[1])
    assert session.get(f"{stack.console_url}/api/traffic", params={"agent": "nobody"}, timeout=10).status_code == 404
    assert session.get(f"{stack.console_url}/api/activity/nobody", timeout=10).status_code == 404
    assert session.get(f"{stack.console_url}/api/audit/not%20an%20id", timeout=10).status_code == 400
    odd = session.get(f"{stack.console_url}/api/traffic", params={"since": "1"}, timeout=10)
    assert odd.status_code == 400 and odd.json()["error"] == "invalid_request"


def test_without_a_session_every_page_goes_to_sign_in(stack, browser):
    for path, location in (("/agents", "/login"), ("/health", "/login"), ("/traffic", "/login"), ("/", "/agents")):
        response = requests.get(f"{stack.console_url}{path}", allow_redirects=False, timeout=10)
        assert (response.status_code, response.headers["location"]) == (303, location)
    browser.delete_all_cookies()
    browser.get(f"{stack.console_url}/agents")
    assert browser.current_url == f"{stack.console_url}/login"
    api = requests.get(f"{stack.console_url}/api/agents", timeout=10)
    assert api.status_code == 401 and api.json()["error"] == "unauthenticated"
    stale = requests.get(f"{stack.console_url}/api/agents", cookies={"vmb_console": "x" * 43}, timeout=10)
    assert stale.status_code == 401


def test_a_change_needs_the_csrf_token(stack, operator):
    session = signed_in_session(stack, operator[1])
    csrf = session.get(f"{stack.console_url}/api/session", timeout=10).json()["csrf"]
    body = {"subject": f"csrf_{uuid.uuid4().hex[:6]}", "scopes": ["read"]}
    for headers in ({}, {"X-CSRF-Token": "wrong"}, {"X-CSRF-Token": ""}):
        refused = session.post(f"{stack.console_url}/api/agents", json=body, headers=headers, timeout=10)
        assert refused.status_code == 403, (headers, refused.text)
    assert session.get(f"{stack.console_url}/api/agents/{body['subject']}", timeout=10).status_code == 404
    made = session.post(f"{stack.console_url}/api/agents", json=body, headers={"X-CSRF-Token": csrf}, timeout=10)
    assert made.status_code == 201, made.text
    # Signing out ends the session: its cookie no longer opens anything.
    session.post(f"{stack.console_url}/api/signout", headers={"X-CSRF-Token": csrf}, timeout=10)
    assert requests.get(f"{stack.console_url}/api/agents", timeout=10,
                        cookies={"vmb_console": session.cookies.get("vmb_console") or "gone"}).status_code == 401


def test_only_an_admin_identity_signs_in(stack, browser):
    for credential, status, code in (("dev-key", 403, "insufficient_scope"), ("vmb_nope", 401, "invalid_api_key"),
                                     ("", 400, "invalid_request")):
        response = requests.post(f"{stack.console_url}/login", json={"credential": credential}, timeout=10)
        assert (response.status_code, response.json()["error"]) == (status, code), response.text
        assert "set-cookie" not in response.headers
    # A JWT is a credential too: the same decision, the same refusal without `admin`.
    token = stack.secrets.token("agent_api", "read write")
    assert requests.post(f"{stack.console_url}/login", json={"credential": token}, timeout=10).status_code == 403
    sign_in(browser, stack, "dev-key")
    error = wait(browser).until(seen.visibility_of_element_located((By.ID, "signin-error")))
    assert "admin" in error.text
    assert browser.current_url == f"{stack.console_url}/login" and not browser.get_cookies()


def test_sign_in_from_another_origin_is_refused(stack, operator):
    refused = requests.post(f"{stack.console_url}/login", json={"credential": operator[1]},
                            headers={"Origin": "http://evil.example"}, timeout=10)
    assert refused.status_code == 403 and "set-cookie" not in refused.headers


def test_headers_cookie_and_no_secret_in_any_response(stack, operator):
    planted = f"planted-console-{uuid.uuid4().hex}"
    written = requests.put(f"{stack.envoy_url}/secrets/console/leak", json={"data": {"value": planted}},
                           headers={"X-API-Key": "dev-key"}, timeout=10)
    assert written.ok, written.text
    login = requests.post(f"{stack.console_url}/login", json={"credential": operator[1]}, timeout=10)
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    session = signed_in_session(stack, operator[1])
    answers = [session.get(f"{stack.console_url}{path}", timeout=10) for path in (
        "/login", "/agents", "/assets/console.js", "/assets/agents.js", "/assets/login.js", "/assets/console.css",
        "/health", "/assets/health.js", "/api/health", "/traffic", "/assets/traffic.js", "/api/traffic",
        "/api/activity/agent_api", f"/api/audit/{written.headers['x-request-id']}",
        "/api/session", "/api/agents", "/api/agents/agent_api", "/api/agents/nobody")]
    for answer in answers:
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert answer.headers["cache-control"] == "no-store"
        assert planted not in answer.text and operator[1] not in answer.text
        assert "sha256" not in answer.text
    assert [a.status_code for a in answers] == [200] * 17 + [404]
    # Pages load scripts only from the console itself, never inline.
    for page in answers[:2] + answers[6:7] + answers[9:10]:
        assert "<script>" not in page.text and "http" not in page.text.split("<body")[0]

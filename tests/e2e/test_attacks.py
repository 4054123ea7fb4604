"""Runs the attack table (tests/e2e/attacks.py) against the real stack: each case must get the
outcome the table states, and docs/SECURITY.md must show exactly this table."""

import pytest
import requests

import attacks
import docsections
from support import wait_for


@pytest.fixture(scope="module")
def armed(stack):
    """The stack, once the filter has fetched the JWKS (RS256 tokens verify)."""
    def accepted():
        response = requests.get(f"{stack.envoy_url}/whoami", headers=attacks.bearer(attacks.rs256(stack)), timeout=10)
        return response.status_code == 200
    wait_for(accepted)
    return stack


@pytest.mark.parametrize("case", attacks.CASES, ids=lambda c: c.id)
def test_attack(armed, case):
    response = case.send(armed)
    # No refusal or answer repeats a secret: the edge's keys, the agents' API keys.
    for secret in (armed.secrets.assertion_key, armed.secrets.hs256_secret, "dev-key"):
        assert secret not in response.text, case.id
    if callable(case.expect):
        case.expect(armed, response)
        return
    status, code = case.expect
    assert response.status_code == status, (case.id, response.status_code, response.text[:500])
    if code is not None:
        assert response.json()["error"] == code, (case.id, response.text[:500])


def test_security_md_shows_the_table_the_suite_runs():
    section = docsections.read(attacks.SECURITY_DOC, attacks.BEGIN, attacks.END)
    assert section.strip() == attacks.render_table().strip(), "run: PYTHONPATH=scripts .venv/bin/python tests/e2e/attacks.py"

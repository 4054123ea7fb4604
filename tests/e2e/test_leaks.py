"""Runs last (marked `session_end`, see conftest.py): after every suite, attacks and faults included, no secret of any
stack this session started appears in any of its log files. The attack suite's planted value
and every dev API key are searched for too. (OpenBao's own server log is left out: the dev
server prints its root token and unseal key at start, by design.)"""

import pytest

import attacks
from support import STARTED


@pytest.mark.session_end
def test_no_secret_in_any_log_of_any_stack():
    assert STARTED, "no stack was started in this session"
    searched = 0
    for stack in STARTED:
        forbidden = {
            "assertion key": stack.secrets.assertion_key,
            "HS256 secret": stack.secrets.hs256_secret,
            "PostgreSQL password": stack.secrets.postgres_password,
            "Redis password": stack.secrets.redis_password,
            "RSA private key": stack.secrets.rsa_private_pem.decode().splitlines()[1],
            "planted KV value": attacks.PLANTED,
            **{f"API key of {a['subject']}": a["api_key"] for a in stack.agents},
        }
        for log in stack.logs.rglob("*.log"):
            if log.name == "openbao.log":
                continue
            text = log.read_text(errors="replace")
            searched += 1
            for what, secret in forbidden.items():
                assert secret not in text, f"{what} appears in {log}"
    assert searched > 0

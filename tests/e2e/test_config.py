"""The backend's configuration as a user meets it: the command line, files, precedence."""

import json
import os
import subprocess

import stack as stacks

KEY = "0123456789abcdef0123456789abcdef"


def bridge(*args, env=None, cwd=None):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "AGENT_", "APP_"))}
    return subprocess.run([str(stacks.BACKEND_BIN), *args], capture_output=True, text=True,
                          env={**base, **(env or {})}, cwd=cwd, timeout=30)


def test_check_config_layers_env_over_file_over_defaults(built, tmp_path):
    (tmp_path / "config.toml").write_text(
        f'vault_token = "s.from-file"\nagent_assertion_key = "{KEY}"\nport = 9999\nkv_mount = "kv"\n')
    result = bridge("check-config", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["port"], summary["kv_mount"], summary["default_prefix"]) == (9999, "kv", "agents")
    # Secrets are never printed.
    assert "s.from-file" not in result.stdout and KEY not in result.stdout
    assert summary["vault_token"] == "set"

    result = bridge("check-config", cwd=tmp_path, env={"PORT": "1234", "HTTP_WORKERS": "1"})
    assert json.loads(result.stdout)["port"] == 1234 and json.loads(result.stdout)["http_workers"] == 1

    other = tmp_path / "elsewhere.json"
    other.write_text(json.dumps({"vault_token": "t", "agent_assertion_key": KEY, "host": "0.0.0.0"}))
    result = bridge("check-config", cwd=tmp_path, env={"APP_CONFIG_FILE": str(other)})
    assert json.loads(result.stdout)["host"] == "0.0.0.0"


def test_invalid_configuration_is_refused_with_a_clear_message(built, tmp_path):
    cases = [
        ({}, "give VAULT_TOKEN, or VAULT_ROLE_ID with VAULT_SECRET_ID"),
        ({"VAULT_TOKEN": "t", "AGENT_ASSERTION_KEY": "short"}, "AGENT_ASSERTION_KEY"),
        ({"VAULT_TOKEN": "t", "AGENT_ASSERTION_KEY": KEY, "VAULT_ADDR": "ftp://x"}, "VAULT_ADDR"),
        ({"VAULT_TOKEN": "t", "AGENT_ASSERTION_KEY": KEY, "PORT": "lots"}, "PORT"),
        ({"VAULT_TOKEN": "t", "AGENT_ASSERTION_KEY": KEY, "HTTP_WORKERS": "0"}, "HTTP_WORKERS"),
        ({"APP_CONFIG_FILE": str(tmp_path / "missing.toml")}, "does not exist"),
    ]
    for env, expected in cases:
        for command in ("check-config", "serve"):
            result = bridge(command, env=env, cwd=tmp_path)
            assert result.returncode == 2, (env, command)
            assert expected in result.stderr, (env, result.stderr)
    (tmp_path / "config.toml").write_text('vault_token = "t"\nsurprise = 1\n')
    result = bridge("check-config", cwd=tmp_path, env={"AGENT_ASSERTION_KEY": KEY})
    assert result.returncode == 2 and "surprise" in result.stderr


def test_help_lists_the_commands(built):
    result = bridge("--help")
    for command in ("serve", "check-config", "gen-policy"):
        assert command in result.stdout


def test_gen_policy_confines_each_agent_to_its_own_corner(built):
    """One policy for every agent, its paths templated on the agent's entity (what Vault
    itself confines each agent with is exercised in test_agent_identity.py)."""
    result = bridge("gen-policy", "--agents", "--mount", "kv", "--prefix", "team")
    assert 'path "kv/+/team/{{identity.entity.metadata.subject}}/*"' in result.stdout
    assert 'path "transit/+/{{identity.entity.metadata.subject}}"' in result.stdout
    roles = bridge("gen-policy", "--agent-roles", "--database-roles", "ro,rw").stdout
    assert 'path "database/creds/ro"' in roles and 'path "database/creds/rw"' in roles and "{{" not in roles
    # Per-agent policies are gone, and so is the flag that printed them.
    assert bridge("gen-policy", "--agent", "agent_x").returncode == 2

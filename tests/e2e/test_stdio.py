"""`vault-mcp-bridge stdio`: MCP on stdin/stdout for one agent, as Claude Desktop and Cursor
launch local servers; driven here by the official SDK's stdio client."""

import asyncio
import json
import os
import subprocess
import uuid

import requests
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

import stack as stacks


def server_env(stack, subject="agent_stdio", scopes="read write list"):
    return {
        "PATH": os.environ["PATH"],
        "VAULT_ADDR": stack.openbao_url,
        "VAULT_TOKEN": stacks.SERVICE_TOKEN,
        "SUBJECT": subject,
        "SCOPES": scopes,
    }


async def session_calls(params, path):
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = [t.name for t in (await session.list_tools()).tools]
            written = await session.call_tool("kv.write", {"path": path, "data": {"via": "stdio"}})
            got = await session.call_tool("kv.read", {"path": path})
            denied = await session.call_tool("kv.delete", {"path": path})
            return tools, written, got, denied


def test_sdk_over_stdio(stack):
    path = f"stdio/{uuid.uuid4().hex[:8]}"
    params = StdioServerParameters(command=str(stacks.BACKEND_BIN), args=["stdio"], env=server_env(stack))
    tools, written, got, denied = asyncio.run(session_calls(params, path))
    assert "kv.read" in tools and "ssh.sign" in tools
    assert not written.is_error and got.structured_content["data"] == {"via": "stdio"}
    # SCOPES has no 'delete'.
    assert denied.is_error and "insufficient_scope" in denied.content[0].text
    stored = requests.get(f"{stack.openbao_url}/v1/secret/data/agents/agent_stdio/{path}",
                          headers={"X-Vault-Token": stacks.ROOT_TOKEN}, timeout=10)
    assert stored.json()["data"]["data"] == {"via": "stdio"}


def test_stdout_carries_nothing_but_protocol(stack):
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "probe", "version": "1"}}}
    result = subprocess.run([str(stacks.BACKEND_BIN), "stdio"], input=json.dumps(initialize) + "\n",
                            capture_output=True, text=True, timeout=30, env=server_env(stack))
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines, result.stderr
    for line in lines:
        assert json.loads(line)["jsonrpc"] == "2.0"
    assert json.loads(lines[0])["result"]["serverInfo"]["name"] == "vault-mcp-bridge"


def test_stdio_needs_a_subject(built):
    result = subprocess.run([str(stacks.BACKEND_BIN), "stdio"], capture_output=True, text=True, timeout=30,
                            env={"PATH": os.environ["PATH"], "VAULT_TOKEN": "t", "SUBJECT": "../x"})
    assert result.returncode == 2 and "SUBJECT" in result.stderr
    assert result.stdout == ""


async def underscore_calls(params):
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = [t.name for t in (await session.list_tools()).tools]
            written = await session.call_tool("kv_write", {"path": "underscore/x", "data": {"a": 1}})
            dotted = await session.call_tool("kv.read", {"path": "underscore/x"})
            return tools, written, dotted


def test_underscore_tool_names_for_clients_that_refuse_dots(stack):
    env = {**server_env(stack), "MCP_TOOL_NAMES": "underscore"}
    params = StdioServerParameters(command=str(stacks.BACKEND_BIN), args=["stdio"], env=env)
    tools, written, dotted = asyncio.run(underscore_calls(params))
    assert "kv_read" in tools and not any("." in t for t in tools)
    assert not written.is_error and dotted.structured_content["data"] == {"a": 1}

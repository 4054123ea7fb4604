#!/usr/bin/env python3
"""A small agent on the official MCP Python SDK (no LLM): it connects to the bridge, lists the
tools it may use, stores a secret, reads it back and encrypts a note with its own Transit key.

    # through Envoy with an API key (scripts/dev-stack up)
    .venv/bin/python examples/mcp_agent.py --url http://127.0.0.1:10000/mcp --api-key dev-key
    # with a JWT (the dev stack prints one in .dev/credentials.json)
    .venv/bin/python examples/mcp_agent.py --url http://127.0.0.1:10000/mcp --jwt "$TOKEN"
    # over stdio: the SDK starts `vault-mcp-bridge stdio` itself
    SUBJECT=agent_api SCOPES="read write list" VAULT_ADDR=http://127.0.0.1:8200 \\
      VAULT_TOKEN=dev-bridge-service-token .venv/bin/python examples/mcp_agent.py --stdio target/debug/vault-mcp-bridge
"""

import argparse
import asyncio
import json
import os

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


async def work(session: ClientSession, path: str) -> dict:
    await session.initialize()
    tools = sorted(tool.name for tool in (await session.list_tools()).tools)
    written = await session.call_tool("kv.write", {"path": path, "data": {"note": "hello from an agent"}})
    read = await session.call_tool("kv.read", {"path": path})
    encrypted = await session.call_tool("transit.encrypt", {"text": "a private note"})
    return {
        "tools": tools,
        "written": written.structured_content,
        "read": read.structured_content,
        # A tool the agent's scopes do not allow comes back as a tool error, not an exception.
        "encrypted": encrypted.structured_content if not encrypted.is_error else encrypted.content[0].text,
    }


async def over_http(url: str, headers: dict, path: str) -> dict:
    async with create_mcp_http_client(headers=headers) as http:
        async with streamable_http_client(url, http_client=http) as (read, write, *_):
            async with ClientSession(read, write) as session:
                return await work(session, path)


async def over_stdio(command: str, path: str) -> dict:
    params = StdioServerParameters(command=command, args=["stdio"], env=dict(os.environ))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            return await work(session, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="the bridge's MCP endpoint (through Envoy)")
    parser.add_argument("--api-key")
    parser.add_argument("--jwt")
    parser.add_argument("--stdio", metavar="BINARY", help="start this vault-mcp-bridge in stdio mode")
    parser.add_argument("--path", default="examples/agent-note")
    args = parser.parse_args()
    if args.stdio:
        result = asyncio.run(over_stdio(args.stdio, args.path))
    else:
        headers = {"X-API-Key": args.api_key} if args.api_key else {"Authorization": f"Bearer {args.jwt}"}
        result = asyncio.run(over_http(args.url, headers, args.path))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

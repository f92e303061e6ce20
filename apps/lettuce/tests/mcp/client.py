"""Drives a Lettuce MCP server with the official Python MCP SDK (`mcp`).

Usage:
  client.py stdio PLAN.json -- COMMAND ARGS...
  client.py http PLAN.json URL TOKEN

PLAN.json is a list of {"tool": name, "args": {...}}. The script connects,
initialises, lists the tools, runs every call in order and prints one JSON
object: {"server": ..., "tools": [...], "results": [{"text", "is_error",
"meta"}, ...]}. The Rust end-to-end tests assert on it.
"""

import asyncio
import json
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def run(session, plan):
    init = await session.initialize()
    tools = await session.list_tools()
    results = []
    for step in plan:
        r = await session.call_tool(step["tool"], step.get("args", {}))
        text = "".join(getattr(c, "text", "") for c in r.content)
        results.append({"text": text, "is_error": bool(getattr(r, "is_error", False) or getattr(r, "isError", False)), "meta": r.meta})
    server = getattr(init, "server_info", None) or getattr(init, "serverInfo", None)
    return {
        "server": getattr(server, "name", None),
        "tools": sorted(t.name for t in tools.tools),
        "schemas": {t.name: (getattr(t, "input_schema", None) or getattr(t, "inputSchema", None)) for t in tools.tools},
        "results": results,
    }


async def main():
    mode, plan_path = sys.argv[1], sys.argv[2]
    with open(plan_path) as f:
        plan = json.load(f)
    if mode == "stdio":
        cmd = sys.argv[sys.argv.index("--") + 1 :]
        params = StdioServerParameters(command=cmd[0], args=cmd[1:], env=dict(os.environ))
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                out = await run(session, plan)
    elif mode == "http":
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        url, token = sys.argv[3], sys.argv[4]
        client = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
        async with client:
            async with streamable_http_client(url, http_client=client) as streams:
                read, write = streams[0], streams[1]
                async with ClientSession(read, write) as session:
                    out = await run(session, plan)
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    asyncio.run(main())

"""The benchmarks' downstream: one `echo` tool on the low-level SDK `Server`, stdio or HTTP.

    python benchmarks/echo_server.py            # stdio
    python benchmarks/echo_server.py --http 8123

Why not tests/fixtures/gateway_fixture_server.py: that fixture gives the SDK no
`get_tool_input_schema`, so for every `tools/call` with arguments over 2026-07-28 HTTP the SDK
re-runs its whole `tools/list` handler to validate `Mcp-Param-*` headers (measured: ~26 % of its
CPU per call). The high-level `MCPServer` sets the lookup itself, and so does mcproute's
upstream; a direct baseline without it would be slower than a well-written server and flatter
the gateway. This server is the SDK's cheapest correct path, so "direct" is a fair floor.
"""

from __future__ import annotations

import argparse
from typing import Any

import anyio
import mcp_types as types
from mcp.server import Server
from mcp.server.context import ServerRequestContext
from mcp.server.stdio import stdio_server

SCHEMA: dict[str, Any] = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
TOOLS = [types.Tool(name="echo", description="echo the text back", input_schema=SCHEMA)]
SCHEMAS = {t.name: t.input_schema for t in TOOLS}


async def list_tools(
    ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
) -> types.ListToolsResult:
    return types.ListToolsResult(tools=TOOLS)


async def call_tool(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> types.CallToolResult:
    if params.name != "echo":
        raise ValueError(f"unknown tool {params.name}")
    text = str((params.arguments or {}).get("text", ""))
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--http", type=int, default=None, metavar="PORT")
    args = ap.parse_args()
    server = Server(
        "bench-echo", version="1.0", on_list_tools=list_tools, on_call_tool=call_tool, get_tool_input_schema=SCHEMAS.get
    )
    if args.http is not None:
        import uvicorn

        uvicorn.run(server.streamable_http_app(), host="127.0.0.1", port=args.http, log_level="warning")
        return

    async def run() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(run)


if __name__ == "__main__":
    main()

"""The thinnest MCP proxy one can write on SDK 2.3: the floor under mcproute's added latency.

    python benchmarks/min_proxy.py -- python benchmarks/echo_server.py         # stdio upstream
    python benchmarks/min_proxy.py --http 8124 -- python benchmarks/echo_server.py

One downstream (stdio), no catalogue, no namespacing, no validation, no hooks, no telemetry:
`tools/list` and `tools/call` are forwarded with the SDK session's own raw path (the private stamp
+ dispatcher `send_raw_request`, as mcproute's `Downstream._send` does) and the downstream's raw
dict is returned. The upstream is the low-level SDK `Server` (with `get_tool_input_schema`, so the
SDK does not re-list tools per HTTP call); stdio uses mcproute's event-loop pipe transport
(`mcproute.gateway._stdio_server.stdio_streams`, no thread per message) when it exists, else the
SDK's `stdio_server()`.

Not a product: `benchmarks/overhead.py --proxy min` runs it where `mcproute serve` would be, so
"added latency of the thinnest SDK proxy" is measured in the same run as mcproute's.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import anyio
import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.server import Server
from mcp.server.context import ServerRequestContext

DOWNSTREAM: dict[str, Client] = {}
SCHEMAS: dict[str, Any] = {}


async def _raw(method: str, params: dict[str, Any]) -> dict[str, Any]:
    session = DOWNSTREAM["c"].session
    data: dict[str, Any] = {"method": method, "params": params}
    opts: Any = {"timeout": 30.0}
    session._stamp(data, opts)  # noqa: SLF001
    result: dict[str, Any] = await session._dispatcher.send_raw_request(method, data["params"], opts)  # noqa: SLF001
    return result


async def list_tools(
    ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
) -> types.ListToolsResult:
    return types.ListToolsResult.model_validate({"tools": (await _raw("tools/list", {}))["tools"]})


async def call_tool(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> dict[str, Any]:
    raw = ctx.params or {}
    forward = {"name": raw.get("name"), "arguments": raw.get("arguments") or {}}
    result = await _raw("tools/call", forward)
    meta = result.get("_meta")
    if isinstance(meta, dict):  # do not leak the downstream's identity stamp
        result["_meta"] = {k: v for k, v in meta.items() if not k.startswith("io.modelcontextprotocol/")}
    result.setdefault("resultType", "complete")
    return result


async def serve(command: list[str], http_port: int | None) -> None:
    async with Client(StdioServerParameters(command=command[0], args=command[1:])) as client:
        DOWNSTREAM["c"] = client
        for tool in (await _raw("tools/list", {}))["tools"]:
            SCHEMAS[tool["name"]] = tool.get("inputSchema")
        server = Server(
            "min-proxy",
            version="1.0",
            on_list_tools=list_tools,
            on_call_tool=call_tool,  # type: ignore[arg-type]
            get_tool_input_schema=SCHEMAS.get,
        )
        if http_port is not None:
            import uvicorn

            config = uvicorn.Config(server.streamable_http_app(), host="127.0.0.1", port=http_port, log_level="warning")
            await uvicorn.Server(config).serve()
            return
        try:
            from mcproute.gateway._stdio_server import stdio_streams as streams
        except ImportError:  # pragma: no cover - older tree
            from mcp.server.stdio import stdio_server as streams
        async with streams() as (read, write):
            await server.run(read, write, server.create_initialization_options())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--http", type=int, default=None, metavar="PORT")
    ap.add_argument("command", nargs="+", help="the downstream server command (after --)")
    args = ap.parse_args()
    anyio.run(serve, args.command, args.http)


if __name__ == "__main__":
    sys.exit(main())

"""A downstream MCP server built on the SDK (stdio) that exports its spans through mcproute's
setup() to whatever OTEL_EXPORTER_OTLP_ENDPOINT names: the propagation test checks its server span
lands in the caller's trace as a child."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

from mcproute.config import TelemetryConfig
from mcproute.telemetry.setup import setup

server = MCPServer("downstream-echo")


@server.tool()
def echo(text: str) -> str:
    """Echo the text back."""
    return text


if __name__ == "__main__":
    with setup(TelemetryConfig(exporter="none")):
        server.run()

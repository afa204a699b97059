"""`mcproute import`: a desktop client's MCP server list (Claude Desktop / Cursor `mcpServers`,
VS Code `servers` / `mcp.servers`, Cline's `transportType`) as a servers.yaml `servers:` block."""

from __future__ import annotations

import json
import re
from typing import Any


def import_client_config(text: str) -> dict[str, Any]:
    """Convert a Claude Desktop / Cursor (`mcpServers`) or VS Code (`servers`, `mcp.servers`) JSON."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    block = data.get("mcpServers") or data.get("servers") or (data.get("mcp") or {}).get("servers")
    if not isinstance(block, dict):
        raise ValueError("no 'mcpServers', 'servers' or 'mcp.servers' object found")
    servers: dict[str, Any] = {}
    for name, entry in block.items():
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        out: dict[str, Any] = {}
        if entry.get("command"):
            out["command"] = entry["command"]
            if entry.get("args"):
                out["args"] = list(entry["args"])
            if entry.get("env"):
                out["env"] = dict(entry["env"])
            if entry.get("cwd"):
                out["cwd"] = entry["cwd"]
        elif entry.get("url") or entry.get("serverUrl"):
            out["url"] = entry.get("url") or entry.get("serverUrl")
            if entry.get("headers"):
                out["headers"] = dict(entry["headers"])
            if (kind := _imported_transport(name, entry)) is not None:
                out["transport"] = kind
        else:
            raise ValueError(f"server {name!r}: neither 'command' nor 'url'")
        if entry.get("disabled"):
            out["enabled"] = False
        servers[safe] = out
    return {"servers": servers}


# What clients write in `type` (Claude Code, VS Code, Cursor), `transport` or `transportType` (Cline).
_CLIENT_TRANSPORTS = {
    "sse": "sse",
    "http": "http",
    "streamable-http": "http",
    "streamablehttp": "http",
    "streamable_http": "http",
}


def _imported_transport(name: str, entry: dict[str, Any]) -> str | None:
    for key in ("type", "transport", "transportType"):
        given = entry.get(key)
        if isinstance(given, str) and given:
            kind = _CLIENT_TRANSPORTS.get(given.lower())
            if kind is None:
                raise ValueError(
                    f"server {name!r}: {key} {given!r} is not a URL transport (expected 'http', 'streamable-http' or 'sse')"
                )
            return kind
    return None  # unsaid: streamable HTTP, switching to SSE if the server turns out to be a legacy one

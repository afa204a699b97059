"""`mcproute tools --json` over real servers of both eras lists every tool each one offers.

The expected names are not written down here: each server is asked directly (same command, same
SDK client) and the gateway's catalogue must contain every one of them under `<server>__<tool>`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from .support import REPO, Peers, server_entries

SERVERS = ("time", "everything", "memory")


async def _direct_tools(entry: dict[str, Any]) -> list[str]:
    command = sys.executable if entry["command"] == "python" else entry["command"]
    params = StdioServerParameters(command=command, args=entry["args"], env={**os.environ, **entry.get("env", {})})
    async with Client(params) as client:
        return [t.name for t in (await client.list_tools()).tools]


def _catalogue_names(payload: Any) -> list[str]:
    """Tool names from `mcproute tools --json` (a list of tool objects, or an object with `tools`)."""
    tools = payload.get("tools") if isinstance(payload, dict) else payload
    assert isinstance(tools, list), f"`tools --json` printed no tool list: {str(payload)[:500]}"
    return [t["name"] if isinstance(t, dict) else str(t) for t in tools]


@pytest.mark.anyio
async def test_tools_json_lists_every_tool_of_time_everything_memory(
    peers: Peers, tmp_path: Path, write_config: Any
) -> None:
    entries = {name: server_entries(peers, tmp_path)[name] for name in SERVERS}
    config = write_config(entries)

    proc = subprocess.run(
        [sys.executable, "-m", "mcproute", "tools", "--config", str(config), "--json"],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
    )
    assert proc.returncode == 0, (
        f"mcproute tools --json exited {proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    )
    payload = json.loads(proc.stdout)
    listed = set(_catalogue_names(payload))
    health = payload.get("servers", {}) if isinstance(payload, dict) else {}
    for name in entries:
        assert health.get(name, {}).get("state") == "healthy", f"{name} is not healthy: {health.get(name)}"

    direct = {name: await _direct_tools(entry) for name, entry in entries.items()}
    for name, tools in direct.items():
        assert tools, f"{name} listed no tools when asked directly"
        missing = sorted(f"{name}__{t}" for t in tools if f"{name}__{t}" not in listed)
        assert not missing, f"`mcproute tools --json` lacks {missing}; it listed {sorted(listed)}"

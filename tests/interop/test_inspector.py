"""The MCP Inspector CLI (a real third-party client) through the gateway.

Downstreams of both eras sit behind one `mcproute serve`: mcp-server-time and mcp-server-git
(Python SDK 2.3, 2026-07-28 era) and server-everything / server-memory (TypeScript SDK, handshake
era). The Inspector itself is run in both of its eras (`--protocol-era legacy|modern`), over
streamable HTTP and over stdio (the Inspector spawning `mcproute serve`, as a desktop client would).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .support import REPO, InspectorResult, Peers, Proc, server_entries

ERAS = ["legacy", "modern"]
# A tool of each downstream era, its arguments, and a fragment its answer must contain.
CALLS = [
    pytest.param("time__get_current_time", ["timezone=UTC"], '"timezone": "UTC"', id="time(2026-07-28)"),
    pytest.param("git__git_status", [f"repo_path={REPO}"], "branch", id="git(2026-07-28)"),
    pytest.param(
        "everything__echo",
        ["message=hello through mcproute"],
        "Echo: hello through mcproute",
        id="everything(handshake)",
    ),
    pytest.param("memory__read_graph", [], '"entities"', id="memory(handshake)"),
]
SERVERS = ("time", "git", "everything", "memory")


@pytest.fixture(scope="module")
def servers(peers: Peers, interop_tmp: Path) -> dict[str, dict[str, Any]]:
    return {name: server_entries(peers, interop_tmp)[name] for name in SERVERS}


@pytest.fixture(scope="module")
def gateway(
    servers: dict[str, dict[str, Any]], write_config: Callable[..., Path], mcproute_http: Callable[..., Proc]
) -> Proc:
    return mcproute_http(write_config(servers))


def _texts(result: dict[str, Any]) -> str:
    return "\n".join(c.get("text", "") for c in result.get("content", []) if isinstance(c, dict))


def _assert_no_leaked_identity(result: dict[str, Any]) -> None:
    # A proxy that forwards `_meta` verbatim leaks the downstream's reserved keys (its serverInfo);
    # whatever identity the client sees must be the gateway's own.
    info = (result.get("_meta") or {}).get("io.modelcontextprotocol/serverInfo")
    assert info is None or info.get("name") == "mcproute", f"downstream identity leaked through _meta: {info}"


@pytest.mark.parametrize("era", ERAS)
def test_inspector_lists_tools_of_both_eras_over_http(
    era: str, gateway: Proc, inspector: Callable[..., InspectorResult]
) -> None:
    listed = inspector(gateway.url, "--transport", "http", "--protocol-era", era, "--method", "tools/list").result
    names = {t["name"] for t in listed["tools"]}
    for server in SERVERS:
        assert any(n.startswith(f"{server}__") for n in names), f"no {server} tool in {sorted(names)}"
    for tool in listed["tools"]:
        assert tool.get("inputSchema", {}).get("type") == "object", tool


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize(("tool", "args", "expect"), CALLS)
def test_inspector_calls_a_tool_of_each_era_over_http(
    era: str, tool: str, args: list[str], expect: str, gateway: Proc, inspector: Callable[..., InspectorResult]
) -> None:
    tool_args = ["--tool-arg", *args] if args else []
    res = inspector(
        gateway.url,
        "--transport",
        "http",
        "--protocol-era",
        era,
        "--method",
        "tools/call",
        "--tool-name",
        tool,
        *tool_args,
    )
    result = res.result
    assert not result.get("isError"), result
    assert expect in _texts(result), result
    _assert_no_leaked_identity(result)


def test_inspector_gets_a_clear_error_for_an_unknown_tool(
    gateway: Proc, inspector: Callable[..., InspectorResult]
) -> None:
    res = inspector(gateway.url, "--transport", "http", "--method", "tools/call", "--tool-name", "nope__missing")
    # Either an MCP error or an isError result is acceptable; it must name the tool.
    text = res.error if res.returncode != 0 else _texts(res.result)
    assert "nope__missing" in text, text


@pytest.mark.parametrize("era", ERAS)
def test_inspector_over_stdio_spawning_mcproute_serve(
    era: str,
    servers: dict[str, dict[str, Any]],
    write_config: Callable[..., Path],
    interop_tmp: Path,
    inspector: Callable[..., InspectorResult],
) -> None:
    # The shape every desktop client uses: an `mcpServers` entry whose command is `mcproute serve`.
    config = write_config({k: servers[k] for k in ("time", "everything")})
    session = interop_tmp / f"inspector-session-{era}.json"

    session.write_text(
        json.dumps(
            {
                "mcpServers": {
                    "mcproute": {
                        "command": sys.executable,
                        "args": ["-m", "mcproute", "serve", "--config", str(config)],
                    }
                }
            }
        )
    )
    common = ["--config", str(session), "--server", "mcproute", "--protocol-era", era]
    names = {t["name"] for t in inspector(*common, "--method", "tools/list").result["tools"]}
    assert {"time__get_current_time", "everything__echo"} <= names, sorted(names)
    # Each Inspector era calls the other era's downstream (each run spawns the whole gateway, so
    # one call per era keeps the module quick; the HTTP tests above cover every pairing).
    tool, arg, expect = {
        "legacy": ("time__get_current_time", "timezone=UTC", '"timezone": "UTC"'),
        "modern": ("everything__echo", "message=over stdio", "Echo: over stdio"),
    }[era]
    result = inspector(*common, "--method", "tools/call", "--tool-name", tool, "--tool-arg", arg).result
    assert expect in _texts(result), result
    _assert_no_leaked_identity(result)

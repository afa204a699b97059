"""Issue 15, item 4: legacy HTTP+SSE downstream servers (`transport: sse`, or detected), in
`mcproute import` too.

The servers are real legacy ones: `@modelcontextprotocol/server-everything sse` (Node SDK's
SSEServerTransport behind express: a POST to /sse is a 404) and the Python SDK's MCPServer
`sse_app()` (a POST to /sse is a 405), the latter behind a bearer-token check.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import mcp_types as types
import pytest
import yaml
from mcp import Client

from mcproute.config import ConfigError, parse_config
from mcproute.config_import import import_client_config
from mcproute.gateway import Gateway
from runtime_support import serve_http, write_config

REPO = Path(__file__).resolve().parents[1]
NODE = REPO / ".peers" / "node_modules" / ".bin" / "node"
EVERYTHING = REPO / ".peers" / "node_modules" / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js"
SSE_FIXTURE = Path(__file__).parent / "fixtures" / "sse_server.py"
FAST_RETRY = "reliability: {backoff_base: 0.05, backoff_max: 0.2}\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(200):
        assert proc.poll() is None, f"server exited with {proc.returncode}"
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


@contextmanager
def everything_sse() -> Iterator[int]:
    assert NODE.exists() and EVERYTHING.exists(), "run scripts/install-peers.sh (the .peers/ Node servers)"
    port = _free_port()
    proc = subprocess.Popen(
        [str(NODE), str(EVERYTHING), "sse"],
        env={**os.environ, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening(port, proc)
        yield port
    finally:
        proc.kill()
        proc.wait(10)


@contextmanager
def python_sse(*args: str) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, str(SSE_FIXTURE), str(port), *args], stderr=subprocess.DEVNULL)
    try:
        _wait_listening(port, proc)
        yield port, proc
    finally:
        proc.kill()
        proc.wait(10)


def _text(result: types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


@pytest.mark.anyio
async def test_a_client_lists_and_calls_server_everything_over_sse_through_mcproute(tmp_path: Path) -> None:
    with everything_sse() as port:
        servers = {"everything": {"url": f"http://127.0.0.1:{port}/sse", "transport": "sse"}}
        config = write_config(tmp_path / "servers.yaml", tmp_path / "data", servers=servers)
        async with serve_http(config) as (_, url), Client(url) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert {"everything__echo", "everything__get-sum"} <= names
            assert _text(await client.call_tool("everything__echo", {"message": "over sse"})) == "Echo: over sse"
            total = _text(await client.call_tool("everything__get-sum", {"a": 20, "b": 22}))
            assert "42" in total


@pytest.mark.anyio
async def test_a_url_server_that_turns_out_to_be_legacy_sse_is_detected() -> None:
    # Node (POST /sse → 404) and Python (POST /sse → 405): both spellings of "not streamable HTTP".
    with everything_sse() as node_port, python_sse() as (py_port, _):
        cfg = parse_config(
            FAST_RETRY + f"servers:\n  node: {{url: 'http://127.0.0.1:{node_port}/sse'}}\n"
            f"  py: {{url: 'http://127.0.0.1:{py_port}/sse'}}\n"
        )
        async with Gateway(cfg) as gw:
            for name in ("node", "py"):
                health = gw.health()[name]
                assert (health.state, health.transport) == ("healthy", "sse"), health.reason
            assert (await gw.call_tool("node__echo", {"message": "hi"}))["content"][0]["text"] == "Echo: hi"
            assert (await gw.call_tool("py__add", {"a": 2, "b": 3}))["content"][0]["text"] == "5"


@pytest.mark.anyio
async def test_a_url_that_is_neither_transport_stays_unhealthy_with_the_http_reason() -> None:
    with everything_sse() as port:
        cfg = parse_config(FAST_RETRY + f"servers:\n  nope: {{url: 'http://127.0.0.1:{port}/not-mcp'}}\n")
        async with Gateway(cfg) as gw:
            health = gw.health()["nope"]
            assert health.state == "unhealthy"
            assert health.reason == "Not Found"  # the probe's GET is a 404 too: no switch
            assert health.transport == "http"


@pytest.mark.anyio
async def test_headers_reach_an_sse_server_on_the_stream_and_on_every_message() -> None:
    with python_sse("--token", "s3cret-token") as (port, _):
        text = (
            FAST_RETRY
            + f"""servers:
  keyed: {{url: "http://127.0.0.1:{port}/sse", transport: sse, headers: {{Authorization: "Bearer ${{SSE_TOKEN}}"}}}}
  keyless: {{url: "http://127.0.0.1:{port}/sse", transport: sse}}
"""
        )
        async with Gateway(parse_config(text, environ={"SSE_TOKEN": "s3cret-token"})) as gw:
            assert gw.health()["keyed"].state == "healthy", gw.health()["keyed"].reason
            who = await gw.call_tool("keyed__whoami", {})
            assert who["content"][0]["text"] == "Bearer s3cret-token"  # seen on the message POST
            keyless = gw.health()["keyless"]
            assert keyless.state == "unhealthy" and "401" in keyless.reason
            # The secret from the environment is scrubbed wherever it could be shown.
            assert "s3cret-token" not in json.dumps(gw.health()["keyless"].to_dict())


@pytest.mark.anyio
async def test_a_dead_event_stream_marks_the_server_unhealthy_at_once_and_it_comes_back() -> None:
    with python_sse() as (port, proc):
        cfg = parse_config(FAST_RETRY + f"servers:\n  py: {{url: 'http://127.0.0.1:{port}/sse', transport: sse}}\n")
        async with Gateway(cfg) as gw:
            assert gw.health()["py"].state == "healthy"
            proc.kill()
            proc.wait(10)
            # No call needed: the stream's end is the session's end.
            with anyio.fail_after(10):
                while gw.health()["py"].state == "healthy":
                    await anyio.sleep(0.02)
            again = subprocess.Popen([sys.executable, str(SSE_FIXTURE), str(port)], stderr=subprocess.DEVNULL)
            try:
                with anyio.fail_after(20):
                    while gw.health()["py"].state != "healthy":
                        await anyio.sleep(0.05)
                assert (await gw.call_tool("py__add", {"a": 1, "b": 1}))["content"][0]["text"] == "2"
            finally:
                again.kill()
                again.wait(10)


def test_transport_must_fit_command_or_url() -> None:
    with pytest.raises(ConfigError, match=r"servers\.a.*transport 'sse' needs 'url' or 'urls'"):
        parse_config("servers:\n  a: {command: x, transport: sse}\n", environ={})
    with pytest.raises(ConfigError, match=r"servers\.b.*transport 'stdio' needs 'command'"):
        parse_config("servers:\n  b: {url: 'http://h/sse', transport: stdio}\n", environ={})
    with pytest.raises(ConfigError, match=r"servers\.c\.transport"):
        parse_config("servers:\n  c: {url: 'http://h/sse', transport: websocket}\n", environ={})
    assert (
        parse_config("servers:\n  d: {url: 'http://h/sse', transport: sse}\n", environ={}).config.servers["d"].kind
        == "sse"
    )


@pytest.mark.parametrize("key", ["type", "transport", "transportType"])
def test_import_keeps_a_client_configs_sse_type(key: str) -> None:
    client = {
        "mcpServers": {
            "legacy": {key: "sse", "url": "http://h:3001/sse", "headers": {"Authorization": "Bearer x"}},
            "modern": {key: "streamable-http", "url": "http://h/mcp"},
            "plain": {"url": "http://h/mcp"},
        }
    }
    servers = import_client_config(json.dumps(client))["servers"]
    assert servers["legacy"] == {
        "url": "http://h:3001/sse",
        "headers": {"Authorization": "Bearer x"},
        "transport": "sse",
    }
    assert servers["modern"]["transport"] == "http"
    assert "transport" not in servers["plain"]  # unsaid: streamable HTTP with SSE detection
    loaded = parse_config(yaml.safe_dump({"servers": servers}), environ={})
    assert loaded.config.servers["legacy"].kind == "sse"


def test_import_refuses_a_transport_it_does_not_know() -> None:
    with pytest.raises(ValueError, match="server 'w': type 'websocket' is not a URL transport"):
        import_client_config(json.dumps({"mcpServers": {"w": {"type": "websocket", "url": "ws://h"}}}))


@pytest.mark.anyio
async def test_mcproute_import_of_a_cursor_sse_entry_serves_that_server(tmp_path: Path) -> None:
    """The path a user takes: `mcproute import` a client config naming an SSE server, then serve it."""
    with everything_sse() as port:
        client_json = tmp_path / "mcp.json"
        client_json.write_text(
            json.dumps({"mcpServers": {"everything": {"type": "sse", "url": f"http://127.0.0.1:{port}/sse"}}})
        )
        out = tmp_path / "servers.yaml"
        done = subprocess.run(
            [sys.executable, "-m", "mcproute", "import", str(client_json), "-o", str(out)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert yaml.safe_load(out.read_text())["servers"]["everything"]["transport"] == "sse"
        async with Gateway(parse_config(FAST_RETRY + out.read_text())) as gw:
            health = gw.health()["everything"]
            assert (health.state, health.transport) == ("healthy", "sse"), health.reason
            assert (await gw.call_tool("everything__echo", {"message": "imported"}))["content"][0][
                "text"
            ] == "Echo: imported"
